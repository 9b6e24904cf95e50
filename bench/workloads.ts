// The benchmark's workloads on the local stack: a bulk drain, open-loop transitions at fixed rates, and
// claim latency with a large backlog of future runs.
import postgres from "postgres";
import { dbUrl, simulatorUrl } from "../stack/config.ts";
import { cloneDatabase, prepareTemplate } from "../stack/cli.ts";
import { dropDatabase } from "../stack/postgres.ts";
import type { Sql } from "../tests/helpers/db.ts";
import { connectResend, createJourney, createSupplier, createTemplate } from "../tests/helpers/fixtures.ts";
import { cpuSeconds, latencySummary } from "./measure.ts";

/** The benchmark's supplier on the stack's database: one email step, couples, a Resend key. */
export type BenchScenario = {
  sql: Sql;
  supplierId: string;
  journeyId: string;
  clientIds: string[];
  apiKey: string;
};

/** The template every benchmark email renders (the peer sends the same text). */
export const BENCH_TEMPLATE = {
  subject: "Your booking with {{supplier_name}}",
  html: "<p>Dear {{couple_name}}, thank you for booking us for {{wedding_date}} at {{venue}}.</p>",
};

/** Creates the benchmark supplier with `couples` couples, and lifts the simulator's rate limit for its key. */
export async function setUpScenario(sql: Sql, couples: number): Promise<BenchScenario> {
  const apiKey = `re_bench_${crypto.randomUUID().replaceAll("-", "")}`;
  const supplierId = await createSupplier(sql, {
    name: "Benchmark Studio",
    email_from: "Bench <b@bench.example>",
  });
  await createTemplate(sql, supplierId, "bench", BENCH_TEMPLATE);
  // No provider rate limit for the benchmark supplier (the Resend default is 2 requests/s per team).
  await connectResend(sql, supplierId, { api_key: apiKey, webhook_secret: "whsec_YmVuY2htYXJr" }, {
    rate_limit_per_s: null,
  });
  const { journeyId } = await createJourney(sql, supplierId, [{ config: { template: "bench" } }]);
  const rows = await sql<{ id: string }[]>`
    insert into public.clients (supplier_id, couple_name, email, wedding_date, venue)
    select ${supplierId}::uuid, format('Couple %s', g), format('couple-%s@bench.example', g),
      date '2027-06-12' + (g % 300), 'The Old Barn'
    from generate_series(1, ${couples}) g
    returning id`;
  await simulator("/_sim/config", { provider: "resend", api_key: apiKey, rate_limit_per_s: null });
  return { sql, supplierId, journeyId, clientIds: rows.map((r) => r.id), apiKey };
}

/** Deletes the benchmark supplier (its runs, deliveries and audit rows go with it) and its Vault secret. */
export async function tearDownScenario(s: BenchScenario): Promise<void> {
  await s.sql`delete from vault.secrets where id in (
    select secret_id from public.supplier_integrations where supplier_id = ${s.supplierId}::uuid)`;
  await s.sql`delete from public.suppliers where id = ${s.supplierId}::uuid`;
  await s
    .sql`vacuum analyze public.module_runs, public.journey_instances, public.deliveries, public.integration_calls`;
}

/** Calls the simulator's control API. */
export async function simulator<T>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${simulatorUrl}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`simulator ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** When the simulator received the first request of each run of ours (run id → ms since the epoch), or
 * of each job tagged `tag` (the peer's). */
export async function receivedAt(sinceMs: number, tag = "run"): Promise<Map<number, number>> {
  const emails = await simulator<
    { tags: { name: string; value: string }[] | null; received_at_ms: number }[]
  >(
    `/_sim/resend/emails?since_ms=${sinceMs}`,
  );
  const first = new Map<number, number>();
  for (const e of emails) {
    const run = e.tags?.find((t) => t.name === tag)?.value;
    if (run === undefined) continue;
    const id = Number(run);
    first.set(id, Math.min(first.get(id) ?? Infinity, e.received_at_ms));
  }
  return first;
}

/** Run states of the benchmark supplier's runs with id above `afterId`. */
type RunTally = { open: number; succeeded: number; other: number; last_completed_ms: number | null };

async function tally(s: BenchScenario, afterId: number): Promise<RunTally> {
  const [row] = await s.sql<RunTally[]>`
    select count(*) filter (where status in ('pending', 'running'))::int as open,
      count(*) filter (where status = 'succeeded')::int as succeeded,
      count(*) filter (where status not in ('pending', 'running', 'succeeded'))::int as other,
      (extract(epoch from max(completed_at)) * 1000)::float8 as last_completed_ms
    from public.module_runs where supplier_id = ${s.supplierId}::uuid and id > ${afterId}`;
  return row;
}

/** The highest run id so far: a workload's runs are those above it. */
export async function lastRunId(sql: Sql): Promise<number> {
  const [row] = await sql<
    { id: number }[]
  >`select coalesce(max(id), 0)::float8 as id from public.module_runs`;
  return row.id;
}

/**
 * Waits until none of the workload's runs is pending or running, or `timeoutMs` passed; returns the tally.
 * Polls with a query the partial indexes of open runs answer, so that watching costs the database little.
 */
export async function settle(s: BenchScenario, afterId: number, timeoutMs: number): Promise<RunTally> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await s.sql<{ open: number }[]>`
      select (
        (select count(*) from public.module_runs
          where module_type = 'email' and status = 'pending' and supplier_id = ${s.supplierId}::uuid and id > ${afterId})
        + (select count(*) from public.module_runs
          where status = 'running' and lease_expires_at is not null
            and supplier_id = ${s.supplierId}::uuid and id > ${afterId})
      )::int as open`;
    if (row.open === 0 || Date.now() > deadline) return await tally(s, afterId);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** What the bulk drain measured. */
export type DrainResult = {
  runs: number;
  /** The bulk transition's own statement, planning every run (before the commit: not in runs_per_s). */
  transition_seconds: number;
  succeeded: number;
  seconds: number;
  runs_per_s: number;
  open: number;
};

/** Workload 1: `n` transitions in one statement (one set-based planning insert), then drained. */
export async function drainWorkload(s: BenchScenario, n: number, timeoutMs: number): Promise<DrainResult> {
  const after = await lastRunId(s.sql);
  const started = Date.now();
  await s.sql`
    insert into public.journey_instances (journey_id, supplier_id, client_id)
    select ${s.journeyId}::uuid, ${s.supplierId}::uuid, (${s.clientIds}::uuid[])[1 + g % ${s.clientIds.length}]
    from generate_series(0, ${n - 1}) g`;
  const committed = Date.now();
  const t = await settle(s, after, timeoutMs);
  const seconds = ((t.last_completed_ms ?? Date.now()) - committed) / 1000;
  return {
    runs: n,
    transition_seconds: Math.round((committed - started) / 10) / 100,
    succeeded: t.succeeded,
    seconds: Math.round(seconds * 100) / 100,
    runs_per_s: Math.round(t.succeeded / seconds),
    open: t.open,
  };
}

/** What the fairness workload measured: the small supplier's open loop alone and during the burst. */
export type FairnessResult = {
  burst_runs: number;
  burst_seconds: number;
  rate: number;
  alone: OpenLoopResult;
  during_burst: OpenLoopResult;
};

/**
 * Workload 4 (fairness between vendors): supplier `small` makes `rate` transitions/s for `seconds` alone,
 * then again while supplier `big` makes `burst` runs due in one statement (a vendor importing couples, or a
 * 09:00 anchor shared by thousands of couples) and they drain; each of the two levels after its own
 * warm-up, the burst's statement at the start of the second level's window.
 */
export async function fairnessWorkload(
  big: BenchScenario,
  small: BenchScenario,
  burst: number,
  rate: number,
  seconds: number,
  timeoutMs: number,
  warmupSeconds = 0,
): Promise<FairnessResult> {
  const alone = await openLoopWorkload(small, rate, seconds, timeoutMs, { seconds: warmupSeconds });
  const after = await lastRunId(big.sql);
  // The burst starts with B's window, after B's warm-up: both of B's windows are warm, and only the
  // burst tells them apart.
  let committed = 0;
  const during = await openLoopWorkload(small, rate, seconds, timeoutMs, {
    seconds: warmupSeconds,
    onWindow: async () => {
      await big.sql`
        insert into public.journey_instances (journey_id, supplier_id, client_id)
        select ${big.journeyId}::uuid, ${big.supplierId}::uuid, (${big.clientIds}::uuid[])[1 + g % ${big.clientIds.length}]
        from generate_series(0, ${burst - 1}) g`;
      committed = Date.now();
    },
  });
  const t = await settle(big, after, timeoutMs);
  return {
    burst_runs: burst,
    burst_seconds: Math.round(((t.last_completed_ms ?? Date.now()) - committed) / 10) / 100,
    rate,
    alone,
    during_burst: during,
  };
}

/** What one open-loop level measured. */
export type OpenLoopResult = {
  rate: number;
  seconds: number;
  transitions: number;
  achieved_per_s: number;
  received: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  /** From the time the transition was due to be issued (free of coordinated omission: a system that cannot
   * commit at the rate shows its queue here, while the latency from commit hides it). */
  p50_ms_scheduled: number;
  p99_ms_scheduled: number;
  /** Transitions of the warm-up before the window, and the p99s of the window with them (a cold start's). */
  warmup_transitions: number;
  p99_ms_with_warmup: number;
  p99_ms_scheduled_with_warmup: number;
  open: number;
};

/**
 * Workload 2: one transition per transaction at `rate` per second for `seconds`, from a pool of
 * connections, whatever the pipeline does (open loop). Latency is from the transition's commit (the
 * clock at the end of its statement) to the simulator receiving the run's request.
 */
export async function openLoopWorkload(
  s: BenchScenario,
  rate: number,
  seconds: number,
  timeoutMs: number,
  warmup?: Warmup,
  connections?: number,
): Promise<OpenLoopResult> {
  const after = await lastRunId(s.sql);
  const since = Date.now();
  const transitions = await openLoopDriver(
    rate,
    seconds,
    async (driver, i) => {
      const [row] = await driver<{ id: string; at_ms: number }[]>`
      insert into public.journey_instances (journey_id, supplier_id, client_id)
      values (${s.journeyId}::uuid, ${s.supplierId}::uuid, ${s.clientIds[i % s.clientIds.length]}::uuid)
      returning id, (extract(epoch from clock_timestamp()) * 1000)::float8 as at_ms`;
      return [row.id, row.at_ms];
    },
    warmup,
    connections,
  );
  const t = await settle(s, after, timeoutMs);
  const runs = await s.sql<{ id: number; instance_id: string }[]>`
    select id::float8 as id, journey_instance_id as instance_id from public.module_runs
    where supplier_id = ${s.supplierId}::uuid and id > ${after}`;
  const received = await receivedAt(since);
  const receivedByKey = new Map<string, number>();
  for (const run of runs) {
    const at = received.get(run.id);
    if (at !== undefined) receivedByKey.set(run.instance_id, at);
  }
  return openLoopSummary(rate, seconds, transitions, receivedByKey, t.open);
}

/**
 * The driver's floor: the open loop's rate and pool, each transaction a bare insert of a uuid-keyed row (three
 * uuid columns, no trigger, no foreign key) into a table of its own. Postgres CPU per transaction here is what
 * any transition pays for this driver (connection wake-ups, parse, commit and its WAL flush) before a trigger.
 */
export async function floorWorkload(
  sql: Sql,
  rate: number,
  seconds: number,
  warmup?: Warmup,
): Promise<{ transactions: number }> {
  await sql`create table if not exists public.bench_floor (
    id uuid primary key default gen_random_uuid(), a uuid not null, b uuid not null, c uuid not null,
    created_at timestamptz not null default now())`;
  try {
    const done = await openLoopDriver(rate, seconds, async (driver, i) => {
      const [row] = await driver<{ at_ms: number }[]>`
        insert into public.bench_floor (a, b, c) values (gen_random_uuid(), gen_random_uuid(), gen_random_uuid())
        returning (extract(epoch from clock_timestamp()) * 1000)::float8 as at_ms`;
      return [String(i), row.at_ms];
    }, warmup);
    return { transactions: [...done.values()].filter((t) => !t.warmup).length };
  } finally {
    await sql`drop table public.bench_floor`;
  }
}

/** One transition of the open loop: when it was due to be issued and when it committed (ms since the epoch). */
export type DrivenTransition = { scheduled_ms: number; committed_ms: number; warmup: boolean };

/**
 * The open loop's warm-up: transitions issued at the level's rate before its measured window, so the window
 * starts in steady state (the driver's new connections, their backends' caches and the function's instance
 * are warm) and the window's figures are what a running system pays per transition. `onWindow` is called
 * when the window starts (the benchmark starts its CPU reading there).
 */
export type Warmup = { seconds: number; onWindow?: () => Promise<void> };

/**
 * The open loop's pool: what the levels' figures and targets are measured with. Four backends a core, as a
 * transaction pooler would keep (Supabase's sits in front of the database): spread over 32 backends, the
 * same journey start costs about twice the CPU on this 2-core machine (docs/benchmark.md), and the
 * benchmark also runs its 500/s level from 32 (`open_loop_wide`).
 */
export const DRIVER_CONNECTIONS = 8;

/**
 * Issues `rate × (warm-up + seconds)` transitions at `rate` per second from a pool of `connections`
 * (`DRIVER_CONNECTIONS` unless told), whatever the system under test does (open loop); `transition` returns its key and its
 * commit clock (ms).
 */
export async function openLoopDriver(
  rate: number,
  seconds: number,
  transition: (driver: Sql, i: number) => Promise<[string, number]>,
  warmup: Warmup = { seconds: 0 },
  connections = DRIVER_CONNECTIONS,
): Promise<Map<string, DrivenTransition>> {
  const driver = postgres(dbUrl(), { max: connections, onnotice: () => {} });
  const transitions = new Map<string, DrivenTransition>();
  const warm = Math.round(rate * warmup.seconds);
  const total = warm + Math.round(rate * seconds);
  let epoch = 0;
  const one = async (i: number) => {
    const [key, at] = await transition(driver as unknown as Sql, i);
    transitions.set(key, { scheduled_ms: epoch + (i * 1000) / rate, committed_ms: at, warmup: i < warm });
  };
  let window: Promise<void> | undefined;
  try {
    await driver`select 1`;
    epoch = Date.now(); // whole milliseconds, never after `started`: a transition is never issued before its time
    const started = performance.now();
    const inflight: Promise<void>[] = [];
    let issued = 0;
    while (issued < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
      while (issued < due) {
        if (issued === warm) window ??= warmup.onWindow?.() ?? Promise.resolve();
        inflight.push(one(issued++));
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(inflight);
    await window;
  } finally {
    await driver.end({ timeout: 5 });
  }
  return transitions;
}

/**
 * One open-loop level's figures from its transitions and when the provider received each one's request
 * (by transition key): latency from the commit, and from the time the transition was due to be issued, of
 * the measured window's transitions; and, for comparison, of all of them with the warm-up's.
 */
export function openLoopSummary(
  rate: number,
  seconds: number,
  transitions: Map<string, DrivenTransition>,
  receivedByKey: Map<string, number>,
  open: number,
): OpenLoopResult {
  const measured = [...transitions].filter(([, t]) => !t.warmup);
  const commits = measured.map(([, t]) => t.committed_ms);
  const span = (Math.max(...commits) - Math.min(...commits)) / 1000;
  const latencies = (of: [string, DrivenTransition][]) => {
    const fromCommit: number[] = [];
    const fromSchedule: number[] = [];
    for (const [key, t] of of) {
      const at = receivedByKey.get(key);
      if (at === undefined) continue;
      fromCommit.push(at - t.committed_ms);
      fromSchedule.push(at - t.scheduled_ms);
    }
    return { fromCommit, commit: latencySummary(fromCommit), schedule: latencySummary(fromSchedule) };
  };
  const window = latencies(measured);
  const all = latencies([...transitions]);
  const l = window.commit;
  const q = window.schedule;
  return {
    rate,
    seconds,
    transitions: measured.length,
    achieved_per_s: Math.round(span > 0 ? (measured.length - 1) / span : measured.length),
    received: window.fromCommit.length,
    p50_ms: l.p50,
    p95_ms: l.p95,
    p99_ms: l.p99,
    p50_ms_scheduled: q.p50,
    p99_ms_scheduled: q.p99,
    warmup_transitions: transitions.size - measured.length,
    p99_ms_with_warmup: all.commit.p99,
    p99_ms_scheduled_with_warmup: all.schedule.p99,
    open,
  };
}

/**
 * Runs `work` on a database of its own cloned from the migrated template (fresh tables and statistics), with
 * a pool of `connections`, and drops the database afterwards.
 */
async function inClonedDatabase<T>(
  prefix: string,
  connections: number,
  work: (sql: Sql) => Promise<T>,
): Promise<T> {
  const name = `${prefix}_${Date.now()}`;
  const template = await prepareTemplate();
  const url = await cloneDatabase(name, new URL(template).pathname.slice(1));
  const sql = postgres(url, { max: connections, onnotice: () => {} });
  try {
    return await work(sql as unknown as Sql);
  } finally {
    await sql.end({ timeout: 5 });
    await dropDatabase(name);
  }
}

/** Claim latency with one backlog size. */
export type BacklogResult = {
  backlog: number;
  claims: number;
  p50_ms: number;
  p99_ms: number;
  server_p50_ms: number;
  server_p99_ms: number;
};

/**
 * Workload 3: claim latency with `sizes` pending runs scheduled in the future, in a database of its own
 * cloned from the migrated template (dropped afterwards). Each round makes `batch` runs due and claims
 * them; the claim must read only those, however many future runs wait. Returns one result per size and
 * the plan of a claim at the largest size.
 */
export async function backlogWorkload(
  sizes: number[],
  claims: number,
  batch: number,
  log: (line: string) => void,
): Promise<{ results: BacklogResult[]; plan: string }> {
  return await inClonedDatabase("bench_backlog", 1, async (sql) => {
    const supplierId = await createSupplier(sql);
    const { journeyId, stepIds } = await createJourney(sql, supplierId, [{ timing: { offset_days: 400 } }]);
    const [client] = await sql<{ id: string }[]>`
      insert into public.clients (supplier_id, couple_name) values (${supplierId}::uuid, 'Backlog') returning id`;
    const [instance] = await sql<{ id: string }[]>`
      insert into public.journey_instances (journey_id, supplier_id, client_id)
      values (${journeyId}::uuid, ${supplierId}::uuid, ${client.id}::uuid) returning id`;
    const addRuns = (from: number, to: number, due: boolean) =>
      sql`
        insert into public.module_runs (supplier_id, journey_instance_id, step_id, module_type, run_at, idempotency_key)
        select ${supplierId}::uuid, ${instance.id}::uuid, ${stepIds[0]}::uuid, 'email',
          case when ${due} then now() - interval '1 second' else now() + interval '1 day' + g * interval '1 second' end,
          format('backlog:%s:%s', ${due ? "due" : "future"}::text, g)
        from generate_series(${from}::int, ${to}::int) g`;
    const results: BacklogResult[] = [];
    let have = 0;
    let round = 0;
    let plan = "";
    for (const size of sizes) {
      log(`backlog: ${size.toLocaleString("en")} future runs`);
      await addRuns(have + 1, size, false);
      have = size;
      await sql`vacuum analyze public.module_runs`;
      const client: number[] = [];
      const server: number[] = [];
      for (let i = 0; i < claims; i++) {
        round++;
        await addRuns(round * batch, round * batch + batch - 1, true);
        const started = performance.now();
        const [claimed] = await sql<{ n: number }[]>`
          select count(*)::int as n from public.claim_runs('email', ${batch}, 60)`;
        client.push(performance.now() - started);
        if (claimed.n !== batch) throw new Error(`claim returned ${claimed.n} runs, expected ${batch}`);
        await sql`update public.module_runs set status = 'succeeded', completed_at = now() where status = 'running'`;
        // The same claim once more under EXPLAIN ANALYZE: the server's own time, free of client noise.
        await addRuns(round * batch + 1_000_000_000, round * batch + 1_000_000_000 + batch - 1, true);
        const [explained] = await sql<{ "QUERY PLAN": [{ "Execution Time": number }] }[]>`
          explain (analyze, format json) select * from public.claim_runs('email', ${batch}, 60)`;
        server.push(explained["QUERY PLAN"][0]["Execution Time"]);
        await sql`update public.module_runs set status = 'succeeded', completed_at = now() where status = 'running'`;
      }
      const c = latencySummary(client);
      const sv = latencySummary(server);
      results.push({
        backlog: size,
        claims,
        p50_ms: c.p50,
        p99_ms: c.p99,
        server_p50_ms: sv.p50,
        server_p99_ms: sv.p99,
      });
    }
    await addRuns(2_000_000_000, 2_000_000_000 + batch - 1, true);
    // The claim's two lanes (claim_runs): due runs in fair order, then the rest of the due runs by run_at.
    const fairLane = await sql<{ "QUERY PLAN": string }[]>`
      explain (analyze, buffers, costs off, timing off)
      select id from public.module_runs
      where module_type = 'email' and status = 'pending' and fair_at <= now()
      order by fair_at limit ${batch} for update skip locked`;
    const spareLane = await sql<{ "QUERY PLAN": string }[]>`
      explain (analyze, buffers, costs off, timing off)
      select id from public.module_runs
      where module_type = 'email' and status = 'pending' and run_at <= now() and fair_at > now()
      order by run_at limit ${batch} for update skip locked`;
    plan = [...fairLane, ...spareLane].map((r) => r["QUERY PLAN"]).join("\n");
    return { results, plan };
  });
}

/** What the transition alone cost. */
export type TransitionCostResult = {
  connections: number;
  transitions: number;
  per_s: number;
  pg_cpu_us_per_transition: number;
};

/**
 * Workload 5: the transition alone, what issue 16's "cost of a step transition" is about without the
 * open loop's noise (its run, claim and outcome, the function, the simulator). In a database of its own
 * cloned from the migrated template (fresh tables and statistics, dropped afterwards), `connections`
 * connections each commit `each` journey starts, one per transaction, as fast as they can, on a journey
 * whose one step is 400 days ahead (so the whole trigger chain runs, the run is planned, and nothing is
 * sent). The CPU is that of the connections' own backends (from /proc), so the cluster's background
 * work (the clone's checkpoint, the stack database's cron jobs) is not in it; figures are per transition
 * over the measured part, after a warm-up that makes every connection plan its statements once.
 */
export async function transitionCostWorkload(
  connections: number,
  each: number,
): Promise<TransitionCostResult> {
  return await inClonedDatabase("bench_transition", connections, async (sql) => {
    const supplierId = await createSupplier(sql);
    const { journeyId } = await createJourney(sql, supplierId, [{ timing: { offset_days: 400 } }]);
    const clients = await sql<{ id: string }[]>`
      insert into public.clients (supplier_id, couple_name, email, wedding_date)
      select ${supplierId}::uuid, format('Couple %s', g), format('couple-%s@bench.example', g),
        date '2028-06-12' + (g % 300)
      from generate_series(1, 1000) g
      returning id`;
    const start = (i: number) =>
      sql`
        insert into public.journey_instances (journey_id, supplier_id, client_id)
        values (${journeyId}::uuid, ${supplierId}::uuid, ${clients[i % clients.length].id}::uuid)`;
    const loops = async (n: number, offset: number) => {
      await Promise.all(Array.from({ length: connections }, async (_, c) => {
        for (let k = 0; k < n; k++) await start(offset + c * n + k);
      }));
    };
    await loops(Math.max(10, Math.round(each / 10)), 0);
    await sql`analyze public.journey_instances, public.module_runs`;
    const backends = (await sql<{ pid: number }[]>`
      select pid from pg_stat_activity where datname = current_database()`).map((r) => r.pid);
    const cpu = async () =>
      (await Promise.all(backends.map((pid) => cpuSeconds(pid)))).reduce((a, b) => a + b, 0);
    const [cpu0, t0] = [await cpu(), performance.now()];
    await loops(each, connections * each);
    const [cpu1, t1] = [await cpu(), performance.now()];
    const transitions = connections * each;
    // The chain ran: every journey start planned its (future) run.
    const [planned] = await sql<{ runs: number; starts: number }[]>`
      select (select count(*) from public.module_runs where status = 'pending')::int as runs,
        (select count(*) from public.journey_instances)::int as starts`;
    if (planned.runs !== planned.starts) {
      throw new Error(`${planned.starts} journey starts planned ${planned.runs} runs`);
    }
    return {
      connections,
      transitions,
      per_s: Math.round((1000 * transitions) / (t1 - t0)),
      pg_cpu_us_per_transition: Math.round((1e6 * (cpu1 - cpu0)) / transitions),
    };
  });
}

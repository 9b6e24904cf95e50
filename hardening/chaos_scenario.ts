// The chaos scenario on the local stack: journeys through Resend, SendGrid, Mailgun and Twilio started by
// real step transitions while the simulator injects faults, function processes are killed with SIGKILL
// and Postgres is restarted; then the checks that every run is terminal, sent once, and none is lost.
import postgres from "postgres";
import { dbUrl, gatewayUrl, simulatorUrl } from "../stack/config.ts";
import { startPostgres, stopPostgres } from "../stack/postgres.ts";
import { simulator } from "../bench/workloads.ts";
import type { Sql } from "../tests/helpers/db.ts";
import { connectProvider, createJourney, createSupplier, createTemplate } from "../tests/helpers/fixtures.ts";
import { connectTwilio, quietHoursAway } from "../tests/helpers/sms_fixtures.ts";
import { newSvixSecret } from "../tests/helpers/stack.ts";

/** The providers a chaos run sends through, one supplier each. */
export const CHAOS_PROVIDERS = ["resend", "sendgrid", "mailgun", "twilio"] as const;
type ChaosProvider = typeof CHAOS_PROVIDERS[number];

/** The fault mix, as shares of all provider send requests (issue 9). */
export const FAULT_MIX = { status_5xx: 0.20, status_429: 0.05, timeout: 0.05, reset: 0.02 } as const;

/** What a chaos run does. */
export type ChaosOptions = {
  /** Journey instances started (two steps each, so up to twice as many runs). */
  instances: number;
  /** When to disrupt, as fractions of the transitions issued: kill -9 a module function, restart Postgres. */
  kills: { at: number; fn: "module-email" | "module-sms" }[];
  pgRestartAt: number | null;
  /** How long an unknown outcome waits for evidence in this run (journeys.unknown_deadline). */
  unknownDeadlineS: number;
  /** Give up waiting for the runs to settle after this long. */
  settleTimeoutMs: number;
  /** Retry backoff base in seconds for this run (setting journeys.retry_base_s; production: 5 s). */
  retryBaseS: number;
  log?: (line: string) => void;
};

/** The figures of one chaos run. */
export type ChaosFigures = {
  instances: number;
  runs: number;
  by_provider: Record<string, number>;
  faults_injected: Record<FaultKind, number>;
  provider_requests: number;
  retries: number;
  succeeded: number;
  skipped: number;
  dead: number;
  dead_by_reason: Record<string, number>;
  not_terminal: number;
  unknown_reconciled: number;
  duplicates: number;
  extra_sends: number;
  /** Runs that succeeded without the simulator holding an accepted send for them. */
  succeeded_unsent: number;
  lost_transitions: number;
  lost: number;
  kills: number;
  function_restarts: number;
  pg_restarts: number;
  cron_sweeps_after_restart: number | null;
  wall_s: number;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The fault kinds of the figures, in the order of FAULT_MIX. */
export type FaultKind = keyof typeof FAULT_MIX;

/**
 * Registers the fault mix for one provider's send requests. The first four send requests get one fault of
 * each kind (count rules, matched first), so every kind is injected even in a short run; then each rule's
 * rate is conditional on the ones before.
 */
async function injectFaults(provider: ChaosProvider): Promise<void> {
  let left = 1;
  const rules = [
    { share: FAULT_MIX.status_5xx, rule: { kind: "status", status: 503 } },
    { share: FAULT_MIX.status_429, rule: { kind: "status", status: 429, retry_after_s: 1 } },
    // Longer than the functions' provider timeout (10 s): the answer never comes in time.
    { share: FAULT_MIX.timeout, rule: { kind: "timeout", delay_ms: 11_000 } },
    { share: FAULT_MIX.reset, rule: { kind: "reset" } },
  ];
  for (const { rule } of rules) {
    await simulator("/_sim/faults", { provider, method: "POST", count: 1, ...rule });
  }
  for (const { share, rule } of rules) {
    await simulator("/_sim/faults", { provider, method: "POST", rate: share / left, ...rule });
    left -= share;
  }
}

/**
 * Faults the simulator injected into the scenario's providers since `sinceMs`, by kind, counted from its
 * request records: fault rules vanish when consumed (count mode) or cleared, the records do not.
 */
async function injectedFaults(sinceMs: number): Promise<Record<FaultKind, number>> {
  const injected: Record<FaultKind, number> = { status_5xx: 0, status_429: 0, timeout: 0, reset: 0 };
  for (const provider of CHAOS_PROVIDERS) {
    const records = await simulator<{ received_at_ms: number; status: number | null; fault?: string }[]>(
      `/_sim/requests?provider=${provider}`,
    );
    for (const r of records) {
      if (!r.fault || r.received_at_ms < sinceMs) continue;
      const kind = r.fault === "status" ? (r.status === 429 ? "status_429" : "status_5xx") : r.fault;
      injected[kind as FaultKind]++;
    }
  }
  return injected;
}

/**
 * Sets the retry backoff base for the whole database (new sessions read it; `null` resets it), then ends
 * the functions' pooled sessions so that their next query opens one that does.
 */
async function setRetryBase(sql: Sql, seconds: number | null): Promise<void> {
  const [{ db }] = await sql<{ db: string }[]>`select current_database() as db`;
  await sql.unsafe(
    seconds === null
      ? `alter database "${db}" reset journeys.retry_base_s`
      : `alter database "${db}" set journeys.retry_base_s = '${Number(seconds)}'`,
  );
  await sql`
    select pg_terminate_backend(pid) from pg_stat_activity
    where datname = current_database() and application_name = 'journey-functions'`;
}

type Wired = { provider: ChaosProvider; supplierId: string; journeyId: string; clientIds: string[] };

/** A supplier sending only through `provider`, a two-step journey, `couples` couples; webhooks wired back. */
async function wireSupplier(sql: Sql, provider: ChaosProvider, couples: number): Promise<Wired> {
  const supplierId = await createSupplier(sql, { name: `Chaos ${provider}` });
  await sql`update public.suppliers set quiet_hours = ${
    JSON.stringify(quietHoursAway())
  }::text::jsonb where id = ${supplierId}::uuid`;
  const webhookUrl = (fn: string) => `${gatewayUrl}/functions/v1/${fn}?supplier=${supplierId}`;
  const key = crypto.randomUUID().replaceAll("-", "");
  // No provider rate limit of ours nor of the simulator: the faults are the only trouble. A fault rate
  // this high opens circuits all the time; a short cooldown keeps the run to minutes.
  const unlimited = { rate_limit_per_s: null };
  const settings = { ...unlimited, circuit_cooldown_s: 1 };
  if (provider === "resend") {
    const secret = { api_key: `re_chaos_${key}`, webhook_secret: newSvixSecret() };
    await connectProvider(sql, supplierId, "resend", secret, settings);
    await simulator("/_sim/config", { provider, api_key: secret.api_key, ...unlimited });
  } else if (provider === "sendgrid") {
    const { public_key } = await simulator<{ public_key: string }>("/_sim/sendgrid/public_key");
    const apiKey = `SG.${key}`;
    await connectProvider(
      sql,
      supplierId,
      "sendgrid",
      { api_key: apiKey, webhook_public_key: public_key },
      settings,
    );
    await simulator("/_sim/config", {
      provider,
      api_key: apiKey,
      ...unlimited,
      webhook: { url: webhookUrl("webhook-sendgrid"), events: ["processed", "delivered"] },
    });
  } else if (provider === "mailgun") {
    const apiKey = `key-${key}`;
    const signingKey = crypto.randomUUID();
    await connectProvider(sql, supplierId, "mailgun", { api_key: apiKey, webhook_signing_key: signingKey }, {
      domain: "chaos.example",
      ...settings,
    });
    await simulator("/_sim/config", {
      provider,
      api_key: apiKey,
      ...unlimited,
      webhook: { url: webhookUrl("webhook-mailgun"), signing_key: signingKey, events: ["delivered"] },
    });
  } else {
    await connectTwilio(sql, supplierId);
  }
  const email = provider !== "twilio";
  if (email) {
    await createTemplate(sql, supplierId, "welcome", {
      subject: "Welcome {{couple_name}}",
      html: "<p>Dear {{couple_name}}, see you on {{wedding_date}}.</p>",
    });
  }
  const step = email
    ? { module_type: "email", config: { template: "welcome" } }
    : { module_type: "sms", config: { text: "Hi {{couple_name}}, see you on {{wedding_date}}!" } };
  const { journeyId } = await createJourney(sql, supplierId, [step, step]);
  const rows = await sql<{ id: string }[]>`
    insert into public.clients (supplier_id, couple_name, email, phone, country, time_zone, wedding_date)
    select ${supplierId}::uuid, format('Couple %s', g), format('couple-%s-%s@chaos.example', g, ${
    key.slice(0, 8)
  }::text),
      format('07912 %s', lpad(g::text, 6, '0')), 'GB', 'UTC', date '2027-06-12' + (g % 200)
    from generate_series(1, ${couples}) g
    returning id`;
  return { provider, supplierId, journeyId, clientIds: rows.map((r) => r.id) };
}

/** Retries `work` until Postgres answers again (the transitions are the app's: it retries what did not commit). */
async function untilCommitted(work: () => Promise<unknown>, log: (line: string) => void): Promise<void> {
  for (let attempt = 1;; attempt++) {
    try {
      await work();
      return;
    } catch (error) {
      if (attempt === 1) {
        log(`transition batch failed (retrying until Postgres answers): ${(error as Error).message}`);
      }
      await sleep(500);
    }
  }
}

/** kill -9 of a function's current process, as listed by the gateway; returns its pid. */
async function killFunction(fn: string): Promise<number> {
  const res = await fetch(`${gatewayUrl}/_gateway/status`);
  const status = await res.json() as { functions: Record<string, { pid: number | null }> };
  const pid = status.functions[fn]?.pid;
  if (!pid) throw new Error(`Cannot kill ${fn}: the gateway lists no process for it`);
  Deno.kill(pid, "SIGKILL");
  return pid;
}

async function clearFaults(): Promise<void> {
  const res = await fetch(`${simulatorUrl}/_sim/faults`, { method: "DELETE" });
  await res.body?.cancel();
}

/** Requests the simulator received for the scenario's providers so far. */
async function providerRequests(): Promise<number> {
  const stats = await simulator<Record<string, { requests?: number }>>("/_sim/stats");
  return CHAOS_PROVIDERS.reduce((sum, p) => sum + (stats[p]?.requests ?? 0), 0);
}

async function functionRestarts(): Promise<number> {
  const res = await fetch(`${gatewayUrl}/_gateway/status`);
  const status = await res.json() as { functions: Record<string, { restarts: number }> };
  return (status.functions["module-email"]?.restarts ?? 0) + (status.functions["module-sms"]?.restarts ?? 0);
}

/**
 * Stands in for hosted pg_cron's 10-second sweep (local pg_cron 1.4 schedules minutes only), on its own
 * connection with this run's reconciliation deadline; rides out the Postgres restart.
 */
function startSweeper(
  deadlineS: number,
  log: (line: string) => void,
): { stop: () => Promise<void>; pause: () => Promise<void>; resume: () => void } {
  let running = true;
  let paused = false;
  const idle: (() => void)[] = [];
  const loop = (async () => {
    while (running) {
      if (paused) {
        await sleep(200);
        continue;
      }
      const sql = postgres(dbUrl(), { max: 1, onnotice: () => {}, idle_timeout: 20 });
      try {
        while (running && !paused) {
          await sql.begin(async (tx) => {
            await tx`select set_config('journeys.unknown_deadline', ${`${deadlineS} seconds`}, true)`;
            await tx`select public.sweep()`;
          });
          for (let i = 0; i < 20 && running && !paused; i++) await sleep(500);
        }
      } catch (error) {
        log(`sweep failed (Postgres restarting?): ${(error as Error).message}`);
        await sleep(1000);
      } finally {
        await sql.end({ timeout: 1 }).catch(() => {});
        for (const resolve of idle.splice(0)) resolve();
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
    // Its connection is closed before Postgres stops: a query written to a socket the server closed
    // crashes the postgres.js client of this process (an uncaught TypeError in its write path).
    pause: () => {
      paused = true;
      return new Promise<void>((resolve) => idle.push(resolve));
    },
    resume: () => {
      paused = false;
    },
  };
}

/** Accepted sends per run id at the simulator, over every provider of the scenario. */
async function acceptedSends(runKeys: Map<string, number>, sinceMs: number): Promise<Map<number, number>> {
  const sends = new Map<number, number>();
  const add = (id: number | undefined) => {
    if (id !== undefined && Number.isFinite(id)) sends.set(id, (sends.get(id) ?? 0) + 1);
  };
  const resend = await simulator<{ tags: { name: string; value: string }[] | null }[]>(
    `/_sim/resend/emails?since_ms=${sinceMs}`,
  );
  for (const e of resend) add(Number(e.tags?.find((t) => t.name === "run")?.value));
  for (const p of ["sendgrid", "mailgun"]) {
    const emails = await simulator<{ variables: Record<string, string> }[]>(
      `/_sim/${p}/emails?since_ms=${sinceMs}`,
    );
    for (const e of emails) add(runKeys.get(e.variables.run_key));
  }
  const sms = await simulator<{ run: string | null }[]>("/_sim/twilio/messages");
  for (const m of sms) if (m.run) add(runKeys.get(m.run));
  return sends;
}

/** Runs the chaos scenario on the running local stack and returns its figures. */
export async function runChaos(opts: ChaosOptions): Promise<ChaosFigures> {
  const log = opts.log ?? console.log;
  const sql = postgres(dbUrl(), { max: 4, onnotice: () => {}, idle_timeout: 5 });
  const sinceMs = Date.now() - 1;
  const perProvider = Math.ceil(opts.instances / CHAOS_PROVIDERS.length);
  const wired: Wired[] = [];
  try {
    for (const p of CHAOS_PROVIDERS) wired.push(await wireSupplier(sql, p, Math.min(perProvider, 500)));
    await setRetryBase(sql, opts.retryBaseS);
  } finally {
    await sql.end({ timeout: 5 });
  }
  await clearFaults();
  for (const p of CHAOS_PROVIDERS) await injectFaults(p);
  const requestsBefore = await providerRequests();
  const restartsBefore = await functionRestarts();

  const started = Date.now();
  const sweeper = startSweeper(opts.unknownDeadlineS, log);
  const connectDriver = () => postgres(dbUrl(), { max: 4, onnotice: () => {}, idle_timeout: 5 });
  let driver = connectDriver();
  let kills = 0;
  let pgRestarts = 0;
  let restartedAt: Date | null = null;
  const events = [
    ...opts.kills.map((k) => ({
      at: k.at,
      run: async () => {
        log(`kill -9 ${k.fn} (pid ${await killFunction(k.fn)})`);
        kills++;
      },
    })),
    ...(opts.pgRestartAt === null ? [] : [{
      at: opts.pgRestartAt,
      run: async () => {
        log("restarting Postgres (stop, then start) with runs in flight");
        // The suite's own clients close first (see startSweeper); the functions' pools meet the restart.
        await sweeper.pause();
        const old = driver;
        await old.end({ timeout: 5 });
        await stopPostgres(() => {});
        await sleep(2000);
        await startPostgres(() => {});
        driver = connectDriver();
        sweeper.resume();
        restartedAt = new Date();
        pgRestarts++;
        log("Postgres is back");
      },
    }]),
  ].sort((a, b) => a.at - b.at);

  // Transitions in batches of 10 instances, paced so that the disruptions land while runs are in flight.
  const batch = 10;
  let issued = 0;
  const pending: Promise<void>[] = [];
  while (issued < opts.instances) {
    const size = Math.min(batch, opts.instances - issued);
    const w = wired[(issued / batch) % wired.length];
    const first = issued;
    pending.push(untilCommitted(
      () =>
        driver`
        insert into public.journey_instances (journey_id, supplier_id, client_id)
        select ${w.journeyId}::uuid, ${w.supplierId}::uuid, (${w.clientIds}::uuid[])[1 + (${first}::int + g) % ${w.clientIds.length}]
        from generate_series(0, ${size - 1}) g`,
      log,
    ));
    issued += size;
    while (events.length > 0 && issued / opts.instances >= events[0].at) {
      const e = events.shift()!;
      await e.run();
    }
    await sleep(40);
  }
  await Promise.all(pending);
  for (const e of events) await e.run();
  await driver.end({ timeout: 5 });

  const sql2 = postgres(dbUrl(), { max: 2, onnotice: () => {}, idle_timeout: 5 });
  const suppliers = wired.map((w) => w.supplierId);
  try {
    // Settled: nothing of ours pending, running or unknown (dead, succeeded and skipped are terminal).
    const deadline = Date.now() + opts.settleTimeoutMs;
    let open = -1;
    while (Date.now() < deadline) {
      const [row] = await sql2<{ open: number }[]>`
        select count(*)::int as open from public.module_runs
        where supplier_id = any(${suppliers}::uuid[]) and status not in ('succeeded', 'skipped', 'dead')`;
      if (row.open !== open) log(`${row.open} runs not terminal yet`);
      open = row.open;
      if (open === 0) break;
      await sleep(1000);
    }
    const wallS = (Date.now() - started) / 1000;
    await sweeper.stop();
    return await figures(sql2, wired, {
      sinceMs,
      wallS,
      kills,
      pgRestarts,
      restartedAt,
      restarts: (await functionRestarts()) - restartsBefore,
      requests: (await providerRequests()) - requestsBefore,
    });
  } finally {
    await sweeper.stop();
    await clearFaults();
    await setRetryBase(sql2, null);
    await sql2.end({ timeout: 5 });
  }
}

async function figures(
  sql: Sql,
  wired: Wired[],
  m: {
    sinceMs: number;
    wallS: number;
    kills: number;
    pgRestarts: number;
    restartedAt: Date | null;
    restarts: number;
    requests: number;
  },
): Promise<ChaosFigures> {
  const suppliers = wired.map((w) => w.supplierId);
  const runs = await sql<
    {
      id: number;
      supplier_id: string;
      status: string;
      attempts: number;
      code: string | null;
      reconciled: boolean;
      idempotency_key: string;
    }[]
  >`
    select id::float8 as id, supplier_id::text, status::text, attempts, last_error ->> 'code' as code,
      coalesce(result ? 'reconciled_from', false) as reconciled, idempotency_key
    from public.module_runs where supplier_id = any(${suppliers}::uuid[])`;
  const providerOf = new Map(wired.map((w) => [w.supplierId, w.provider]));
  const runKeys = new Map(runs.map((r) => [r.idempotency_key, r.id]));
  const sends = await acceptedSends(runKeys, m.sinceMs);
  const faultsInjected = await injectedFaults(m.sinceMs);
  // Transitions: every instance has its first step's run; a first step that succeeded or was skipped
  // moved the instance on, so its second step has a run too; an instance whose second step finished is completed.
  const [lost] = await sql<{ lost: number; instances: number }[]>`
    with i as (
      select i.id, i.status,
        (select array_agg(r.status::text order by s.position) from public.journey_steps s
          left join public.module_runs r on r.journey_instance_id = i.id and r.step_id = s.id
          where s.journey_id = i.journey_id) as st
      from public.journey_instances i where i.supplier_id = any(${suppliers}::uuid[])
    )
    select count(*) filter (where st[1] is null
        or (st[1] in ('succeeded', 'skipped') and st[2] is null)
        or ((st[2] in ('succeeded', 'skipped')) <> (status = 'completed')))::int as lost,
      count(*)::int as instances
    from i`;
  const deadByReason: Record<string, number> = {};
  const byProvider: Record<string, number> = {};
  let duplicates = 0;
  let extra = 0;
  let unsent = 0;
  for (const r of runs) {
    byProvider[providerOf.get(r.supplier_id)!] = (byProvider[providerOf.get(r.supplier_id)!] ?? 0) + 1;
    if (r.status === "dead") deadByReason[r.code ?? "none"] = (deadByReason[r.code ?? "none"] ?? 0) + 1;
    const n = sends.get(r.id) ?? 0;
    if (n > 1) {
      duplicates++;
      extra += n - 1;
    }
    if (r.status === "succeeded" && n === 0) unsent++;
  }
  const count = (s: string) => runs.filter((r) => r.status === s).length;
  const notTerminal = runs.filter((r) => !["succeeded", "skipped", "dead"].includes(r.status)).length;
  let cronAfter: number | null = null;
  if (m.restartedAt) {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from cron.job_run_details d join cron.job j on j.jobid = d.jobid
      where j.jobname = 'module-runs-sweep' and d.status = 'succeeded' and d.start_time > ${m.restartedAt}`;
    cronAfter = row.n;
  }
  return {
    instances: lost.instances,
    runs: runs.length,
    by_provider: byProvider,
    faults_injected: faultsInjected,
    provider_requests: m.requests,
    retries: runs.reduce((sum, r) => sum + Math.max(0, r.attempts - 1), 0),
    succeeded: count("succeeded"),
    skipped: count("skipped"),
    dead: count("dead"),
    dead_by_reason: deadByReason,
    not_terminal: notTerminal,
    unknown_reconciled: runs.filter((r) => r.reconciled).length,
    duplicates,
    extra_sends: extra,
    succeeded_unsent: unsent,
    lost_transitions: lost.lost,
    lost: notTerminal + lost.lost,
    kills: m.kills,
    function_restarts: m.restarts,
    pg_restarts: m.pgRestarts,
    cron_sweeps_after_restart: cronAfter,
    wall_s: Math.round(m.wallS * 10) / 10,
  };
}

// `npm run bench`: end-to-end throughput and latency of the module pipeline on the local stack, side by
// side with graphile-worker; writes bench/results/latest.json, the latency chart and the README figures.
// `--smoke` is the tiny run `npm test` makes (about 200 runs, no peer, nothing written outside --out).
import { fileURLToPath } from "node:url";
import { loadConfig } from "../shared/config.ts";
import { dbUrl, gatewayUrl, root } from "../stack/config.ts";
import { restart, up } from "../stack/cli.ts";
import { postgresStatus } from "../stack/postgres.ts";
import { stackDb } from "../tests/helpers/stack.ts";
import { clusterCpuSeconds, cpuSeconds, MemorySampler } from "./measure.ts";
import { graphileDrain, graphileOpenLoop, type PeerOpenLoopResult, type PeerResult } from "./peer.ts";
import { latencyChart, table, type Target } from "./report.ts";
import { publishReadmeBlock } from "../scripts/readme_block.ts";
import {
  type BacklogResult,
  backlogWorkload,
  type DrainResult,
  drainWorkload,
  DRIVER_CONNECTIONS,
  type FairnessResult,
  fairnessWorkload,
  floorWorkload,
  lastRunId,
  type OpenLoopResult,
  openLoopWorkload,
  settle,
  setUpScenario,
  simulator,
  tearDownScenario,
  type TransitionCostResult,
  transitionCostWorkload,
} from "./workloads.ts";

/** What a benchmark run does. */
export type BenchOptions = {
  smoke: boolean;
  /** Run graphile-worker side by side (not in smoke runs). */
  peer: boolean;
  /** Where the results JSON goes. */
  out: string;
  /** Also write the chart and the README block (full runs). */
  publish: boolean;
  /** Open-loop rates instead of the plan's (for exploring one load). */
  rates?: number[];
  /** Skip the backlog workload (exploring). */
  backlog?: boolean;
  /** Skip the fairness workload (exploring). */
  fairness?: boolean;
  /** Measure only the transition alone (exploring a change to the transition's SQL). */
  transitionOnly?: boolean;
  /** Connections of the transition-alone workload instead of the plan's. */
  connections?: number;
  /** Simulated provider latency. */
  latencyMs: number;
  log: (line: string) => void;
};

/** CPU used during a workload by Postgres, module-email, the stack daemon (simulator, gateway, pg_net
 * worker) and the bench's own driver, in % of one core. */
type CpuShare = { postgres: number; function: number; daemon: number; bench: number };

const TUNING_KEYS = [
  "WORKER_CONCURRENCY",
  "CLAIM_BATCH",
  "LINGER_MS",
  "POLL_MS",
  "RECORD_DELAY_MS",
  "DB_POOL_SIZE",
  "MAX_DRAIN_MS",
] as const;

/** Sizes of a full run and of the smoke run. */
const PLAN = {
  full: {
    couples: 2000,
    drain: 20_000,
    rates: [100, 500, 1000],
    seconds: 30,
    // Seconds of each open-loop level (and of the floor) before its measured window.
    warmup: 5,
    backlog: [10_000, 1_000_000],
    claims: 200,
    fairness: { burst: 20_000, rate: 20, seconds: 15 },
    floor: { rate: 500, seconds: 15 },
    // The 500/s level again from a wide pool, as the open loop was driven before.
    wide: { rate: 500, connections: 32 },
    transition: { connections: 16, each: 400 },
  },
  smoke: {
    couples: 50,
    drain: 100,
    rates: [50],
    seconds: 2,
    warmup: 1,
    backlog: [100, 1_000],
    claims: 10,
    fairness: { burst: 100, rate: 10, seconds: 2 },
    floor: { rate: 50, seconds: 2 },
    wide: { rate: 50, connections: 16 },
    transition: { connections: 2, each: 10 },
  },
};

async function functionPid(name: string): Promise<number | undefined> {
  const res = await fetch(`${gatewayUrl}/_gateway/status`);
  const status = await res.json() as { functions: Record<string, { pid: number | null }> };
  return status.functions[name]?.pid ?? undefined;
}

async function versions(): Promise<{ postgres: string; deno: string; node: string | null }> {
  const sql = stackDb();
  try {
    const [row] = await sql<{ v: string }[]>`select current_setting('server_version') as v`;
    const node = await new Deno.Command("node", { args: ["--version"] }).output().catch(() => undefined);
    return {
      postgres: row.v,
      deno: Deno.version.deno,
      node: node?.success ? new TextDecoder().decode(node.stdout).trim() : null,
    };
  } finally {
    await sql.end();
  }
}

/** An open-loop level's figures with its CPU shares and Postgres CPU per transition. */
type Measured<T> = T & { cpu_pct: CpuShare; pg_cpu_ms_per_transition: number | null };

/** Runs the benchmark and returns the results object written to `out`. */
export async function runBench(opts: BenchOptions): Promise<Record<string, unknown>> {
  const plan = opts.smoke ? PLAN.smoke : PLAN.full;
  const log = opts.log;
  await up({ log });
  // The daemon passes the tuning knobs of its own environment to the functions: restart it to apply ours.
  if (!opts.smoke && TUNING_KEYS.some((k) => Deno.env.get(k) !== undefined)) await restart({ log });
  const settings = loadConfig({ ...Deno.env.toObject(), SUPABASE_DB_URL: dbUrl() });
  const pg = await postgresStatus();
  const transitionAlone = async () => {
    const t = { ...plan.transition, ...(opts.connections ? { connections: opts.connections } : {}) };
    log(`transition alone: ${t.connections} connections × ${t.each} journey starts`);
    const result = await transitionCostWorkload(t.connections, t.each);
    log(`transition alone: ${result.pg_cpu_us_per_transition} µs of Postgres CPU, ${result.per_s}/s`);
    return result;
  };
  if (opts.transitionOnly) {
    const out = { generated_at: new Date().toISOString(), transition_alone: await transitionAlone() };
    await Deno.writeTextFile(opts.out, JSON.stringify(out, null, 2) + "\n");
    return out;
  }
  const sql = stackDb();
  const previousLatency =
    (await simulator<{ latency_ms: number }>("/_sim/config?provider=resend")).latency_ms;
  await simulator("/_sim/config", { provider: "resend", latency_ms: opts.latencyMs });
  const dupBefore = (await simulator<{ resend: { duplicate_run_keys: number } }>("/_sim/stats")).resend
    .duplicate_run_keys;
  const memory = new MemorySampler(() => functionPid("module-email"));
  memory.start();
  // CPU of each process of the pipeline during a workload, in % of one core.
  const daemonPid = Number((await Deno.readTextFile(`${root}/.stack/daemon.pid`)).trim());
  const cpuNow = async () => {
    const fn = await functionPid("module-email");
    return {
      postgres: pg.pid ? await clusterCpuSeconds(pg.pid) : 0,
      function: fn ? await cpuSeconds(fn) : 0,
      daemon: await cpuSeconds(daemonPid),
      bench: await cpuSeconds(Deno.pid),
    };
  };
  // Also returns Postgres's CPU seconds during the workload: from its start, or from when it calls `mark`
  // (an open loop's measured window, after its warm-up).
  const measureCpu = async <T>(
    work: (mark: () => Promise<void>) => Promise<T>,
  ): Promise<[T, CpuShare, number]> => {
    let [cpu0, t0] = [await cpuNow(), performance.now()];
    const result = await work(async () => {
      [cpu0, t0] = [await cpuNow(), performance.now()];
    });
    const cpu1 = await cpuNow();
    const wall = (performance.now() - t0) / 1000;
    const pct = (k: keyof CpuShare) => Math.round((100 * (cpu1[k] - cpu0[k])) / wall);
    return [result, {
      postgres: pct("postgres"),
      function: pct("function"),
      daemon: pct("daemon"),
      bench: pct("bench"),
    }, cpu1.postgres - cpu0.postgres];
  };
  // Postgres CPU per transition of an open-loop level (the transition, its run or job, and their outcomes).
  const perTransition = (pgSeconds: number, transitions: number) =>
    transitions > 0 ? Math.round((100_000 * pgSeconds) / transitions) / 100 : null;
  const scenario = await setUpScenario(sql, plan.couples);
  const firstRun = await lastRunId(sql);
  const timeout = opts.smoke ? 60_000 : 180_000;
  let drain: DrainResult;
  let peer: (PeerResult & { cpu_pct: CpuShare }) | null = null;
  const openLoop: Measured<OpenLoopResult>[] = [];
  const openLoopPeer: Measured<PeerOpenLoopResult>[] = [];
  let backlog: { results: BacklogResult[]; plan: string };
  let lost: number;
  let fairness: FairnessResult | null = null;
  let lostSmall = 0;
  let drainCpu: CpuShare;
  let floorPgMs: number | null = null;
  let wide:
    | { connections: number; ours: Measured<OpenLoopResult>; peer: Measured<PeerOpenLoopResult> | null }
    | null = null;
  try {
    log(`drain: ${plan.drain.toLocaleString("en")} runs from one bulk transition`);
    [drain, drainCpu] = await measureCpu(() => drainWorkload(scenario, plan.drain, timeout));
    log(`drain: ${drain.runs_per_s} runs/s`);
    if (opts.peer) {
      log(
        `graphile-worker: ${
          plan.drain.toLocaleString("en")
        } jobs at concurrency ${settings.WORKER_CONCURRENCY}`,
      );
      const [result, cpu] = await measureCpu(() =>
        graphileDrain(scenario, plan.drain, settings.WORKER_CONCURRENCY, timeout)
      );
      peer = { ...result, cpu_pct: cpu };
      log(`graphile-worker: ${peer.runs_per_s} jobs/s`);
    }
    // One open-loop level, ours then the peer's, from a driver pool of `connections`.
    const level = async (rate: number, connections: number) => {
      const pool = connections === DRIVER_CONNECTIONS ? "" : ` from ${connections} connections`;
      log(`open loop: ${rate} transitions/s${pool} for ${plan.warmup} s of warm-up and ${plan.seconds} s`);
      const warmup = (onWindow: () => Promise<void>) => ({ seconds: plan.warmup, onWindow });
      const [ours, cpu, pgs] = await measureCpu((onWindow) =>
        openLoopWorkload(scenario, rate, plan.seconds, timeout, warmup(onWindow), connections)
      );
      log(`open loop ${rate}/s${pool}: p50 ${ours.p50_ms} ms, p99 ${ours.p99_ms} ms`);
      const result = {
        ours: { ...ours, cpu_pct: cpu, pg_cpu_ms_per_transition: perTransition(pgs, ours.transitions) },
        peer: null as Measured<PeerOpenLoopResult> | null,
      };
      if (opts.peer) {
        const [g, gcpu, gpgs] = await measureCpu((onWindow) =>
          graphileOpenLoop(
            scenario,
            rate,
            plan.seconds,
            settings.WORKER_CONCURRENCY,
            timeout,
            warmup(onWindow),
            connections,
          )
        );
        result.peer = { ...g, cpu_pct: gcpu, pg_cpu_ms_per_transition: perTransition(gpgs, g.transitions) };
        log(`open loop ${rate}/s${pool} graphile-worker: p50 ${g.p50_ms} ms, p99 ${g.p99_ms} ms`);
      }
      return result;
    };
    for (const rate of opts.rates ?? plan.rates) {
      const { ours, peer } = await level(rate, DRIVER_CONNECTIONS);
      openLoop.push(ours);
      if (peer) openLoopPeer.push(peer);
    }
    // What the same load costs from a wide pool: the transitions are spread over four times the backends.
    if ((opts.rates ?? plan.rates).includes(plan.wide.rate)) {
      wide = {
        connections: plan.wide.connections,
        ...await level(plan.wide.rate, plan.wide.connections),
      };
    }
    if ((opts.rates ?? plan.rates).length > 0) {
      const f = plan.floor;
      log(`driver floor: a bare insert per transaction at ${f.rate}/s for ${f.seconds} s`);
      const [floor, , pgs] = await measureCpu((onWindow) =>
        floorWorkload(sql, f.rate, f.seconds, { seconds: plan.warmup, onWindow })
      );
      floorPgMs = perTransition(pgs, floor.transactions);
      log(`driver floor: ${floorPgMs} ms of Postgres CPU per transaction`);
    }
    if (opts.fairness !== false) {
      const f = plan.fairness;
      log(
        `fairness: ${
          f.burst.toLocaleString("en")
        } due runs of one supplier, another at ${f.rate} transitions/s`,
      );
      const small = await setUpScenario(sql, 50);
      try {
        fairness = await fairnessWorkload(scenario, small, f.burst, f.rate, f.seconds, timeout, plan.warmup);
        lostSmall = (await settle(small, firstRun, timeout)).open;
      } finally {
        await tearDownScenario(small).catch((e) => log(`clean-up failed: ${e}`));
      }
      log(
        `fairness: small supplier p99 ${fairness.alone.p99_ms} ms alone, ${fairness.during_burst.p99_ms} ms during the burst`,
      );
    }
    lost = (await settle(scenario, firstRun, timeout)).open + lostSmall;
    backlog = opts.backlog === false
      ? { results: [], plan: "" }
      : await backlogWorkload(plan.backlog, plan.claims, 50, log);
  } finally {
    await simulator("/_sim/config", { provider: "resend", latency_ms: previousLatency });
    await tearDownScenario(scenario).catch((e) => log(`clean-up failed: ${e}`));
    await sql.end();
  }
  // Last, as the backlog: its database clone and drop (a checkpoint each) stay out of the other workloads.
  const transition: TransitionCostResult = await transitionAlone();
  const peakRss = await memory.stop();
  const dupAfter = (await simulator<{ resend: { duplicate_run_keys: number } }>("/_sim/stats")).resend
    .duplicate_run_keys;
  const at500 = openLoop.find((l) => l.rate === 500) ?? null;
  const at1000 = openLoop.find((l) => l.rate === 1000) ?? null;
  const peerAt = (rate: number) => openLoopPeer.find((l) => l.rate === rate) ?? null;
  // The server's own time of the claim (EXPLAIN ANALYZE): what grows if the claim scans the backlog. The
  // client round trip (also in `backlog`) is dominated by scheduling noise on a shared 2-core machine.
  const claimAt = (i: number) => backlog.results[i]?.server_p99_ms ?? null;
  const results = {
    generated_at: new Date().toISOString(),
    mode: opts.smoke ? "smoke" : "full",
    runs_per_s: drain.runs_per_s,
    graphile_runs_per_s: peer?.runs_per_s ?? null,
    ratio_vs_graphile: peer ? Math.round((100 * drain.runs_per_s) / peer.runs_per_s) / 100 : null,
    p50_ms_at_500: at500?.p50_ms ?? null,
    p99_ms_at_500: at500?.p99_ms ?? null,
    p99_ms_at_500_graphile: peerAt(500)?.p99_ms ?? null,
    p99_ms_at_1000: at1000?.p99_ms ?? null,
    p99_ms_at_1000_graphile: peerAt(1000)?.p99_ms ?? null,
    // The same levels with their warm-up's transitions: what a cold start (new connections, a new function
    // instance) adds to the p99.
    p99_ms_with_warmup_at_500: at500?.p99_ms_with_warmup ?? null,
    p99_ms_with_warmup_at_500_graphile: peerAt(500)?.p99_ms_with_warmup ?? null,
    warmup_s: plan.warmup,
    pg_cpu_ms_per_transition: at500?.pg_cpu_ms_per_transition ?? null,
    pg_cpu_ms_per_transition_graphile: peerAt(500)?.pg_cpu_ms_per_transition ?? null,
    pg_cpu_ms_per_transaction_floor: floorPgMs,
    // The driver's pool of the levels above, and the 500/s level again from a wide pool, for both sides.
    driver_connections: DRIVER_CONNECTIONS,
    wide_connections: wide?.connections ?? null,
    pg_cpu_ms_per_transition_wide: wide?.ours.pg_cpu_ms_per_transition ?? null,
    pg_cpu_ms_per_transition_wide_graphile: wide?.peer?.pg_cpu_ms_per_transition ?? null,
    p99_ms_at_500_wide: wide?.ours.p99_ms ?? null,
    p99_ms_at_500_wide_graphile: wide?.peer?.p99_ms ?? null,
    pg_cpu_us_per_transition_alone: transition.pg_cpu_us_per_transition,
    achieved_per_s_at_500: at500?.achieved_per_s ?? null,
    achieved_per_s_at_500_graphile: peerAt(500)?.achieved_per_s ?? null,
    achieved_per_s_at_1000: at1000?.achieved_per_s ?? null,
    achieved_per_s_at_1000_graphile: peerAt(1000)?.achieved_per_s ?? null,
    p99_ms_scheduled_at_500: at500?.p99_ms_scheduled ?? null,
    p99_ms_scheduled_at_500_graphile: peerAt(500)?.p99_ms_scheduled ?? null,
    p99_ms_scheduled_at_1000: at1000?.p99_ms_scheduled ?? null,
    p99_ms_scheduled_at_1000_graphile: peerAt(1000)?.p99_ms_scheduled ?? null,
    fair_p50_ms_small_alone: fairness?.alone.p50_ms ?? null,
    fair_p99_ms_small_alone: fairness?.alone.p99_ms ?? null,
    fair_p50_ms_small: fairness?.during_burst.p50_ms ?? null,
    fair_p99_ms_small: fairness?.during_burst.p99_ms ?? null,
    duplicates: dupAfter - dupBefore,
    lost,
    claim_p99_ms_10k: claimAt(0),
    claim_p99_ms_1m: claimAt(1),
    peak_rss_mb: peakRss,
    machine: {
      cores: navigator.hardwareConcurrency,
      memory_mb: Math.round(Deno.systemMemoryInfo().total / 1024 / 1024),
      load_average: Deno.loadavg(),
      ...(await versions()),
    },
    settings: {
      provider_latency_ms: opts.latencyMs,
      worker_concurrency: settings.WORKER_CONCURRENCY,
      claim_batch: settings.CLAIM_BATCH,
      linger_ms: settings.LINGER_MS,
      poll_ms: settings.POLL_MS,
      record_delay_ms: settings.RECORD_DELAY_MS,
      db_pool_size: settings.DB_POOL_SIZE,
    },
    drain: { ...drain, cpu_pct: drainCpu },
    graphile: peer,
    open_loop: openLoop,
    open_loop_graphile: openLoopPeer,
    open_loop_wide: wide,
    fairness,
    transition_alone: transition,
    backlog: backlog.results,
    claim_plan: backlog.plan,
  };
  const targets = checkTargets(results);
  const out = { ...results, targets };
  await Deno.mkdir(new URL(".", `file://${opts.out}`).pathname, { recursive: true });
  await Deno.writeTextFile(opts.out, JSON.stringify(out, null, 2) + "\n");
  printTable(out, targets, log);
  if (opts.publish) await publish(out, openLoop, openLoopPeer, targets);
  return out;
}

export function checkTargets(r: {
  runs_per_s: number;
  ratio_vs_graphile: number | null;
  p50_ms_at_500: number | null;
  p99_ms_at_500: number | null;
  p99_ms_at_1000: number | null;
  pg_cpu_ms_per_transition: number | null;
  p99_ms_at_500_wide: number | null;
  pg_cpu_ms_per_transition_wide: number | null;
  fair_p99_ms_small_alone: number | null;
  fair_p99_ms_small: number | null;
  duplicates: number;
  lost: number;
  claim_p99_ms_10k: number | null;
  claim_p99_ms_1m: number | null;
  peak_rss_mb: number;
}): Target[] {
  const check = (what: string, value: number | null, target: string, ok: (v: number) => boolean): Target => ({
    what,
    value,
    target,
    met: value === null ? null : ok(value),
  });
  const claimRatio = r.claim_p99_ms_10k && r.claim_p99_ms_1m !== null
    ? Math.round((100 * r.claim_p99_ms_1m) / r.claim_p99_ms_10k) / 100
    : null;
  const fairRatio = r.fair_p99_ms_small_alone && r.fair_p99_ms_small !== null
    ? Math.round((100 * r.fair_p99_ms_small) / r.fair_p99_ms_small_alone) / 100
    : null;
  return [
    check("runs_per_s", r.runs_per_s, ">= 1000", (v) => v >= 1000),
    check("ratio_vs_graphile", r.ratio_vs_graphile, ">= 1.5", (v) => v >= 1.5),
    check("p50_ms_at_500", r.p50_ms_at_500, "<= 50", (v) => v <= 50),
    check("p99_ms_at_500", r.p99_ms_at_500, "<= 250", (v) => v <= 250),
    check("p99_ms_at_1000", r.p99_ms_at_1000, "<= 500", (v) => v <= 500),
    check("pg_cpu_ms_per_transition", r.pg_cpu_ms_per_transition, "<= 0.8", (v) => v <= 0.8),
    check("p99_ms_at_500_wide (32 connections)", r.p99_ms_at_500_wide, "<= 250", (v) => v <= 250),
    check("pg_cpu_ms_per_transition_wide", r.pg_cpu_ms_per_transition_wide, "<= 0.8", (v) => v <= 0.8),
    check("fair_p99_ms_small / alone", fairRatio, "<= 2", (v) => v <= 2),
    check("duplicates", r.duplicates, "= 0", (v) => v === 0),
    check("lost", r.lost, "= 0", (v) => v === 0),
    check("claim_p99_1m / claim_p99_10k", claimRatio, "<= 2", (v) => v <= 2),
    check("peak_rss_mb", r.peak_rss_mb, "<= 150", (v) => v <= 150),
  ];
}

const cpuText = (c: CpuShare) => `${c.postgres}/${c.function}/${c.daemon}/${c.bench}`;

function printTable(r: Record<string, unknown>, targets: Target[], log: (line: string) => void): void {
  const drain = r.drain as DrainResult & { cpu_pct: CpuShare };
  const peer = r.graphile as (PeerResult & { cpu_pct: CpuShare }) | null;
  const lines = [
    table([
      [
        "workload",
        "runs",
        "seconds",
        "runs/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "p99 ms from schedule",
        "cpu % pg/fn/daemon/bench",
      ],
      [
        "drain (ours)",
        drain.succeeded,
        drain.seconds,
        drain.runs_per_s,
        null,
        null,
        null,
        null,
        cpuText(drain.cpu_pct),
      ],
      ...(peer
        ? [[
          "drain (graphile-worker)",
          peer.succeeded,
          peer.seconds,
          peer.runs_per_s,
          null,
          null,
          null,
          null,
          cpuText(peer.cpu_pct),
        ]]
        : []),
      ...[
        ...(r.open_loop as (OpenLoopResult & { cpu_pct: CpuShare })[]),
        ...(r.open_loop_graphile as (OpenLoopResult & { cpu_pct: CpuShare; version?: string })[]),
      ].map((l) => [
        `open loop ${l.rate}/s${"version" in l ? " (graphile-worker)" : ""}`,
        l.received,
        l.seconds,
        l.achieved_per_s,
        l.p50_ms,
        l.p95_ms,
        l.p99_ms,
        l.p99_ms_scheduled,
        cpuText(l.cpu_pct),
      ]),
    ]),
    "",
    table([
      ["open loop", "rate", "pg cpu ms / transition"],
      ...(r.open_loop as { rate: number; pg_cpu_ms_per_transition: number | null }[]).map((l) => [
        "ours",
        l.rate,
        l.pg_cpu_ms_per_transition,
      ]),
      ...(r.open_loop_graphile as { rate: number; pg_cpu_ms_per_transition: number | null }[]).map((l) => [
        "graphile-worker",
        l.rate,
        l.pg_cpu_ms_per_transition,
      ]),
    ]),
    "",
    table([
      ["backlog", "claims", "claim p50 ms", "claim p99 ms", "server p50 ms", "server p99 ms"],
      ...(r.backlog as BacklogResult[]).map((b) => [
        b.backlog.toLocaleString("en"),
        b.claims,
        b.p50_ms,
        b.p99_ms,
        b.server_p50_ms,
        b.server_p99_ms,
      ]),
    ]),
    "",
    table([
      ["target", "value", "wanted", "met"],
      ...targets.map((t) => [t.what, t.value, t.target, t.met === null ? "n/a" : t.met ? "yes" : "NO"]),
    ]),
  ];
  log("\n" + lines.join("\n"));
}

export async function publish(
  r: Record<string, unknown>,
  levels: OpenLoopResult[],
  peerLevels: OpenLoopResult[],
  targets: Target[],
): Promise<void> {
  const machine = r.machine as {
    cores: number;
    memory_mb: number;
    postgres: string;
    deno: string;
    load_average: number[];
  };
  const settings = r.settings as { provider_latency_ms: number; worker_concurrency: number };
  const caption = `${machine.cores} cores, provider latency ${settings.provider_latency_ms} ms, ` +
    `concurrency ${settings.worker_concurrency}, ${
      String(r.generated_at).slice(0, 16).replace("T", " ")
    } UTC`;
  await Deno.writeTextFile(`${root}/bench/results/latency.svg`, latencyChart(levels, caption, peerLevels));
  const markdown = [
    `Latest full run: ${
      String(r.generated_at).slice(0, 16).replace("T", " ")
    } UTC, ${machine.cores} cores, ` +
    `${Math.round(machine.memory_mb / 1024)} GB, PostgreSQL ${machine.postgres}, Deno ${machine.deno}, ` +
    `provider latency ${settings.provider_latency_ms} ms, concurrency ${settings.worker_concurrency}, ` +
    `load average at the end ${machine.load_average.map((l) => l.toFixed(1)).join(" / ")} ` +
    `([latest.json](bench/results/latest.json)).`,
    "",
    "| figure | value | target |",
    "| --- | --- | --- |",
    ...targets.map((t) =>
      `| ${t.what} | ${t.value ?? "-"} | ${t.target}${t.met === false ? " (not met)" : ""} |`
    ),
    `| graphile_runs_per_s | ${r.graphile_runs_per_s ?? "-"} | |`,
    `| the drain's bulk statement in s (before its commit): ours / graphile | ${
      (r.drain as DrainResult).transition_seconds
    } / ${(r.graphile as DrainResult | null)?.transition_seconds ?? "-"} | |`,
    `| p99_ms_at_500_graphile | ${r.p99_ms_at_500_graphile ?? "-"} | |`,
    `| p99_ms_at_1000_graphile | ${r.p99_ms_at_1000_graphile ?? "-"} | |`,
    `| pg_cpu_ms_per_transition_graphile | ${r.pg_cpu_ms_per_transition_graphile ?? "-"} | |`,
    `| pg_cpu_ms_per_transaction_floor (bare insert, same driver) | ${
      r.pg_cpu_ms_per_transaction_floor ?? "-"
    } | |`,
    `| pg_cpu_us_per_transition_alone (16 connections) | ${r.pg_cpu_us_per_transition_alone ?? "-"} | |`,
    `| committed transitions/s at 500 and 1000: ours / graphile | ${r.achieved_per_s_at_500 ?? "-"} / ${
      r.achieved_per_s_at_500_graphile ?? "-"
    }, ${r.achieved_per_s_at_1000 ?? "-"} / ${r.achieved_per_s_at_1000_graphile ?? "-"} | |`,
    `| p99 ms from schedule at 500 and 1000: ours / graphile | ${r.p99_ms_scheduled_at_500 ?? "-"} / ${
      r.p99_ms_scheduled_at_500_graphile ?? "-"
    }, ${r.p99_ms_scheduled_at_1000 ?? "-"} / ${r.p99_ms_scheduled_at_1000_graphile ?? "-"} | |`,
    `| p99 ms at 500 with the ${r.warmup_s} s warm-up's transitions (a cold start): ours / graphile | ${
      r.p99_ms_with_warmup_at_500 ?? "-"
    } / ${r.p99_ms_with_warmup_at_500_graphile ?? "-"} | |`,
    `| at 500/s from a pool of ${
      r.wide_connections ?? "-"
    } (the rows above: ${r.driver_connections}): Postgres CPU ms per transition, ours / graphile | ${
      r.pg_cpu_ms_per_transition_wide ?? "-"
    } / ${r.pg_cpu_ms_per_transition_wide_graphile ?? "-"} | |`,
    `| at 500/s from a pool of ${r.wide_connections ?? "-"}: p99 ms, ours / graphile | ${
      r.p99_ms_at_500_wide ?? "-"
    } / ${r.p99_ms_at_500_wide_graphile ?? "-"} | |`,
    `| fair_p99_ms_small_alone / fair_p99_ms_small | ${r.fair_p99_ms_small_alone ?? "-"} / ${
      r.fair_p99_ms_small ?? "-"
    } | |`,
    `| claim_p99_ms_10k / claim_p99_ms_1m | ${r.claim_p99_ms_10k} / ${r.claim_p99_ms_1m} | |`,
    "",
    "![Latency percentiles per load](bench/results/latency.svg)",
  ].join("\n");
  const readme = `${root}/README.md`;
  await publishReadmeBlock(readme, "bench", markdown);
}

if (import.meta.main) {
  const args = new Set(Deno.args);
  const smoke = args.has("--smoke");
  const outArg = Deno.args.find((a) => a.startsWith("--out="))?.slice(6);
  const ratesArg = Deno.args.find((a) => a.startsWith("--rates="))?.slice(8);
  const latencyArg = Deno.args.find((a) => a.startsWith("--latency-ms="))?.slice(13);
  const log = (line: string) => console.log(line.startsWith("\n") ? line : `[bench] ${line}`);
  await runBench({
    smoke,
    peer: !smoke && !args.has("--no-peer"),
    out: outArg ?? fileURLToPath(new URL(`./results/${smoke ? "smoke" : "latest"}.json`, import.meta.url)),
    publish: !smoke && !outArg,
    latencyMs: latencyArg ? Number(latencyArg) : 50,
    rates: ratesArg === undefined ? undefined : ratesArg.split(",").filter(Boolean).map(Number),
    backlog: !args.has("--no-backlog"),
    fairness: !args.has("--no-fairness"),
    transitionOnly: args.has("--transition-only"),
    connections: Number(Deno.args.find((a) => a.startsWith("--connections="))?.slice(14)) || undefined,
    log,
  });
  Deno.exit(0);
}

// The benchmark's smoke run (about 200 runs, no peer): keeps `npm run bench` working, checks no run is
// lost or sent twice, and checks the shape of the results file. No timing thresholds.
import assert from "node:assert/strict";
import { runBench } from "../../bench/bench.ts";

Deno.test("runBench() delivers every smoke run exactly once and writes the results file when run in smoke mode", async () => {
  const out = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await runBench({ smoke: true, peer: false, out, publish: false, latencyMs: 5, log: () => {} });
    const results = JSON.parse(await Deno.readTextFile(out));
    assert.equal(results.mode, "smoke");
    assert.equal(results.duplicates, 0, "the simulator saw no run twice");
    assert.equal(results.lost, 0, "every run reached a terminal state");
    assert.equal(results.drain.succeeded, results.drain.runs, "every drained run succeeded");
    assert.equal(typeof results.drain.transition_seconds, "number", "the bulk transition was timed");
    for (const level of results.open_loop) {
      assert.equal(level.received, level.transitions, `every run of ${level.rate}/s reached the simulator`);
      // The smoke plan: 1 s of warm-up, then a 2 s window; the figures are the window's.
      assert.equal(level.warmup_transitions, level.rate, `${level.rate}/s: one second of warm-up`);
      assert.equal(level.transitions, 2 * level.rate, `${level.rate}/s: the window's transitions`);
      assert.ok(
        level.p99_ms_scheduled_with_warmup >= level.p99_ms_with_warmup,
        `${level.rate}/s: with the warm-up too, p99 from schedule >= p99 from commit`,
      );
      // A transition is issued at or after its scheduled time and commits after that.
      assert.ok(
        level.p50_ms_scheduled >= level.p50_ms,
        `${level.rate}/s: p50 from schedule >= p50 from commit`,
      );
      assert.ok(
        level.p99_ms_scheduled >= level.p99_ms,
        `${level.rate}/s: p99 from schedule >= p99 from commit`,
      );
    }
    for (
      const key of [
        "runs_per_s",
        "graphile_runs_per_s",
        "ratio_vs_graphile",
        "p50_ms_at_500",
        "p99_ms_at_500",
        "p99_ms_at_500_graphile",
        "p99_ms_at_1000",
        "p99_ms_at_1000_graphile",
        "p99_ms_with_warmup_at_500",
        "p99_ms_with_warmup_at_500_graphile",
        "warmup_s",
        "driver_connections",
        "wide_connections",
        "pg_cpu_ms_per_transition_wide",
        "pg_cpu_ms_per_transition_wide_graphile",
        "p99_ms_at_500_wide",
        "p99_ms_at_500_wide_graphile",
        "pg_cpu_ms_per_transition",
        "pg_cpu_ms_per_transition_graphile",
        "pg_cpu_ms_per_transaction_floor",
        "achieved_per_s_at_500",
        "achieved_per_s_at_500_graphile",
        "p99_ms_scheduled_at_500",
        "p99_ms_scheduled_at_500_graphile",
        "fair_p50_ms_small",
        "fair_p99_ms_small",
        "fair_p99_ms_small_alone",
        "duplicates",
        "lost",
        "claim_p99_ms_10k",
        "claim_p99_ms_1m",
        "peak_rss_mb",
        "machine",
      ]
    ) {
      assert.ok(key in results, `results have ${key}`);
    }
    assert.equal(typeof results.runs_per_s, "number");
    assert.equal(typeof results.claim_p99_ms_10k, "number");
    assert.equal(typeof results.claim_p99_ms_1m, "number");
    assert.ok(results.peak_rss_mb > 0, "the function's memory was read from /proc");
    assert.deepEqual(Object.keys(results.machine).sort(), [
      "cores",
      "deno",
      "load_average",
      "memory_mb",
      "node",
      "postgres",
    ]);
    assert.equal(results.backlog.length, 2);
    assert.equal(results.open_loop_wide.connections, 16, "the smoke plan's wide level: 16 connections");
    assert.equal(
      results.open_loop_wide.ours.received,
      results.open_loop_wide.ours.transitions,
      "every run of the wide level reached the simulator",
    );
    assert.equal(results.transition_alone.transitions, 20, "2 connections × 10 journey starts were measured");
    assert.ok(results.transition_alone.per_s > 0);
    // 20 transitions are one or two of /proc's 10 ms ticks: a number, not a figure to compare.
    assert.equal(typeof results.pg_cpu_us_per_transition_alone, "number");
    assert.equal(typeof results.pg_cpu_ms_per_transaction_floor, "number", "the driver floor was measured");
    for (const level of [results.fairness.alone, results.fairness.during_burst]) {
      assert.equal(
        level.received,
        level.transitions,
        "every run of the small supplier reached the simulator",
      );
    }
    assert.match(results.claim_plan, /module_runs/, "the claim's plan was recorded");
  } finally {
    await Deno.remove(out);
  }
});

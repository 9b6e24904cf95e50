// The chaos suite's reduced form: 80 runs under the full fault mix (every kind injected), with a kill -9 of
// each module function and a short retry backoff, checked exactly: every run terminal, none sent twice, none lost.
import assert from "node:assert/strict";
import { CHAOS_PROVIDERS, runChaos } from "../../hardening/chaos_scenario.ts";

Deno.test("runChaos() ends every run terminal, sent at most once, none lost when providers fail and functions are killed", async () => {
  const f = await runChaos({
    instances: 40,
    kills: [{ at: 0.3, fn: "module-email" }, { at: 0.6, fn: "module-sms" }],
    pgRestartAt: null,
    unknownDeadlineS: 20,
    // A 0.5 s backoff base (production: 5 s) keeps the retry tail of a 32 % fault rate to seconds.
    retryBaseS: 0.5,
    settleTimeoutMs: 5 * 60_000,
    log: () => {},
  });
  for (const [kind, n] of Object.entries(f.faults_injected)) {
    assert.ok(n >= CHAOS_PROVIDERS.length, `the simulator injected ${kind} faults into every provider`);
  }
  assert.ok(f.retries > 0, "faults made runs retry");
  assert.equal(f.kills, 2);
  assert.ok(f.function_restarts >= 2, "the gateway restarted the killed functions");
  assert.equal(f.instances, 40, "every transition committed");
  assert.equal(f.not_terminal, 0, "every run is terminal");
  assert.equal(f.lost_transitions, 0, "every transition produced its run");
  assert.equal(f.duplicates, 0, "no run was accepted twice by a provider");
  assert.equal(f.succeeded_unsent, 0, "no run succeeded without its send");
  assert.equal(f.succeeded + f.skipped + f.dead, f.runs);
  for (const reason of Object.keys(f.dead_by_reason)) {
    assert.notEqual(reason, "none", "a dead run has a reason");
  }
});

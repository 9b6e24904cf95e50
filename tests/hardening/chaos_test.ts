// The chaos suite's reduced form: a couple of hundred runs under the full fault mix, with a kill -9 of each
// module function, checked exactly: every run terminal, none sent twice, none lost.
import assert from "node:assert/strict";
import { runChaos } from "../../hardening/chaos_scenario.ts";

Deno.test("runChaos() ends every run terminal, sent at most once, none lost when providers fail and functions are killed", async () => {
  const f = await runChaos({
    instances: 100,
    kills: [{ at: 0.3, fn: "module-email" }, { at: 0.6, fn: "module-sms" }],
    pgRestartAt: null,
    unknownDeadlineS: 20,
    settleTimeoutMs: 10 * 60_000,
    log: () => {},
  });
  const injected = Object.values(f.faults_injected).reduce((a, b) => a + b, 0);
  assert.ok(injected > 0, "the simulator injected faults");
  assert.ok(f.retries > 0, "faults made runs retry");
  assert.equal(f.kills, 2);
  assert.ok(f.function_restarts >= 2, "the gateway restarted the killed functions");
  assert.equal(f.instances, 100, "every transition committed");
  assert.equal(f.not_terminal, 0, "every run is terminal");
  assert.equal(f.lost_transitions, 0, "every transition produced its run");
  assert.equal(f.duplicates, 0, "no run was accepted twice by a provider");
  assert.equal(f.succeeded_unsent, 0, "no run succeeded without its send");
  assert.equal(f.succeeded + f.skipped + f.dead, f.runs);
  for (const reason of Object.keys(f.dead_by_reason)) {
    assert.notEqual(reason, "none", "a dead run has a reason");
  }
});

// providerGate() trusts a clean answer for an unlimited account for CLEAN_GATE_TTL_MS, and asks again
// after it, after any report of this instance, and always for rate-limited accounts.
import assert from "node:assert/strict";
import type { Sql } from "../../shared/db/client.ts";
import {
  CLEAN_GATE_TTL_MS,
  type GateDecision,
  providerGate,
  providerReport,
} from "../../shared/providers/gate.ts";

/** A stand-in for the SQL client: counts gate calls and answers with `answer`. */
function fakeSql(answer: GateDecision) {
  const calls = { gate: 0, report: 0 };
  const sql = ((strings: TemplateStringsArray) => {
    if (strings.join("?").includes("provider_gate(")) calls.gate++;
    else calls.report++;
    return Promise.resolve([answer]);
  }) as unknown as Sql;
  return { sql, calls };
}

const clean: GateDecision = { decision: "send", wait_s: 0, circuit: "closed", consecutive_failures: 0 };
const circuit = { failureThreshold: 3, cooldownS: 30 };
let account = 0;
const ref = () => ({ provider: "resend", account: `gate-test-${++account}`, supplierId: null });

Deno.test("providerGate() asks the database once per TTL for a clean unlimited account", async () => {
  const { sql, calls } = fakeSql(clean);
  const r = ref();
  let t = 1_000;
  const now = () => t;
  assert.deepEqual(await providerGate(sql, r, 0, 5, now), clean);
  assert.deepEqual(await providerGate(sql, r, 0, 5, now), clean);
  assert.equal(calls.gate, 1);
  t += CLEAN_GATE_TTL_MS;
  await providerGate(sql, r, 0, 5, now);
  assert.equal(calls.gate, 2);
});

Deno.test("providerGate() asks again at once after a report of this instance", async () => {
  const { sql, calls } = fakeSql(clean);
  const r = ref();
  const now = () => 1_000;
  await providerGate(sql, r, 0, 5, now);
  await providerReport(sql, r, "failure", circuit);
  await providerGate(sql, r, 0, 5, now);
  assert.deepEqual(calls, { gate: 2, report: 1 });
});

Deno.test("providerGate() always asks for rate-limited accounts and after an answer that is not clean", async () => {
  const limited = fakeSql(clean);
  const r1 = ref();
  const now = () => 1_000;
  await providerGate(limited.sql, r1, 0.5, 5, now);
  await providerGate(limited.sql, r1, 0.5, 5, now);
  assert.equal(limited.calls.gate, 2);

  const failing = fakeSql({ ...clean, consecutive_failures: 1 });
  const r2 = ref();
  await providerGate(failing.sql, r2, 0, 5, now);
  await providerGate(failing.sql, r2, 0, 5, now);
  assert.equal(failing.calls.gate, 2);
});

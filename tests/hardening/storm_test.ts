// The webhook storm in small: a few hundred signed webhooks with duplicates, out-of-order statuses and
// deliveries recorded while their events arrive, audited for exactly-once processing.
import assert from "node:assert/strict";
import { stackDb } from "../helpers/stack.ts";
import {
  auditStorm,
  fireStorm,
  planStorm,
  prepareStorm,
  recordInitialDeliveries,
  seededRandom,
} from "../../hardening/storm_plan.ts";

Deno.test("fireStorm() processes each distinct webhook once with the highest status when copies race and arrive out of order", async () => {
  const sql = stackDb();
  try {
    const plan = planStorm({ webhooks: 300, durationMs: 4_000, waitingShare: 0.2, random: seededRandom(9) });
    // The mix the storm is about must really be in the plan, or the audit below proves little.
    assert.ok(plan.events.some((e) => e.duplicatesAtMs.includes(0)), "no concurrent copies planned");
    assert.ok(plan.events.some((e) => e.duplicatesAtMs.some((ms) => ms > 0)), "no late copies planned");
    assert.ok(
      plan.deliveries.filter((d) => d.recordAtMs !== null).length >= 10,
      "too few waiting deliveries",
    );
    assert.ok(plan.events.some((e) => e.status === null), "no status-less event planned");

    const fixture = await prepareStorm(sql, 4);
    await recordInitialDeliveries(sql, plan, fixture);
    const traffic = await fireStorm(sql, plan, fixture);
    const audit = await auditStorm(sql, plan, fixture, traffic);

    assert.deepEqual(audit.problems, []);
    assert.ok(audit.outOfOrderDeliveries > 0, "no delivery got its statuses out of order");
    assert.equal(audit.webhooks, 300);
    assert.equal(audit.inbox.rows, plan.events.length);
    assert.equal(audit.inbox.processed, plan.events.length);
    assert.equal(audit.deliveryEvents, plan.events.filter((e) => e.status !== null).length);
    assert.equal(audit.suppressions.found, audit.suppressions.expected);
    assert.equal(audit.wrongFinalStatus, 0);
    assert.equal(audit.http5xx, 0);
  } finally {
    await sql.end();
  }
});

// The webhook storm in small: a few hundred signed webhooks at all the receivers with duplicates,
// out-of-order statuses, bookings and submissions, audited for exactly-once processing.
import assert from "node:assert/strict";
import { stackDb } from "../helpers/stack.ts";
import { SIDE_EFFECT_RECEIVERS } from "../../hardening/storm_receivers.ts";
import {
  auditStorm,
  fireStorm,
  planStorm,
  prepareStorm,
  recordInitialDeliveries,
  seededRandom,
  STORM_RECEIVERS,
} from "../../hardening/storm_plan.ts";

Deno.test("fireStorm() processes each distinct webhook once with the right final state when copies race and arrive out of order", async () => {
  const sql = stackDb();
  try {
    const plan = planStorm({ webhooks: 300, durationMs: 4_000, waitingShare: 0.2, random: seededRandom(54) });
    // The mix the storm is about must really be in the plan, or the audit below proves little.
    assert.ok(plan.events.some((e) => e.duplicatesAtMs.includes(0)), "no concurrent copies planned");
    assert.ok(plan.events.some((e) => e.duplicatesAtMs.some((ms) => ms > 0)), "no late copies planned");
    assert.ok(
      plan.deliveries.filter((d) => d.recordAtMs !== null).length >= 10,
      "too few waiting deliveries",
    );
    assert.ok(plan.events.some((e) => e.status === null && !e.side), "no status-less event planned");
    for (const r of STORM_RECEIVERS) {
      // Every receiver gets a copy racing its first (for a form: one submission arriving twice at once).
      assert.ok(
        plan.events.some((e) => e.provider === r && e.duplicatesAtMs.includes(0)),
        `no racing copy for ${r}`,
      );
    }
    // The side-effect stories out of order: a cancellation or a reschedule's new booking fired before the
    // first booking, and a couple's two distinct submissions.
    const firstAt = (subject: number, type: string, old: boolean) =>
      plan.events.find((e) =>
        e.side?.subject === subject && e.type === type && (e.side.fields.old_invitee != null) === old
      )?.atMs;
    const overtaken = plan.subjects.filter((s, n) => {
      if (s.receiver !== "calendly") return false;
      const booked = firstAt(n, "invitee.created", false)!;
      const later = firstAt(n, "invitee.created", true) ?? firstAt(n, "invitee.canceled", false);
      return later !== undefined && later < booked;
    });
    assert.ok(overtaken.length > 0, "no booking overtaken by its cancellation or reschedule");
    for (const form of ["typeform", "jotform"]) {
      assert.ok(
        plan.subjects.some((s, n) =>
          s.receiver === form && plan.events.filter((e) => e.side?.subject === n).length === 2
        ),
        `no couple submitting a ${form} form twice`,
      );
    }

    const fixture = await prepareStorm(sql, plan, 4);
    await recordInitialDeliveries(sql, plan, fixture);
    const traffic = await fireStorm(sql, plan, fixture);
    const audit = await auditStorm(sql, plan, fixture, traffic);

    assert.deepEqual(audit.problems, []);
    assert.ok(audit.outOfOrderDeliveries > 0, "no delivery got its statuses out of order");
    assert.equal(audit.webhooks, 300);
    const deliveryEvents = plan.events.filter((e) => !e.side);
    assert.equal(audit.inbox.rows, deliveryEvents.length);
    assert.equal(audit.inbox.processed, deliveryEvents.length);
    assert.equal(audit.deliveryEvents, deliveryEvents.filter((e) => e.status !== null).length);
    assert.equal(audit.sideEffects.inboxRows, plan.events.filter((e) => e.side?.inboxed).length);
    for (const r of SIDE_EFFECT_RECEIVERS) assert.ok(audit.sideEffects.subjects[r] > 0, `no ${r} subject`);
    assert.equal(audit.suppressions.found, audit.suppressions.expected);
    assert.equal(audit.wrongFinalStatus, 0);
    assert.equal(audit.http5xx, 0);
  } finally {
    await sql.end();
  }
});

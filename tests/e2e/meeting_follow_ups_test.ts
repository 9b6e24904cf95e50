// Booking follow-ups end to end: a Calendly link that is not used gets a "please book" nudge email N days
// later (10:00 in the couple's zone) and then makes the step overdue, which keeps waiting for a late
// booking or skips the step so the journey moves on; a booking cancels the follow-ups.
import assert from "node:assert/strict";
import type { Sql } from "../helpers/db.ts";
import { createClient, startJourney } from "../helpers/fixtures.ts";
import {
  calendlyScenario,
  currentStep,
  drainNow,
  emailsFor,
  meetingsOf,
  runsOf,
  waitRun,
} from "../helpers/meeting.ts";
import { sim, stackDb } from "../helpers/stack.ts";

type FollowUp = {
  run_id: number;
  lead: string;
  status: string;
  step_id: string | null;
  last_error: { code: string } | null;
};

async function followUpsOf(sql: Sql, meetingId: string): Promise<Record<string, FollowUp>> {
  const rows = await sql<FollowUp[]>`
    select mr.run_id::int, mr.lead, r.status::text, r.step_id::text, r.last_error
    from public.meeting_reminders mr join public.module_runs r on r.id = mr.run_id
    where mr.meeting_id = ${meetingId}::uuid and mr.lead in ('nudge', 'overdue')`;
  return Object.fromEntries(rows.map((r) => [r.lead, r]));
}

function inFiveDays(): string {
  return new Date(Math.ceil((Date.now() + 5 * 86_400_000) / 3_600_000) * 3_600_000).toISOString();
}

Deno.test("an unused Calendly link gets a nudge email, then the step is overdue and still completes on a late booking", async () => {
  const sql = stackDb();
  try {
    const s = await calendlyScenario(
      sql,
      { awaiting_booking: { nudge_after_days: 3, overdue_after_days: 7 } },
      { time_zone: "America/New_York" },
    );
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const link = await waitRun(sql, instanceId, 0, "waiting");
    const [meeting] = await meetingsOf(sql, instanceId);

    // Planned when the link was sent: N days on at 10:00 on the couple's wall clock, without a step.
    const planned = await sql<{ lead: string; step_id: string | null; local_time: string; days: number }[]>`
      select mr.lead, r.step_id::text, to_char(r.run_at at time zone 'America/New_York', 'HH24:MI') as local_time,
        (r.run_at at time zone 'America/New_York')::date - (l.updated_at at time zone 'America/New_York')::date as days
      from public.meeting_reminders mr
      join public.module_runs r on r.id = mr.run_id
      join public.module_runs l on l.id = ${link.id}
      where mr.meeting_id = ${meeting.id}::uuid order by r.run_at`;
    assert.deepEqual(planned.map((p) => [p.lead, p.step_id, p.local_time, p.days]), [
      ["nudge", null, "10:00", 3],
      ["overdue", null, "10:00", 7],
    ]);
    const followUps = await followUpsOf(sql, meeting.id);

    await drainNow(sql, [followUps.nudge.run_id]);
    assert.equal((await followUpsOf(sql, meeting.id)).nudge.status, "succeeded");
    const [nudge] = await emailsFor(followUps.nudge.run_id);
    assert.equal(nudge.subject, "Still time to book your Consultation with Studio");
    assert.ok(nudge.html.includes(meeting.booking_url!.replaceAll("&", "&amp;")), "the same single-use link");
    const delivered = await sql`select 1 from public.deliveries where run_id = ${followUps.nudge.run_id}`;
    assert.equal(delivered.length, 1);
    assert.equal((await runsOf(sql, instanceId))[0].status, "waiting", "a nudge does not complete the step");
    assert.equal(await currentStep(sql, instanceId), s.stepIds[0]);

    await drainNow(sql, [followUps.overdue.run_id]);
    const [overdue] = await meetingsOf(sql, instanceId);
    assert.ok(overdue.overdue_at, "the meeting is marked overdue");
    const [waiting] = await runsOf(sql, instanceId);
    assert.equal(waiting.status, "waiting");
    assert.equal(waiting.last_error?.code, "booking_overdue");
    assert.match(waiting.last_error!.message, /not booked within 7 days/);
    assert.equal(await currentStep(sql, instanceId), s.stepIds[0]);

    await sim("/_sim/calendly/book", {
      body: { booking_url: meeting.booking_url, start_time: inFiveDays() },
    });
    assert.equal((await meetingsOf(sql, instanceId))[0].status, "scheduled");
    assert.equal((await runsOf(sql, instanceId))[0].status, "succeeded");
    assert.equal(await currentStep(sql, instanceId), s.stepIds[1], "the late booking moved the journey on");
  } finally {
    await sql.end();
  }
});

Deno.test("a booking cancels the follow-ups, and an overdue step with on_overdue skip moves the journey on", async () => {
  const sql = stackDb();
  try {
    const s = await calendlyScenario(sql, {
      awaiting_booking: { nudge_after_days: 2, overdue_after_days: 4, on_overdue: "skip" },
    });
    const booker = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    await waitRun(sql, booker, 0, "waiting");
    const [booked] = await meetingsOf(sql, booker);
    await sim("/_sim/calendly/book", { body: { booking_url: booked.booking_url, start_time: inFiveDays() } });
    const cancelled = await followUpsOf(sql, booked.id);
    assert.deepEqual([cancelled.nudge.status, cancelled.overdue.status], ["cancelled", "cancelled"]);

    const other = await createClient(sql, s.supplierId, { couple_name: "Jo & Kim" });
    const late = await startJourney(sql, s.supplierId, s.journeyId, other);
    await waitRun(sql, late, 0, "waiting");
    const [meeting] = await meetingsOf(sql, late);
    const followUps = await followUpsOf(sql, meeting.id);
    await drainNow(sql, [followUps.overdue.run_id]);
    const [skipped] = await runsOf(sql, late);
    assert.equal(skipped.status, "skipped");
    assert.equal(skipped.last_error?.code, "booking_overdue");
    assert.equal(await currentStep(sql, late), s.stepIds[1], "the journey moved on without the meeting");

    // The nudge due after that sends nothing: the step no longer waits.
    await drainNow(sql, [followUps.nudge.run_id]);
    const nudge = (await followUpsOf(sql, meeting.id)).nudge;
    assert.deepEqual([nudge.status, nudge.last_error?.code], ["skipped", "no_longer_awaited"]);
    assert.equal((await emailsFor(nudge.run_id)).length, 0);

    // A late booking is still recorded and reminded; the journey is not moved again.
    await sim("/_sim/calendly/book", {
      body: { booking_url: meeting.booking_url, start_time: inFiveDays() },
    });
    const [after] = await meetingsOf(sql, late);
    assert.equal(after.status, "scheduled");
    assert.equal((await runsOf(sql, late))[0].status, "skipped");
    assert.equal(await currentStep(sql, late), s.stepIds[1]);
    const reminders = await sql`
      select 1 from public.meeting_reminders mr join public.module_runs r on r.id = mr.run_id
      where mr.meeting_id = ${meeting.id}::uuid and mr.lead in ('24h', '2h') and r.status = 'pending'`;
    assert.equal(reminders.length, 2);
  } finally {
    await sql.end();
  }
});

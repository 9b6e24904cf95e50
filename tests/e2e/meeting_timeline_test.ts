// The wedding-timeline sync end to end: meeting-setup turns it on, a journey start or a wedding-date change
// enqueues a sync run, module-meeting upserts the wedding day and the milestones in the Google simulator
// under deterministic ids, moves them, deletes the unwanted ones, and fails clearly when Google is gone.
import assert from "node:assert/strict";
import { eventIdFor } from "../../shared/providers/scheduling/google_calendar.ts";
import type { Sql } from "../helpers/db.ts";
import { createClient, createJourney, startJourney } from "../helpers/fixtures.ts";
import {
  connectGoogle,
  drainNow,
  googleEvents,
  setup,
  timelineRunsOf,
  vendor,
  waitRun,
} from "../helpers/meeting.ts";
import { sim, stackDb, waitFor } from "../helpers/stack.ts";

/** The events the calendar shows (deleted ones left out), by date. */
async function calendar(refreshToken: string) {
  const events = (await googleEvents(refreshToken)).filter((e) => e.status !== "cancelled");
  return events.sort((a, b) => a.start.date!.localeCompare(b.start.date!));
}

const row = (e: Awaited<ReturnType<typeof calendar>>[number]) => [
  e.id,
  e.summary,
  e.start.date,
  e.end.date,
  e.transparency,
];

/**
 * A vendor with Google connected and the timeline sync on, a journey of wedding-anchored email steps (two
 * of them milestones) and a couple marrying on 2027-06-12 in London, whose journey has started.
 */
async function timelineScenario(sql: Sql, googleUser?: string) {
  const v = await vendor(sql);
  const refreshToken = await connectGoogle(sql, v.supplierId, googleUser);
  const on = await setup(v.jwt, { action: "timeline_sync", supplier_id: v.supplierId, enabled: true });
  assert.equal(on.status, 200, JSON.stringify(on.body));
  assert.deepEqual(on.body, { timeline_sync: true, queued: 0 });
  const { journeyId, stepIds } = await createJourney(sql, v.supplierId, [
    { timing: { anchor: "wedding_date", offset_days: -14, milestone: "Final details due" } },
    { timing: { anchor: "wedding_date", offset_days: -1 } },
    { timing: { anchor: "wedding_date", offset_days: 10, milestone: "Album delivered" } },
  ]);
  const clientId = await createClient(sql, v.supplierId, {
    couple_name: "Alex & Sam Lee",
    wedding_date: "2027-06-12",
    time_zone: "Europe/London",
  });
  const instanceId = await startJourney(sql, v.supplierId, journeyId, clientId);
  const ids = {
    wedding: await eventIdFor(`timeline:${clientId}:wedding`),
    details: await eventIdFor(`timeline:${instanceId}:${stepIds[0]}`),
    album: await eventIdFor(`timeline:${instanceId}:${stepIds[2]}`),
  };
  return { ...v, refreshToken, stepIds, clientId, instanceId, ids };
}

Deno.test("module-meeting syncs the wedding day and milestones to Google and moves them with the wedding date", async () => {
  const sql = stackDb();
  try {
    const s = await timelineScenario(sql);
    await waitRun(sql, s.instanceId, 0, "succeeded", timelineRunsOf);
    assert.deepEqual((await calendar(s.refreshToken)).map(row), [
      [s.ids.details, "Alex & Sam Lee: Final details due", "2027-05-29", "2027-05-30", "transparent"],
      [s.ids.wedding, "Wedding: Alex & Sam Lee", "2027-06-12", "2027-06-13", "opaque"],
      [s.ids.album, "Alex & Sam Lee: Album delivered", "2027-06-22", "2027-06-23", "transparent"],
    ]);
    const [wedding] = (await calendar(s.refreshToken)).filter((e) => e.id === s.ids.wedding);
    assert.equal(wedding.location, "The Old Barn");
    assert.ok((await googleEvents(s.refreshToken)).every((e) => !e.attendees && e.sendUpdates === "none"));

    // The wedding moves three weeks: the step runs are re-planned and the same events move with them.
    await sql`update public.clients set wedding_date = '2027-07-03' where id = ${s.clientId}::uuid`;
    await waitRun(sql, s.instanceId, 1, "succeeded", timelineRunsOf);
    assert.deepEqual((await calendar(s.refreshToken)).map(row), [
      [s.ids.details, "Alex & Sam Lee: Final details due", "2027-06-19", "2027-06-20", "transparent"],
      [s.ids.wedding, "Wedding: Alex & Sam Lee", "2027-07-03", "2027-07-04", "opaque"],
      [s.ids.album, "Alex & Sam Lee: Album delivered", "2027-07-13", "2027-07-14", "transparent"],
    ]);
    assert.equal((await googleEvents(s.refreshToken)).length, 3, "moved, not duplicated");
    const [stepRun] = await sql<{ run_at: Date }[]>`
      select run_at from public.module_runs
      where journey_instance_id = ${s.instanceId}::uuid and step_id = ${s.stepIds[0]}::uuid`;
    assert.equal(
      stepRun.run_at.toISOString(),
      "2027-06-19T09:00:00.000Z",
      "10:00 London, as the calendar says",
    );
    const recorded = await sql<{ event_id: string; event_date: string }[]>`
      select event_id, event_date::text from public.timeline_events
      where supplier_id = ${s.supplierId}::uuid order by event_date`;
    assert.deepEqual(recorded.map((r) => [r.event_id, r.event_date]), [
      [s.ids.details, "2027-06-19"],
      [s.ids.wedding, "2027-07-03"],
      [s.ids.album, "2027-07-13"],
    ]);
  } finally {
    await sql.end();
  }
});

Deno.test("a timeline sync run again after a lost answer leaves the same events and inserts none", async () => {
  const sql = stackDb();
  try {
    const s = await timelineScenario(sql);
    await waitRun(sql, s.instanceId, 0, "succeeded", timelineRunsOf);
    const before = (await calendar(s.refreshToken)).map(row);

    await sim("/_sim/faults", {
      body: { provider: "google", kind: "reset", method: "PUT", path: "/calendar/v3/calendars", count: 1 },
    });
    const [queued] = await sql<{ n: number }[]>`
      select public.enqueue_timeline_sync(array[${s.instanceId}::uuid]) as n`;
    assert.equal(queued.n, 1);
    const first = await waitFor("the re-run's first attempt to end", async () => {
      const r = (await timelineRunsOf(sql, s.instanceId))[1];
      return r?.status === "succeeded" || (r?.status === "pending" && r.attempts === 1) ? r : undefined;
    });
    if (first.status === "pending") {
      assert.equal(
        first.last_error?.code,
        "no_response",
        "an update is idempotent: the lost answer is retried",
      );
      await drainNow(sql, [first.id]);
    }
    const [rerun] = (await timelineRunsOf(sql, s.instanceId)).slice(1);
    assert.equal(rerun.status, "succeeded");
    assert.deepEqual((await calendar(s.refreshToken)).map(row), before);
    assert.equal((await googleEvents(s.refreshToken)).length, 3);
    const calls = await sql<{ operation: string; http_status: number | null }[]>`
      select operation, http_status from public.integration_calls where run_id = ${rerun.id} order by id`;
    assert.ok(calls.every((c) => c.operation !== "events.insert"), JSON.stringify(calls));
    assert.equal(calls.filter((c) => c.operation === "events.update" && c.http_status === 200).length, 3);

    // A sync still pending covers later changes (it reads the couple when it runs): no second one is queued.
    const queuedTwice = await sql.begin(async (tx) => {
      const counts: number[] = [];
      for (let i = 0; i < 2; i++) {
        const [r] = await tx<
          { n: number }[]
        >`select public.enqueue_timeline_sync(array[${s.instanceId}::uuid]) as n`;
        counts.push(r.n);
      }
      return counts;
    });
    assert.deepEqual(queuedTwice, [1, 0]);
    await waitRun(sql, s.instanceId, 2, "succeeded", timelineRunsOf);
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("a cancelled journey's milestones are deleted from Google and the wedding day stays", async () => {
  const sql = stackDb();
  try {
    const s = await timelineScenario(sql);
    await waitRun(sql, s.instanceId, 0, "succeeded", timelineRunsOf);
    await sql`update public.journey_instances set status = 'cancelled' where id = ${s.instanceId}::uuid`;
    await waitRun(sql, s.instanceId, 1, "succeeded", timelineRunsOf);
    assert.deepEqual((await calendar(s.refreshToken)).map((e) => e.id), [s.ids.wedding]);
    const deleted = (await googleEvents(s.refreshToken)).filter((e) => e.status === "cancelled");
    assert.deepEqual(deleted.map((e) => e.id).sort(), [s.ids.details, s.ids.album].sort());
    const recorded =
      await sql`select 1 from public.timeline_events where supplier_id = ${s.supplierId}::uuid`;
    assert.equal(recorded.length, 1);
  } finally {
    await sql.end();
  }
});

Deno.test("a timeline sync is held with 'reconnect Google Calendar' and runs on reconnect", async () => {
  const sql = stackDb();
  try {
    const googleUser = `vendor-${crypto.randomUUID().slice(0, 8)}@example.com`;
    const s = await timelineScenario(sql, googleUser);
    await waitRun(sql, s.instanceId, 0, "succeeded", timelineRunsOf);

    await sim("/_sim/google/revoke", { body: { refresh_token: s.refreshToken } });
    await sql`update public.clients set wedding_date = '2027-09-04' where id = ${s.clientId}::uuid`;
    const refused = await waitRun(sql, s.instanceId, 1, "held", timelineRunsOf);
    assert.equal(refused.attempts, 0, "a held run burns no attempt");
    assert.equal(refused.last_error?.code, "integration_disconnected");
    assert.match(refused.last_error!.message, /invalid_grant\): reconnect Google Calendar\)/);
    const [integration] = await sql<{ status: string }[]>`
      select status from public.supplier_integrations
      where supplier_id = ${s.supplierId}::uuid and provider = 'google_calendar'`;
    assert.equal(integration.status, "disconnected");

    // While disconnected, a sync is held at once, without calling Google.
    await sql`update public.clients set couple_name = 'Alex & Sam Lee-Park' where id = ${s.clientId}::uuid`;
    const again = await waitRun(sql, s.instanceId, 2, "held", timelineRunsOf);
    assert.equal(again.last_error?.code, "integration_disconnected");
    const calls = await sql`select 1 from public.integration_calls where run_id = ${again.id}`;
    assert.equal(calls.length, 0);

    // The vendor connects the same Google account again: the held syncs are done with the latest data.
    const refreshToken = await connectGoogle(sql, s.supplierId, googleUser);
    await waitRun(sql, s.instanceId, 1, "succeeded", timelineRunsOf);
    await waitRun(sql, s.instanceId, 2, "succeeded", timelineRunsOf);
    const wedding = (await calendar(refreshToken)).find((e) => e.id === s.ids.wedding);
    assert.deepEqual([wedding?.summary, wedding?.start.date], ["Wedding: Alex & Sam Lee-Park", "2027-09-04"]);
    assert.equal((await googleEvents(refreshToken)).length, 3);
  } finally {
    await sql.end();
  }
});

Deno.test("meeting-setup refuses to turn the timeline sync on without Google Calendar and refuses a bad body", async () => {
  const sql = stackDb();
  try {
    const v = await vendor(sql);
    const refused = await setup(v.jwt, { action: "timeline_sync", supplier_id: v.supplierId, enabled: true });
    assert.equal(refused.status, 409);
    assert.match((refused.body.error as { message: string }).message, /Connect Google Calendar/);
    const bad = await setup(v.jwt, { action: "timeline_sync", supplier_id: v.supplierId, enabled: "yes" });
    assert.equal(bad.status, 422);
    assert.deepEqual((bad.body.error as { details: { path: string }[] }).details.map((d) => d.path), [
      "enabled",
    ]);
    const settings =
      await sql`select 1 from public.supplier_integrations where supplier_id = ${v.supplierId}::uuid
      and provider = 'google_calendar'`;
    assert.equal(settings.length, 0, "nothing was written");
  } finally {
    await sql.end();
  }
});

// The wedding-timeline pieces without I/O: the milestone label on a step's timing, the all-day Google
// event of a timeline entry, and the exact calls of an upsert and a delete against a scripted Google.
import assert from "node:assert/strict";
import { fieldErrors } from "../../shared/http/validate.ts";
import { timelineEvent } from "../../shared/modules/meeting/timeline.ts";
import { stepTiming } from "../../shared/modules/timing.ts";
import {
  AccessTokens,
  deleteEvent,
  type GoogleClient,
  upsertEvent,
} from "../../shared/providers/scheduling/google_calendar.ts";

Deno.test("stepTiming() accepts a milestone label on a date-anchored step and refuses it otherwise", () => {
  const t = stepTiming.parse({ anchor: "wedding_date", offset_days: -14, milestone: " Final details due " });
  assert.equal(t.milestone, "Final details due");
  for (const bad of [{ milestone: "Call" }, { anchor: "wedding_date", milestone: "  " }]) {
    const parsed = stepTiming.safeParse(bad);
    assert.equal(parsed.success, false);
    assert.deepEqual(fieldErrors(parsed.error!).map((e) => e.path), ["milestone"]);
  }
});

Deno.test("timelineEvent() writes an all-day event ending the next day, the wedding opaque and milestones transparent", () => {
  const wedding = timelineEvent({
    kind: "wedding",
    key: "timeline:c:wedding",
    step_id: null,
    title: "Wedding: Alex & Sam",
    event_date: "2027-12-31",
    location: "The Old Barn",
  }, "jabc");
  assert.deepEqual(
    [wedding.id, wedding.start, wedding.end, wedding.transparency, wedding.location, wedding.status],
    ["jabc", { date: "2027-12-31" }, { date: "2028-01-01" }, "opaque", "The Old Barn", "confirmed"],
  );
  assert.equal(wedding.attendees, undefined, "nobody is invited or notified");
  const milestone = timelineEvent({
    kind: "milestone",
    key: "timeline:i:s",
    step_id: "s",
    title: "Alex & Sam: Album delivered",
    event_date: "2028-02-28",
    location: null,
  }, "jdef");
  assert.deepEqual([milestone.end, milestone.transparency, "location" in milestone], [
    { date: "2028-02-29" },
    "transparent",
    false,
  ]);
});

/** A Google that answers the token endpoint and then the scripted Calendar statuses, recording requests. */
function scriptedGoogle(statuses: number[]) {
  const seen: string[] = [];
  const fetchFn: typeof fetch = (input, init) => {
    const url = new URL(String(input));
    if (url.pathname === "/token") {
      return Promise.resolve(Response.json({ access_token: "ya29.x", expires_in: 3599 }));
    }
    seen.push(`${init?.method} ${url.pathname}?${url.searchParams}`);
    const status = statuses.shift()!;
    return Promise.resolve(
      status === 204 ? new Response(null, { status }) : Response.json({ id: "jabc" }, { status }),
    );
  };
  const client: GoogleClient = {
    clientId: "id",
    clientSecret: "secret",
    authUrl: "https://google.test/auth",
    tokenUrl: "https://google.test/token",
    calendarUrl: "https://google.test/calendar/v3",
    timeoutMs: 1000,
    fetch: fetchFn,
  };
  return { client, tokens: new AccessTokens(client), seen };
}

Deno.test("upsertEvent() updates, inserts when Google has no such event, and updates again when the insert lost a race", async () => {
  const g = scriptedGoogle([404, 409, 200]);
  const event = timelineEvent({
    kind: "milestone",
    key: "k",
    step_id: "s",
    title: "T",
    event_date: "2027-06-01",
    location: null,
  }, "jabc");
  const result = await upsertEvent(g.client, g.tokens, "1//r", "primary", event);
  assert.equal(result.answer.ok, true);
  assert.deepEqual(g.seen, [
    "PUT /calendar/v3/calendars/primary/events/jabc?sendUpdates=none",
    "POST /calendar/v3/calendars/primary/events?sendUpdates=none&conferenceDataVersion=1",
    "PUT /calendar/v3/calendars/primary/events/jabc?sendUpdates=none",
  ]);
  assert.deepEqual(result.calls.map((c) => [c.operation, c.http_status]), [
    ["token.refresh", 200],
    ["events.update", 404],
    ["events.insert", 409],
    ["events.update", 200],
  ]);
});

Deno.test("deleteEvent() counts an event already deleted (410) or missing (404) as deleted, and a 500 as a failure", async () => {
  const g = scriptedGoogle([410, 404, 204, 500]);
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await deleteEvent(g.client, g.tokens, "1//r", "primary", "jabc"));
  assert.deepEqual(results.map((r) => r.answer.ok), [true, true, true, false]);
  assert.equal(g.seen[0], "DELETE /calendar/v3/calendars/primary/events/jabc?sendUpdates=none");
});

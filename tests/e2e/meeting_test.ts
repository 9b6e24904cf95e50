// The meeting module end to end on the local stack: set-up through meeting-setup, transition → pg_net kick →
// module-meeting → Calendly / Google / Acuity simulators → signed booking webhooks → the journey moves on;
// cancellation, reminders, token refresh, invalid_grant, duplicate-event protection and forgeries.
import assert from "node:assert/strict";
import { gatewayUrl } from "../../stack/config.ts";
import { signCalendly } from "../../shared/webhooks/calendly.ts";
import { createClient, startJourney } from "../helpers/fixtures.ts";
import {
  calendlyScenario,
  connectGoogle,
  currentStep,
  drainNow,
  emailsFor,
  GOOGLE_CLIENT,
  googleEvents,
  googleScenario,
  meetingsOf,
  runsOf,
  scenario,
  setup,
  waitRun,
} from "../helpers/meeting.ts";
import { sim, stackDb, supabase, userJwt, waitFor } from "../helpers/stack.ts";

Deno.test("module-meeting emails a single-use Calendly link and the booking webhook advances the journey", async () => {
  const sql = stackDb();
  try {
    const s = await calendlyScenario(sql, {}, { time_zone: "America/New_York" });
    const subs = await sim<{ url: string; signing_key: string }[]>("/_sim/calendly/subscriptions");
    assert.ok(subs.some((x) => x.url.endsWith(`/functions/v1/webhook-calendly?supplier=${s.supplierId}`)));

    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const run = await waitRun(sql, instanceId, 0, "waiting");
    const [meeting] = await meetingsOf(sql, instanceId);
    const link = new URL(meeting.booking_url!);
    assert.match(link.pathname, /^\/d\//);
    assert.equal(link.searchParams.get("name"), "Alex & Sam Lee");
    assert.match(link.searchParams.get("email")!, /@example\.com$/);
    assert.equal(link.searchParams.get("utm_content"), meeting.id);
    const [email] = await emailsFor(run.id);
    assert.equal(email.subject, "Book your Consultation with Studio");
    assert.ok(
      email.html.includes(meeting.booking_url!.replaceAll("&", "&amp;")),
      "the email carries the link",
    );
    assert.equal(await currentStep(sql, instanceId), s.stepIds[0], "the journey waits at the meeting step");

    const start = new Date(Math.ceil((Date.now() + 3 * 86_400_000) / 3_600_000) * 3_600_000);
    const booked = await sim<{ invitee: string; statuses: number[] }>("/_sim/calendly/book", {
      body: { booking_url: meeting.booking_url, start_time: start.toISOString(), times: 2 },
    });
    assert.deepEqual(booked.statuses, [200, 200], "a duplicated delivery is acknowledged too");
    const [after] = await meetingsOf(sql, instanceId);
    assert.equal(after.status, "scheduled");
    assert.equal(after.external_id, booked.invitee);
    assert.equal(after.start_at!.getTime(), start.getTime());
    assert.match(after.join_url!, /^https:\/\/meet\.google\.com\//);
    assert.equal((await runsOf(sql, instanceId))[0].status, "succeeded");
    assert.equal(await currentStep(sql, instanceId), s.stepIds[1], "the booking moved the journey on");
    const inbox =
      await sql`select 1 from public.webhook_events where provider = 'calendly' and supplier_id = ${s.supplierId}::uuid`;
    assert.equal(inbox.length, 1, "the duplicate was deduplicated in the inbox");
    await assert.rejects(
      sim("/_sim/calendly/book", { body: { booking_url: meeting.booking_url } }),
      /409/,
      "the link books one meeting only",
    );

    // Reminders 24 h and 2 h before, the couple's zone in the text.
    const reminders = await sql<{ run_id: number; lead: string; run_at: Date; status: string }[]>`
      select mr.run_id::int, mr.lead, r.run_at, r.status::text from public.meeting_reminders mr
      join public.module_runs r on r.id = mr.run_id where mr.meeting_id = ${after.id}::uuid order by r.run_at`;
    assert.deepEqual(reminders.map((r) => [r.lead, r.status]), [["24h", "pending"], ["2h", "pending"]]);
    assert.equal(reminders[0].run_at.getTime(), start.getTime() - 86_400_000);
    assert.equal(reminders[1].run_at.getTime(), start.getTime() - 7_200_000);
    await drainNow(sql, [reminders[0].run_id]);
    const [reminder] = await emailsFor(reminders[0].run_id);
    const localTime = new Intl.DateTimeFormat("en-GB", {
      timeZone: "America/New_York",
      hour: "2-digit",
      minute: "2-digit",
    })
      .format(start);
    assert.match(reminder.subject, /^Reminder: your Consultation with Studio, /);
    assert.ok(reminder.subject.includes(localTime), `${reminder.subject} shows ${localTime} (New York)`);
  } finally {
    await sql.end();
  }
});

Deno.test("a Calendly cancellation cancels the reminders and reopens the step with a new link", async () => {
  const sql = stackDb();
  try {
    const s = await calendlyScenario(sql);
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    await waitRun(sql, instanceId, 0, "waiting");
    const [first] = await meetingsOf(sql, instanceId);
    const booked = await sim<{ invitee: string }>("/_sim/calendly/book", {
      body: {
        booking_url: first.booking_url,
        start_time: new Date(Date.now() + 5 * 86_400_000).toISOString(),
      },
    });
    assert.equal(await currentStep(sql, instanceId), s.stepIds[1]);

    const canceled = await sim<{ statuses: number[] }>("/_sim/calendly/cancel", {
      body: { invitee: booked.invitee },
    });
    assert.deepEqual(canceled.statuses, [200]);
    const [cancelledMeeting] = await meetingsOf(sql, instanceId);
    assert.equal(cancelledMeeting.status, "canceled");
    const reminders = await sql<{ status: string }[]>`
      select r.status::text from public.meeting_reminders mr join public.module_runs r on r.id = mr.run_id
      where mr.meeting_id = ${first.id}::uuid`;
    assert.deepEqual(reminders.map((r) => r.status), ["cancelled", "cancelled"]);
    assert.equal(await currentStep(sql, instanceId), s.stepIds[0], "the meeting step is open again");
    // The email step planned after the booking no longer applies.
    const later = await runsOf(sql, instanceId);
    assert.equal(later[1]?.status, "cancelled");
    // The reopened step is a new visit: a new run, a new meeting, a new single-use link.
    await waitRun(sql, instanceId, 2, "waiting");
    const meetings = await meetingsOf(sql, instanceId);
    assert.equal(meetings.length, 2);
    assert.notEqual(meetings[1].booking_url, first.booking_url);
  } finally {
    await sql.end();
  }
});

Deno.test("a Calendly reschedule moves the meeting and its reminders instead of cancelling it", async () => {
  const sql = stackDb();
  try {
    const s = await calendlyScenario(sql);
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    await waitRun(sql, instanceId, 0, "waiting");
    const [m] = await meetingsOf(sql, instanceId);
    const booked = await sim<{ invitee: string }>("/_sim/calendly/book", {
      body: { booking_url: m.booking_url, start_time: new Date(Date.now() + 5 * 86_400_000).toISOString() },
    });
    const moved = new Date(Math.ceil((Date.now() + 8 * 86_400_000) / 60_000) * 60_000);
    const res = await sim<{ invitee: string }>("/_sim/calendly/reschedule", {
      body: { invitee: booked.invitee, start_time: moved.toISOString() },
    });
    const [after] = await meetingsOf(sql, instanceId);
    assert.equal(after.status, "scheduled");
    assert.equal(after.external_id, res.invitee);
    assert.equal(after.start_at!.getTime(), moved.getTime());
    const reminders = await sql<{ status: string; run_at: Date }[]>`
      select r.status::text, r.run_at from public.meeting_reminders mr join public.module_runs r on r.id = mr.run_id
      where mr.meeting_id = ${m.id}::uuid order by r.id`;
    assert.deepEqual(reminders.map((r) => r.status), ["cancelled", "cancelled", "pending", "pending"]);
    assert.equal(reminders[2].run_at.getTime(), moved.getTime() - 86_400_000);
    assert.equal(await currentStep(sql, instanceId), s.stepIds[1], "the journey stays moved on");
  } finally {
    await sql.end();
  }
});

Deno.test("webhook-calendly refuses forged, stale and unsigned requests with 401 and changes nothing", async () => {
  const sql = stackDb();
  try {
    const s = await calendlyScenario(sql);
    const url = `${gatewayUrl}/functions/v1/webhook-calendly?supplier=${s.supplierId}`;
    const body = JSON.stringify({
      event: "invitee.canceled",
      created_at: new Date().toISOString(),
      payload: { uri: "https://api.calendly.com/scheduled_events/x/invitees/y", email: "a@example.com" },
    });
    const post = async (header: string | null, sent = body) => {
      const res = await fetch(url, {
        method: "POST",
        headers: header ? { "calendly-webhook-signature": header } : {},
        body: sent,
      });
      return { status: res.status, body: await res.json() };
    };
    const now = Math.floor(Date.now() / 1000);
    const forged = await post(await signCalendly("not-our-key", now, body));
    assert.equal(forged.status, 401);
    assert.match(forged.body.error.message, /no matching signature/);
    assert.equal((await post(null)).status, 401);
    const [secret] = await sql<{ key: string }[]>`
      select (d.decrypted_secret::jsonb ->> 'signing_key') as key from public.supplier_integrations i
      join vault.decrypted_secrets d on d.id = i.secret_id
      where i.supplier_id = ${s.supplierId}::uuid and i.provider = 'calendly'`;
    const stale = await post(await signCalendly(secret.key, now - 181, body));
    assert.equal(stale.status, 401);
    assert.match(stale.body.error.message, /tolerance/);
    const tampered = await post(
      await signCalendly(secret.key, now, body),
      body.replace("a@example", "b@example"),
    );
    assert.equal(tampered.status, 401);
    const noSupplier = await fetch(`${gatewayUrl}/functions/v1/webhook-calendly`, { method: "POST", body });
    assert.equal(noSupplier.status, 400);
    await noSupplier.body?.cancel();
    const valid = await post(await signCalendly(secret.key, now, "{not json"), "{not json");
    assert.equal(valid.status, 400, "a signed but malformed body is a 400, not a 500");
    const inbox = await sql`select 1 from public.webhook_events where supplier_id = ${s.supplierId}::uuid`;
    assert.equal(inbox.length, 0);
  } finally {
    await sql.end();
  }
});

Deno.test("meeting-setup validates a step config by field against Calendly and the connected providers", async () => {
  const sql = stackDb();
  try {
    const s = await calendlyScenario(sql);
    const inactive = await sim<{ uri: string }>("/_sim/calendly/event_types", {
      body: { access_token: s.token, name: "Old", duration: 60, active: false },
    });
    const check = (config: Record<string, unknown>) =>
      setup(s.jwt, { action: "validate_config", supplier_id: s.supplierId, config });
    const ok = await check({
      provider: "calendly",
      meeting_type: "Consultation",
      calendly_event_type: s.eventType,
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const bad = await check({
      provider: "calendly",
      meeting_type: "Consultation",
      calendly_event_type: inactive.uri,
    });
    assert.equal(bad.status, 422);
    const details = (bad.body.error as { details: { path: string }[] }).details.map((d) => d.path).sort();
    assert.deepEqual(details, ["calendly_event_type", "duration"]);
    const missing = await check({
      provider: "calendly",
      meeting_type: "Consultation",
      calendly_event_type: "https://api.calendly.com/event_types/nope",
    });
    assert.equal(missing.status, 422);
    assert.match(String((missing.body.error as { message: string }).message), /does not exist/);
    const google = await check({ provider: "google_calendar", meeting_type: "Call" });
    assert.equal(google.status, 422);
    assert.match(
      String((google.body.error as { message: string }).message),
      /provider: Google Calendar is not connected/,
    );
    const shape = await check({ provider: "calendly" });
    assert.equal(shape.status, 422);
    // Another supplier's user cannot use this supplier.
    const stranger = await setup(await userJwt(crypto.randomUUID()), {
      action: "validate_config",
      supplier_id: s.supplierId,
      config: {},
    });
    assert.equal(stranger.status, 404);
    // journey-steps validates meeting configs with the same schema.
    const app = await supabase(s.jwt);
    const { error } = await app.functions.invoke("journey-steps", {
      body: {
        journey_id: s.journeyId,
        position: 3,
        module_type: "meeting",
        config: { provider: "acuity", meeting_type: "Call" },
      },
    });
    assert.ok(error);
    const refused = await (error as { context: Response }).context.json();
    assert.deepEqual(refused.error.details.map((d: { path: string }) => d.path), ["acuity_appointment_type"]);
  } finally {
    await sql.end();
  }
});

Deno.test("the Google OAuth flow stores a refresh token from a signed state and refuses a forged one", async () => {
  const sql = stackDb();
  try {
    await sim("/_sim/config", { body: { provider: "google", ...GOOGLE_CLIENT } });
    const s = await scenario(sql, { provider: "google_calendar", meeting_type: "Call" });
    const started = await setup(s.jwt, { action: "google_authorize", supplier_id: s.supplierId });
    assert.equal(started.status, 200);
    const auth = new URL(started.body.authorization_url as string);
    assert.equal(auth.searchParams.get("access_type"), "offline");
    assert.equal(auth.searchParams.get("prompt"), "consent");
    assert.equal(auth.searchParams.get("redirect_uri"), `${gatewayUrl}/functions/v1/google-oauth-callback`);
    assert.equal(auth.searchParams.get("client_id"), GOOGLE_CLIENT.client_id);
    const state = auth.searchParams.get("state")!;

    // A forged state (signed with another key) is refused before any code is exchanged.
    const forged = new URL(`${gatewayUrl}/functions/v1/google-oauth-callback`);
    forged.searchParams.set("code", "4/whatever");
    forged.searchParams.set("state", state.slice(0, -4) + "AAAA");
    const refused = await fetch(forged);
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /expired/);

    const consent = await fetch(auth, { redirect: "manual" });
    assert.equal(consent.status, 302);
    const callback = consent.headers.get("location")!;
    await consent.body?.cancel();
    const done = await fetch(callback);
    assert.equal(done.status, 200, await done.clone().text());
    assert.match(await done.text(), /Google Calendar connected/);
    const [integration] = await sql<{ status: string; refresh_token: string }[]>`
      select i.status, d.decrypted_secret::jsonb ->> 'refresh_token' as refresh_token
      from public.supplier_integrations i join vault.decrypted_secrets d on d.id = i.secret_id
      where i.supplier_id = ${s.supplierId}::uuid and i.provider = 'google_calendar'`;
    assert.equal(integration.status, "connected");
    assert.match(integration.refresh_token, /^1\/\//);
    // The code is single-use: replaying the callback changes nothing.
    const replay = await fetch(callback);
    assert.equal(replay.status, 400);
    await replay.body?.cancel();
  } finally {
    await sql.end();
  }
});

Deno.test("module-meeting books a free Google slot in business hours with Meet and invites the couple", async () => {
  const sql = stackDb();
  try {
    const s = await googleScenario(sql);
    // Busy all of tomorrow and the day after (UTC), so the slot must come later and respect the buffer.
    const day = (n: number) => new Date(Math.floor(Date.now() / 86_400_000 + n) * 86_400_000);
    await sim("/_sim/google/busy", {
      body: {
        refresh_token: s.refreshToken,
        busy: [{ start: day(1).toISOString(), end: day(3).toISOString() }],
      },
    });
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    await waitRun(sql, instanceId, 0, "succeeded");
    const [event] = await googleEvents(s.refreshToken);
    const start = new Date(event.start.dateTime!);
    assert.ok(start.getTime() >= day(3).getTime() + 15 * 60_000, "outside the busy days and their buffer");
    assert.ok(start.getTime() >= Date.now() + 24 * 3_600_000, "after the notice time");
    const local = new Intl.DateTimeFormat("en-GB", {
      timeZone: "Europe/London",
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(start);
    const hour = Number(local.find((p) => p.type === "hour")!.value);
    assert.ok(hour >= 9 && hour <= 15, `starts at ${hour}:xx London time, inside 09:00-17:00 for 60 minutes`);
    assert.ok(!["Sat", "Sun"].includes(local.find((p) => p.type === "weekday")!.value));
    assert.equal(new Date(event.end.dateTime!).getTime() - start.getTime(), 3_600_000);
    assert.equal(event.sendUpdates, "all");
    assert.equal(event.attendees.length, 1);
    assert.match(event.hangoutLink!, /^https:\/\/meet\.google\.com\//);
    const [meeting] = await meetingsOf(sql, instanceId);
    assert.equal(meeting.status, "scheduled");
    assert.equal(meeting.external_id, event.id);
    assert.equal(meeting.join_url, event.hangoutLink);
    assert.equal(await currentStep(sql, instanceId), s.stepIds[1]);
  } finally {
    await sql.end();
  }
});

Deno.test("module-meeting creates one Google event when the insert's answer is lost and the run is retried", async () => {
  const sql = stackDb();
  try {
    const s = await googleScenario(sql);
    await sim("/_sim/faults", {
      body: { provider: "google", kind: "reset", method: "POST", path: "/calendar/v3/calendars", count: 1 },
    });
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const first = await waitFor("the first attempt to end", async () => {
      const r = (await runsOf(sql, instanceId))[0];
      return r?.status === "succeeded" || (r?.status === "pending" && r.attempts === 1) ? r : undefined;
    });
    if (first.status === "pending") {
      assert.equal(first.last_error?.code, "no_response");
      // Another event now sits where the lost one landed: the retry must find its own, not book twice.
      await drainNow(sql, [first.id]);
    }
    const run = (await runsOf(sql, instanceId))[0];
    assert.equal(run.status, "succeeded");
    const events = await googleEvents(s.refreshToken);
    assert.equal(events.length, 1, "exactly one event for the run");
    const [meeting] = await meetingsOf(sql, instanceId);
    assert.equal(meeting.external_id, events[0].id);
    const calls = await sql<{ operation: string; http_status: number | null }[]>`
      select operation, http_status from public.integration_calls where run_id = ${run.id} order by id`;
    assert.ok(
      calls.some((c) => c.operation === "events.insert" && c.http_status === 409),
      JSON.stringify(calls),
    );
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("module-meeting refreshes an expired Google access token once and carries on", async () => {
  const sql = stackDb();
  try {
    const s = await googleScenario(sql);
    const first = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    await waitRun(sql, first, 0, "succeeded");
    const before = await sim<{ google: { token_refreshes: number } }>("/_sim/stats?provider=google");
    await sim("/_sim/google/expire_access_tokens", { body: {} });
    const other = await createClient(sql, s.supplierId, { couple_name: "Jo & Kim" });
    const second = await startJourney(sql, s.supplierId, s.journeyId, other);
    const run = await waitRun(sql, second, 0, "succeeded");
    const after = await sim<{ google: { token_refreshes: number } }>("/_sim/stats?provider=google");
    assert.equal(after.google.token_refreshes - before.google.token_refreshes, 1);
    const calls = await sql<{ operation: string; http_status: number }[]>`
      select operation, http_status from public.integration_calls where run_id = ${run.id} order by id`;
    assert.deepEqual(calls.slice(0, 3).map((c) => [c.operation, c.http_status]), [
      ["freebusy.query", 401],
      ["token.refresh", 200],
      ["freebusy.query", 200],
    ]);
    assert.equal((await googleEvents(s.refreshToken)).length, 2);
  } finally {
    await sql.end();
  }
});

Deno.test("module-meeting holds the booking with 'reconnect Google Calendar' on invalid_grant and books once reconnected", async () => {
  const sql = stackDb();
  try {
    const s = await googleScenario(sql);
    await sim("/_sim/google/revoke", { body: { refresh_token: s.refreshToken } });
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const run = await waitRun(sql, instanceId, 0, "held");
    assert.equal(run.attempts, 0, "a held run burns no attempt");
    assert.equal(run.last_error?.code, "integration_disconnected");
    assert.match(run.last_error!.message, /reconnect Google Calendar/);
    const [integration] = await sql<{ status: string; status_reason: string }[]>`
      select status, status_reason from public.supplier_integrations
      where supplier_id = ${s.supplierId}::uuid and provider = 'google_calendar'`;
    assert.equal(integration.status, "disconnected");
    assert.match(integration.status_reason, /invalid_grant/);
    const [call] = await sql<{ http_status: number; error_code: string }[]>`
      select http_status, error_code from public.integration_calls where run_id = ${run.id}`;
    assert.deepEqual([call.http_status, call.error_code], [400, "invalid_grant"]);
    assert.equal(await currentStep(sql, instanceId), s.stepIds[0]);
    const [note] = await sql<{ kind: string }[]>`
      select kind from public.supplier_notifications where supplier_id = ${s.supplierId}::uuid`;
    assert.equal(note.kind, "integration_disconnected");

    // The vendor connects Google again: the held booking is made.
    await connectGoogle(sql, s.supplierId);
    const booked = await waitRun(sql, instanceId, 0, "succeeded");
    assert.equal(booked.id, run.id);
    assert.equal(booked.attempts, 1);
  } finally {
    await sql.end();
  }
});

Deno.test("an Acuity booking is verified, read back from the API and completes the step", async () => {
  const sql = stackDb();
  try {
    const s = await scenario(sql, {
      provider: "acuity",
      meeting_type: "Consultation",
      acuity_appointment_type: "42",
    });
    const userId = String(Math.floor(Math.random() * 1e9));
    const apiKey = `acuity-${crypto.randomUUID()}`;
    const connected = await setup(s.jwt, {
      action: "connect_acuity",
      supplier_id: s.supplierId,
      user_id: userId,
      api_key: apiKey,
      scheduler_url: "https://studio.as.me/",
    });
    assert.equal(connected.status, 201);
    await sim("/_sim/config", {
      body: { provider: "acuity", user_id: userId, api_key: apiKey, webhook_url: connected.body.webhook_url },
    });
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const run = await waitRun(sql, instanceId, 0, "waiting");
    const [meeting] = await meetingsOf(sql, instanceId);
    const link = new URL(meeting.booking_url!);
    assert.deepEqual(
      [
        link.searchParams.get("firstName"),
        link.searchParams.get("lastName"),
        link.searchParams.get("appointmentType"),
      ],
      ["Alex & Sam", "Lee", "42"],
    );
    assert.equal((await emailsFor(run.id)).length, 1);

    // A forged notification is refused before anything is read or written.
    const forged = await fetch(connected.body.webhook_url as string, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-acuity-signature": "AAAA" },
      body: "action=scheduled&id=1&calendarID=1&appointmentTypeID=42",
    });
    assert.equal(forged.status, 401);
    await forged.body?.cancel();

    const start = new Date(Math.ceil((Date.now() + 4 * 86_400_000) / 60_000) * 60_000);
    const booked = await sim<{ id: number; statuses: number[] }>("/_sim/acuity/book", {
      body: {
        scheduler_url: meeting.booking_url,
        user_id: userId,
        datetime: start.toISOString(),
        duration: 30,
      },
    });
    assert.deepEqual(booked.statuses, [200]);
    const [after] = await meetingsOf(sql, instanceId);
    assert.equal(after.status, "scheduled");
    assert.equal(after.external_id, String(booked.id));
    assert.equal(after.start_at!.getTime(), start.getTime());
    assert.equal(await currentStep(sql, instanceId), s.stepIds[1]);
  } finally {
    await sql.end();
  }
});

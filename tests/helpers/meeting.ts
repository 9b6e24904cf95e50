// Helpers for the meeting module's end-to-end tests: vendors with their integrations, journeys with a
// meeting step, reading runs, meetings and simulator state, and draining module-meeting on demand.
import assert from "node:assert/strict";
import { gatewayUrl } from "../../stack/config.ts";
import type { Sql } from "./db.ts";
import {
  type ClientOptions,
  connectResend,
  createClient,
  createJourney,
  createSupplier,
} from "./fixtures.ts";
import { invokeToken, newSvixSecret, sim, supabase, userJwt, waitFor } from "./stack.ts";

/** A module run as the tests read it. */
export type Run = {
  id: number;
  status: string;
  attempts: number;
  last_error: { code: string; message: string } | null;
};

/** An email the Resend simulator accepted. */
export type SimEmail = {
  id: string;
  to: string;
  subject: string;
  html: string;
  tags: { name: string; value: string }[];
};

/** Our OAuth client as the Google simulator knows it. */
export const GOOGLE_CLIENT = {
  client_id: "local-client.apps.googleusercontent.com",
  client_secret: "local-client-secret",
};

/** A supplier with Resend connected and a signed-in member. */
export async function vendor(sql: Sql) {
  const supplierId = await createSupplier(sql);
  await connectResend(sql, supplierId, {
    api_key: `re_test_${crypto.randomUUID().slice(0, 8)}`,
    webhook_secret: newSvixSecret(),
  });
  const userId = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${userId}::uuid, ${`${userId}@studio.example`})`;
  await sql`insert into public.supplier_members (supplier_id, user_id) values (${supplierId}::uuid, ${userId}::uuid)`;
  return { supplierId, userId, jwt: await userJwt(userId) };
}

/** A vendor, a journey [meeting step, a later email step] and a couple. */
export async function scenario(sql: Sql, meeting: Record<string, unknown>, client: ClientOptions = {}) {
  const v = await vendor(sql);
  const { journeyId, stepIds } = await createJourney(sql, v.supplierId, [
    { module_type: "meeting", config: meeting },
    { module_type: "email", config: { template: "welcome" }, timing: { offset_days: 30 } },
  ]);
  const clientId = await createClient(sql, v.supplierId, { couple_name: "Alex & Sam Lee", ...client });
  return { ...v, journeyId, stepIds, clientId };
}

/** Calls meeting-setup as the signed-in user. */
export async function setup(
  jwt: string,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gatewayUrl}/functions/v1/meeting-setup`, {
    method: "POST",
    headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** The runs of a journey instance's steps (not reminders, follow-ups or timeline syncs), oldest first. */
export async function runsOf(sql: Sql, instanceId: string): Promise<Run[]> {
  return await sql<Run[]>`
    select r.id::int, r.status::text, r.attempts, r.last_error from public.module_runs r
    where r.journey_instance_id = ${instanceId}::uuid and r.step_id is not null
      and not exists (select 1 from public.meeting_reminders m where m.run_id = r.id)
    order by r.id`;
}

/** The timeline sync runs of a journey instance, oldest first. */
export async function timelineRunsOf(sql: Sql, instanceId: string): Promise<Run[]> {
  return await sql<Run[]>`
    select r.id::int, r.status::text, r.attempts, r.last_error
    from public.timeline_syncs t join public.module_runs r on r.id = t.run_id
    where t.journey_instance_id = ${instanceId}::uuid
    order by r.id`;
}

/** Waits until the instance's run at `index` (of its step runs, or of another list) has `status`. */
export function waitRun(
  sql: Sql,
  instanceId: string,
  index: number,
  status: string,
  list: (sql: Sql, instanceId: string) => Promise<Run[]> = runsOf,
): Promise<Run> {
  return waitFor(`run ${index} to be ${status}`, async () => {
    const r = (await list(sql, instanceId))[index];
    return r?.status === status ? r : undefined;
  });
}

/** The meetings of a journey instance, oldest first. */
export async function meetingsOf(sql: Sql, instanceId: string) {
  return await sql<
    {
      id: string;
      status: string;
      booking_url: string | null;
      external_id: string | null;
      start_at: Date | null;
      join_url: string | null;
      overdue_at: Date | null;
    }[]
  >`select id::text, status, booking_url, external_id, start_at, join_url, overdue_at from public.meetings
    where journey_instance_id = ${instanceId}::uuid order by created_at`;
}

/** The step a journey instance is at. */
export async function currentStep(sql: Sql, instanceId: string): Promise<string> {
  const [row] = await sql<{ step: string }[]>`
    select current_step_id::text as step from public.journey_instances where id = ${instanceId}::uuid`;
  return row.step;
}

/** The emails a run sent, as the Resend simulator received them. */
export async function emailsFor(runId: number): Promise<SimEmail[]> {
  return await sim<SimEmail[]>(`/_sim/resend/emails?run=${runId}`);
}

/** Makes the given runs due and drains module-meeting the way app code invokes a function. */
export async function drainNow(sql: Sql, runIds: number[]) {
  await sql`update public.module_runs set run_at = now() where id = any(${runIds}::bigint[]) and status = 'pending'`;
  const client = await supabase();
  const { error } = await client.functions.invoke("module-meeting", {
    body: { action: "drain", wait: true },
    headers: { Authorization: `Bearer ${await invokeToken(sql)}` },
  });
  assert.equal(error, null);
}

/** A Calendly-connected scenario with an event type in the simulator. */
export async function calendlyScenario(
  sql: Sql,
  extra: Record<string, unknown> = {},
  client: ClientOptions = {},
) {
  const token = `cal_pat_${crypto.randomUUID()}`;
  const eventType = await sim<{ uri: string }>("/_sim/calendly/event_types", {
    body: { access_token: token, name: "Consultation", duration: 30 },
  });
  const s = await scenario(sql, {
    provider: "calendly",
    meeting_type: "Consultation",
    calendly_event_type: eventType.uri,
    ...extra,
  }, client);
  const connected = await setup(s.jwt, {
    action: "connect_calendly",
    supplier_id: s.supplierId,
    access_token: token,
  });
  assert.equal(connected.status, 201, JSON.stringify(connected.body));
  return { ...s, token, eventType: eventType.uri };
}

/**
 * Connects Google Calendar for a supplier as the OAuth callback would: a vendor who consented in the
 * simulator (`googleUser`, or a new one), the refresh token in Vault. Returns the refresh token (the
 * simulator's key to that user's calendar).
 */
export async function connectGoogle(sql: Sql, supplierId: string, googleUser?: string): Promise<string> {
  await sim("/_sim/config", { body: { provider: "google", ...GOOGLE_CLIENT } });
  const grant = await sim<{ refresh_token: string }>("/_sim/google/grants", {
    body: googleUser ? { user: googleUser } : {},
  });
  await sql`select public.connect_integration(${supplierId}::uuid, 'google_calendar',
    ${JSON.stringify({ refresh_token: grant.refresh_token })}, '{"calendar_id": "primary"}')`;
  return grant.refresh_token;
}

/** A Google-connected scenario with a Google Calendar meeting step. */
export async function googleScenario(sql: Sql, extra: Record<string, unknown> = {}) {
  const s = await scenario(sql, {
    provider: "google_calendar",
    meeting_type: "Consultation",
    duration: 60,
    buffer_time: 15,
    video_provider: "google_meet",
    ...extra,
  });
  return { ...s, refreshToken: await connectGoogle(sql, s.supplierId) };
}

/** A Google Calendar event as the simulator holds it. */
export type GoogleEvent = {
  id: string;
  status: string;
  summary: string;
  location?: string;
  transparency?: string;
  start: { dateTime?: string; date?: string };
  end: { dateTime?: string; date?: string };
  attendees: { email: string }[];
  hangoutLink?: string;
  sendUpdates: string;
};

/** Every event of the calendar the refresh token opens, deleted (`cancelled`) ones included. */
export async function googleEvents(refreshToken: string): Promise<GoogleEvent[]> {
  return await sim<GoogleEvent[]>("/_sim/google/events", { body: { refresh_token: refreshToken } });
}

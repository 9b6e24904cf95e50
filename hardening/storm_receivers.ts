// The storm's receivers whose side effects are not delivery statuses (Calendly and Acuity bookings,
// Typeform and Jotform submissions, CRM changes): their stories, fixtures, signed payloads and the audit.
import { gatewayUrl, simulatorUrl } from "../stack/config.ts";
import { pgArray } from "../shared/db/client.ts";
import { signLinkToken } from "../shared/links/tokens.ts";
import { signAcuity } from "../shared/webhooks/acuity.ts";
import { signCalendly } from "../shared/webhooks/calendly.ts";
import { toHex } from "../shared/webhooks/hmac.ts";
import { signTypeform } from "../shared/webhooks/typeform.ts";
import type { Sql } from "../tests/helpers/db.ts";
import {
  connectProvider,
  createClient,
  createJourney,
  createSupplier,
  startJourney,
} from "../tests/helpers/fixtures.ts";
import { linksSecret } from "../tests/helpers/modules.ts";
import { sim } from "../tests/helpers/stack.ts";

/** The receivers whose webhooks change meetings, form requests or couples. */
export const SIDE_EFFECT_RECEIVERS = ["calendly", "acuity", "typeform", "jotform", "crm-inbound"] as const;
/** One of {@link SIDE_EFFECT_RECEIVERS}. */
export type SideEffectReceiver = typeof SIDE_EFFECT_RECEIVERS[number];

const isMeeting = (r: SideEffectReceiver): r is "calendly" | "acuity" => r === "calendly" || r === "acuity";
const isForm = (r: SideEffectReceiver): r is "typeform" | "jotform" => r === "typeform" || r === "jotform";

/** A meeting, form request or couple the side-effect events are about. */
export type PlannedSubject = {
  receiver: SideEffectReceiver;
  /** Meetings: the slot the meeting must end on (ISO), or null when it must end cancelled. */
  finalStart?: string | null;
  /** Calendly: the invitee the meeting must end on. */
  finalInvitee?: string;
  /** Acuity: the slot first booked (the appointment is moved or cancelled before its notifications). */
  bookedStart?: string;
};

/** One side-effect event: what is put in its payload besides the subject's fixture. */
export type SubjectEvent = {
  receiver: SideEffectReceiver;
  /** The plan's name of the event (Acuity and Jotform ids are the simulator's, see the fixture). */
  eventId: string;
  subject: number;
  type: string;
  /** Recorded in the inbox (webhook_events)? Forms are deduplicated on their request instead, and a
   * Calendly reschedule's cancellation half is acknowledged and dropped. */
  inboxed: boolean;
  fields: Record<string, string | boolean | null>;
};

/** Random hex of `bytes` bytes, for ids and secrets. */
export function hex(bytes: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

const inviteeUri = () => `https://api.calendly.com/scheduled_events/${hex(8)}/invitees/${hex(8)}`;
const day = (d: number) => new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + d * 86_400_000);

type Planned = { subject: PlannedSubject; events: Omit<SubjectEvent, "subject">[] };

function planCalendly(random: () => number): Planned {
  const receiver = "calendly";
  const first = inviteeUri();
  const start = day(10 + Math.floor(random() * 20));
  const t0 = new Date(Date.now() - 60_000);
  const later = new Date(t0.getTime() + 30_000);
  const created = (uri: string, at: Date, old: string | null, createdAt: Date) => ({
    receiver,
    eventId: `invitee.created:${uri}`,
    type: "invitee.created",
    inboxed: true,
    fields: { uri, start: at.toISOString(), old_invitee: old, created_at: createdAt.toISOString() },
  } as const);
  const canceled = (uri: string, rescheduled: boolean, at = later) => ({
    receiver,
    eventId: `invitee.canceled:${uri}`,
    type: "invitee.canceled",
    inboxed: !rescheduled,
    fields: { uri, rescheduled, created_at: at.toISOString() },
  } as const);
  const story = random();
  if (story < 0.4) {
    return {
      subject: { receiver, finalStart: start.toISOString(), finalInvitee: first },
      events: [created(first, start, null, t0)],
    };
  }
  if (story < 0.7) {
    return {
      subject: { receiver, finalStart: null },
      events: [created(first, start, null, t0), canceled(first, false)],
    };
  }
  const second = inviteeUri();
  const moved = day(31 + Math.floor(random() * 20));
  const rescheduled = [
    created(first, start, null, t0),
    canceled(first, true),
    created(second, moved, first, later),
  ];
  if (story < 0.85) {
    return {
      subject: { receiver, finalStart: moved.toISOString(), finalInvitee: second },
      events: rescheduled,
    };
  }
  // Rescheduled, then the new booking cancelled too.
  return {
    subject: { receiver, finalStart: null },
    events: [...rescheduled, canceled(second, false, new Date(later.getTime() + 30_000))],
  };
}

function planAcuity(random: () => number): Planned {
  const receiver = "acuity";
  const start = day(10 + Math.floor(random() * 20)).toISOString();
  const notice = (
    action: string,
  ) => ({ receiver, eventId: action, type: action, inboxed: true, fields: {} } as const);
  const story = random();
  if (story < 0.4) {
    return { subject: { receiver, finalStart: start, bookedStart: start }, events: [notice("scheduled")] };
  }
  if (story < 0.7) {
    return {
      subject: { receiver, finalStart: null, bookedStart: start },
      events: [notice("scheduled"), notice("canceled")],
    };
  }
  const moved = day(31 + Math.floor(random() * 20)).toISOString();
  return {
    subject: { receiver, finalStart: moved, bookedStart: start },
    events: [notice("scheduled"), notice("rescheduled")],
  };
}

/**
 * Plans the events of one subject, in story order (the caller shuffles their times):
 * Calendly: booked; booked then cancelled; booked then rescheduled (the new invitee names the old one,
 * and the old one's cancellation says `rescheduled`); rescheduled then cancelled. Acuity: the same three, as Acuity's notifications
 * (scheduled, canceled, rescheduled), which carry only the appointment id. Typeform and Jotform: one
 * submission, or two distinct ones (the couple submitted twice). CRM: one or two changes of different fields.
 */
export function planSubject(receiver: SideEffectReceiver, random: () => number): Planned {
  if (receiver === "calendly") return planCalendly(random);
  if (receiver === "acuity") return planAcuity(random);
  if (isForm(receiver)) {
    const submissions = random() < 0.2 ? 2 : 1;
    return {
      subject: { receiver },
      events: Array.from({ length: submissions }, () => {
        const id = receiver === "typeform" ? `01${hex(12).toUpperCase()}` : `jf-${hex(8)}`;
        return {
          receiver,
          eventId: id,
          type: "form_response",
          inboxed: false,
          fields: { venue: `Venue ${id}` },
        };
      }),
    };
  }
  const changes = random() < 0.3 ? ["venue", "couple_name"] : ["venue"];
  return {
    subject: { receiver },
    events: changes.map((field) => {
      const id = `storm-${hex(10)}`;
      return {
        receiver,
        eventId: id,
        type: "couple.updated",
        inboxed: true,
        fields: { [field]: `${field} ${id}` },
      };
    }),
  };
}

/** What one subject's webhooks need and its audit reads. */
export type SubjectRef = {
  clientId: string;
  /** Meetings: the meeting the booking must land on, and the journey's step after the meeting step. */
  meetingId?: string;
  nextStepId?: string;
  /** Meetings: the waiting run; forms: the form step's run. */
  runId?: number;
  instanceId?: string;
  /** Forms: the signed journey_token. */
  token?: string;
  /** Acuity: the simulator's appointment id. */
  appointmentId?: number;
};

/** The side-effect receivers' suppliers, credentials and subjects. */
export type SubjectFixture = {
  supplierIds: Record<SideEffectReceiver, string>;
  calendlySigningKey: string;
  acuity: { user_id: string; api_key: string };
  typeformSecret: string;
  jotform: { api_key: string; webhook_token: string };
  crmInboundUrl: string;
  subjects: SubjectRef[];
  /** Jotform: the simulator's submission id of each planned submission (by the plan's event id). */
  jotformSubmissions: Map<string, string>;
};

const TYPEFORM_FORM = "StormForm1";
const JOTFORM_FORM = "242000000001";

/** Connects each side-effect receiver's supplier (credentials in Vault) and makes its journey. */
async function connectSuppliers(
  sql: Sql,
  f: SubjectFixture,
): Promise<Partial<Record<SideEffectReceiver, { journeyId: string; stepIds: string[] }>>> {
  const later = { anchor: "wedding_date", offset_days: -7, at: "10:00" };
  const journeys: Partial<Record<SideEffectReceiver, { journeyId: string; stepIds: string[] }>> = {};
  for (const receiver of SIDE_EFFECT_RECEIVERS) {
    const supplierId = await createSupplier(sql, { name: `Storm ${receiver}` });
    f.supplierIds[receiver] = supplierId;
    if (isMeeting(receiver)) {
      await connectProvider(
        sql,
        supplierId,
        receiver,
        receiver === "calendly" ? { access_token: hex(16), signing_key: f.calendlySigningKey } : f.acuity,
      );
      // on_cancel keep: a cancellation leaves the journey where it is (no new visit to audit around).
      journeys[receiver] = await createJourney(sql, supplierId, [
        {
          module_type: "meeting",
          config: { provider: receiver, meeting_type: "Consultation", on_cancel: "keep" },
          timing: later,
        },
        { timing: later },
      ]);
    } else if (isForm(receiver)) {
      const typeform = receiver === "typeform";
      await connectProvider(
        sql,
        supplierId,
        receiver,
        typeform ? { webhook_secret: f.typeformSecret } : f.jotform,
      );
      journeys[receiver] = await createJourney(sql, supplierId, [{
        module_type: "form",
        config: {
          form: { provider: receiver, form_id: typeform ? TYPEFORM_FORM : JOTFORM_FORM },
          fields: { venue: typeform ? "venue_ref" : "venue" },
        },
        timing: later,
      }]);
    } else {
      await connectProvider(sql, supplierId, "crm_webhooks", { inbound_secret: hex(16) }, {
        crm: "honeybook",
        url: `${simulatorUrl}/hooks/${crypto.randomUUID()}`,
        field_map: { venue: "venue", couple_name: "couple_name" },
      });
      const [{ url }] = await sql<
        { url: string }[]
      >`select public.crm_inbound_url(${supplierId}::uuid) as url`;
      // The stack's public URL may differ from the gateway this run talks to: keep only path and query.
      const u = new URL(url);
      f.crmInboundUrl = `${gatewayUrl}${u.pathname}${u.search}`;
    }
  }
  await sim("/_sim/config", { body: { provider: "acuity", ...f.acuity } });
  return journeys;
}

/**
 * Creates one supplier per side-effect receiver and its subjects: for bookings a journey waiting at a
 * meeting step (a `waiting` run, as module-meeting leaves it after sending the link, and its meeting)
 * and, for Acuity, the appointment in the simulator already in its final state (Acuity's notifications
 * carry only an id: the receiver reads the appointment back); for forms an open form request, its
 * signed token and, for Jotform, the submissions in the simulator; for the CRM a couple.
 */
export async function prepareSubjects(
  sql: Sql,
  subjects: PlannedSubject[],
  events: SubjectEvent[],
): Promise<SubjectFixture> {
  const f: SubjectFixture = {
    supplierIds: {} as Record<SideEffectReceiver, string>,
    calendlySigningKey: hex(24),
    acuity: { user_id: String(100000 + Math.floor(Math.random() * 1e9)), api_key: `acuity-${hex(12)}` },
    typeformSecret: hex(24),
    jotform: { api_key: hex(16), webhook_token: hex(16) },
    crmInboundUrl: "",
    subjects: [],
    jotformSubmissions: new Map(),
  };
  const journeys = await connectSuppliers(sql, f);
  const secret = await linksSecret(sql);
  for (const [n, s] of subjects.entries()) {
    const supplierId = f.supplierIds[s.receiver];
    const email = `storm-${s.receiver}-${n}-${hex(4)}@example.com`;
    const clientId = await createClient(sql, supplierId, { wedding_date: "2028-06-10", email });
    const ref: SubjectRef = { clientId };
    f.subjects.push(ref);
    const journey = journeys[s.receiver];
    if (!journey) continue;
    ref.instanceId = await startJourney(sql, supplierId, journey.journeyId, clientId);
    const [run] = await sql<{ id: string }[]>`
      select id::text from public.module_runs where journey_instance_id = ${ref.instanceId}::uuid`;
    if (!run) throw new Error(`Cannot prepare the storm: no run planned for the ${s.receiver} journey`);
    ref.runId = Number(run.id);
    if (isMeeting(s.receiver)) {
      ref.nextStepId = journey.stepIds[1];
      await sql`update public.module_runs set status = 'waiting', updated_at = now() where id = ${ref.runId}`;
      const [m] = await sql<
        { id: string }[]
      >`select (public.meeting_for_run(${ref.runId}, ${s.receiver})).id::text`;
      ref.meetingId = m.id;
      if (s.receiver === "acuity") ref.appointmentId = await bookAcuity(f, s, email);
      continue;
    }
    const [r] = await sql<{ id: string }[]>`
      select (public.open_form_request(${ref.runId}, ${s.receiver},
        ${s.receiver === "typeform" ? TYPEFORM_FORM : JOTFORM_FORM}, false, null)).id::text`;
    const now = new Date();
    ref.token = await signLinkToken(
      secret,
      "form",
      { sub: r.id, run: ref.runId, cpl: clientId },
      now,
      new Date(now.getTime() + 30 * 86_400_000),
    );
    if (s.receiver !== "jotform") continue;
    for (const e of events.filter((x) => x.subject === n)) {
      const stored = await sim<{ submission: { id: string } }>("/_sim/jotform/submissions", {
        body: {
          api_key: f.jotform.api_key,
          form_id: JOTFORM_FORM,
          answers: {
            "3": { name: "journey_token", answer: ref.token },
            "4": { name: "venue", answer: e.fields.venue },
          },
        },
      });
      f.jotformSubmissions.set(e.eventId, stored.submission.id);
    }
  }
  return f;
}

/** Books (then moves or cancels) an Acuity appointment in the simulator, as the couple did. */
async function bookAcuity(f: SubjectFixture, s: PlannedSubject, email: string): Promise<number> {
  const url = new URL("https://studio.as.me/");
  url.search = new URLSearchParams({ firstName: "Alex", lastName: "Lee", email, appointmentType: "42" })
    .toString();
  const booked = await sim<{ id: number }>("/_sim/acuity/book", {
    body: { scheduler_url: url.toString(), user_id: f.acuity.user_id, datetime: s.bookedStart, duration: 30 },
  });
  if (s.finalStart === null) await sim(`/_sim/acuity/appointments/${booked.id}/cancel`, { body: {} });
  else if (s.finalStart !== s.bookedStart) {
    await sim(`/_sim/acuity/appointments/${booked.id}/reschedule`, { body: { datetime: s.finalStart } });
  }
  return booked.id;
}

/** A webhook ready to fire: the same bytes and headers for every copy. */
export type SignedWebhook = { url: string; headers: Record<string, string>; body: string };

const receiverUrl = (f: SubjectFixture, r: SideEffectReceiver, query = "") =>
  `${gatewayUrl}/functions/v1/webhook-${r}?supplier=${f.supplierIds[r]}${query}`;
const json = { "content-type": "application/json" };

/** Builds and signs a side-effect event as its source does. */
export async function signSubjectEvent(f: SubjectFixture, e: SubjectEvent): Promise<SignedWebhook> {
  const ref = f.subjects[e.subject];
  switch (e.receiver) {
    case "calendly": {
      const start = e.fields.start as string | undefined;
      const body = JSON.stringify({
        event: e.type,
        created_at: e.fields.created_at,
        payload: {
          uri: e.fields.uri,
          email: `storm-${e.subject}@example.com`,
          rescheduled: e.fields.rescheduled ?? false,
          old_invitee: e.fields.old_invitee ?? null,
          tracking: { utm_content: ref.meetingId },
          ...(start
            ? {
              scheduled_event: {
                start_time: start,
                end_time: new Date(Date.parse(start) + 1_800_000).toISOString(),
                location: { join_url: "https://meet.google.com/abc-defg-hij" },
              },
            }
            : {}),
        },
      });
      const signature = await signCalendly(f.calendlySigningKey, Math.floor(Date.now() / 1000), body);
      return {
        url: receiverUrl(f, e.receiver),
        body,
        headers: { ...json, "calendly-webhook-signature": signature },
      };
    }
    case "acuity": {
      const body = new URLSearchParams({
        action: e.type,
        id: String(ref.appointmentId),
        calendarID: "1",
        appointmentTypeID: "42",
      }).toString();
      return {
        url: receiverUrl(f, e.receiver),
        body,
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-acuity-signature": await signAcuity(f.acuity.api_key, body),
        },
      };
    }
    case "typeform": {
      const body = JSON.stringify({
        event_id: e.eventId,
        event_type: e.type,
        form_response: {
          form_id: TYPEFORM_FORM,
          hidden: { journey_token: ref.token },
          answers: [{
            type: "text",
            text: e.fields.venue,
            field: { id: "f1", ref: "venue_ref", type: "short_text" },
          }],
        },
      });
      return {
        url: receiverUrl(f, e.receiver),
        body,
        headers: { ...json, "typeform-signature": await signTypeform(f.typeformSecret, body) },
      };
    }
    case "jotform": {
      // Jotform posts multipart/form-data with the ids (and a copy of the answers the receiver ignores).
      const form = new FormData();
      form.set("formID", JOTFORM_FORM);
      form.set("submissionID", f.jotformSubmissions.get(e.eventId)!);
      form.set("rawRequest", JSON.stringify({ q4_venue: e.fields.venue }));
      const encoded = new Response(form);
      return {
        url: receiverUrl(f, e.receiver, `&token=${f.jotform.webhook_token}`),
        body: await encoded.text(),
        headers: { "content-type": encoded.headers.get("content-type")! },
      };
    }
    case "crm-inbound":
      return {
        url: f.crmInboundUrl,
        body: JSON.stringify({ type: e.type, id: e.eventId, couple: { id: ref.clientId, ...e.fields } }),
        headers: json,
      };
  }
}

/** What the side-effect audit found; every figure but the counts must be 0. */
export type SubjectAudit = {
  subjects: Record<SideEffectReceiver, number>;
  inboxRows: number;
  lostEvents: number;
  extraInboxRows: number;
  wrongMeetings: number;
  wrongJourneys: number;
  wrongReminders: number;
  wrongForms: number;
  wrongCouples: number;
  crmEchoes: number;
  problems: string[];
};

/** The inbox key (provider:event_id) each receiver records an event under. */
function inboxKey(f: SubjectFixture, subjects: PlannedSubject[], e: SubjectEvent): string {
  if (e.receiver === "crm-inbound") return `crm_inbound:${f.supplierIds[e.receiver]}:${e.eventId}`;
  if (e.receiver === "acuity") {
    // Acuity names an event by account, action, appointment and the slot read back (the final one).
    const s = subjects[e.subject];
    const appointment = f.subjects[e.subject].appointmentId;
    return `acuity:${f.acuity.user_id}:${e.type}:${appointment}:${s.finalStart ?? s.bookedStart}`;
  }
  return `${e.receiver}:${e.eventId}`;
}

/** Checks meetings, runs, journeys, form requests, couples and the inbox against the plan. */
export async function auditSubjects(
  sql: Sql,
  subjects: PlannedSubject[],
  events: SubjectEvent[],
  f: SubjectFixture,
): Promise<SubjectAudit> {
  const suppliers = pgArray(Object.values(f.supplierIds));
  const inbox = await sql<{ provider: string; event_id: string; processed: boolean }[]>`
    select provider, event_id, processed_at is not null as processed from public.webhook_events
    where supplier_id = any(${suppliers}::uuid[])`;
  const inboxKeys = new Set(inbox.filter((r) => r.processed).map((r) => `${r.provider}:${r.event_id}`));
  const inboxed = events.filter((e) => e.inboxed);
  const lost = inboxed.filter((e) => !inboxKeys.has(inboxKey(f, subjects, e))).length;

  const meetings = new Map(
    (await sql<
      {
        id: string;
        status: string;
        external_id: string | null;
        start_at: Date | null;
        run_status: string;
        current: string | null;
        next_runs: number;
        reminders: number;
      }[]
    >`
      select m.id::text, m.status, m.external_id, m.start_at, r.status::text as run_status,
        i.current_step_id::text as current,
        (select count(*)::int from public.module_runs n where n.journey_instance_id = i.id
          and n.step_id <> m.step_id) as next_runs,
        (select count(*)::int from public.meeting_reminders mr join public.module_runs x on x.id = mr.run_id
          where mr.meeting_id = m.id and x.status = 'pending') as reminders
      from public.meetings m join public.module_runs r on r.id = m.run_id
      join public.journey_instances i on i.id = m.journey_instance_id
      where m.supplier_id = any(${suppliers}::uuid[])`).map((m) => [m.id, m]),
  );
  const forms = new Map(
    (await sql<
      { run_id: string; status: string; submission_ref: string | null; venue: string | null; due: boolean }[]
    >`
      select f.run_id::text, f.status, f.submission_ref, f.answers ->> 'venue' as venue,
        (r.run_at <= now() or r.status <> 'pending') as due
      from public.form_requests f join public.module_runs r on r.id = f.run_id
      where f.supplier_id = any(${suppliers}::uuid[])`).map((r) => [Number(r.run_id), r]),
  );
  const couples = new Map(
    (await sql<{ id: string; venue: string | null; couple_name: string; changes: number; echoes: number }[]>`
      select c.id::text, c.venue, c.couple_name,
        (select count(*)::int from public.crm_events e where e.client_id = c.id and e.event_type = 'couple.updated') as changes,
        (select count(*)::int from public.crm_events e join public.module_runs r on r.crm_event_id = e.id
          where e.client_id = c.id) as echoes
      from public.clients c where c.supplier_id = ${f.supplierIds["crm-inbound"]}::uuid`).map((
      c,
    ) => [c.id, c]),
  );

  const bySubject = new Map<number, SubjectEvent[]>();
  for (const e of events) bySubject.set(e.subject, [...(bySubject.get(e.subject) ?? []), e]);
  const wrongs = { meetings: 0, journeys: 0, reminders: 0, forms: 0, couples: 0 };
  let echoes = 0;
  const samples: string[] = [];
  const wrong = (what: keyof typeof wrongs, n: number, found: unknown) => {
    wrongs[what]++;
    if (samples.length < 3) {
      const story = (bySubject.get(n) ?? []).map((e) =>
        `${e.type}${e.fields.old_invitee ? " (reschedule)" : ""}`
      );
      samples.push(
        `first wrong ${what}: subject ${n} [${story.join(", ")}] ${JSON.stringify(subjects[n])} found ${
          JSON.stringify(found)
        }`,
      );
    }
  };
  subjects.forEach((s, n) => {
    const evs = bySubject.get(n) ?? [];
    const ref = f.subjects[n];
    if (isMeeting(s.receiver)) {
      const m = meetings.get(ref.meetingId!);
      const external = s.receiver === "calendly" ? s.finalInvitee : String(ref.appointmentId);
      if (!m) return wrong("meetings", n, m);
      if (s.finalStart === null) {
        if (m.status !== "canceled") wrong("meetings", n, m);
        if (m.reminders !== 0) wrong("reminders", n, m);
        // A cancellation may come before its booking: the step is then never completed (on_cancel: keep).
        if (m.next_runs > 1 || (m.run_status === "succeeded") !== (m.next_runs === 1)) {
          wrong("journeys", n, m);
        }
        return;
      }
      if (
        m.status !== "scheduled" || m.external_id !== external || m.start_at?.toISOString() !== s.finalStart
      ) {
        wrong("meetings", n, m);
      }
      if (m.reminders !== 2) wrong("reminders", n, m);
      // Completed once: the run succeeded and exactly one run of the next step was planned.
      if (m.run_status !== "succeeded" || m.next_runs !== 1 || m.current !== ref.nextStepId) {
        wrong("journeys", n, m);
      }
    } else if (isForm(s.receiver)) {
      const r = forms.get(ref.runId!);
      const e = evs.find((x) =>
        (s.receiver === "jotform" ? f.jotformSubmissions.get(x.eventId) : x.eventId) === r?.submission_ref
      );
      // Exactly one submission won, its answers are the ones stored, and the form's run was made due.
      if (r?.status !== "submitted" || !e || r.venue !== e.fields.venue || !r.due) wrong("forms", n, r);
    } else {
      const c = couples.get(ref.clientId);
      const want = Object.assign({}, ...evs.map((e) => e.fields));
      if (
        !c || c.venue !== want.venue || (want.couple_name && c.couple_name !== want.couple_name) ||
        c.changes !== evs.length
      ) wrong("couples", n, c);
      echoes += c?.echoes ?? 0;
    }
  });
  const count = (r: SideEffectReceiver) => subjects.filter((s) => s.receiver === r).length;
  const audit: SubjectAudit = {
    subjects: Object.fromEntries(SIDE_EFFECT_RECEIVERS.map((r) => [r, count(r)])) as Record<
      SideEffectReceiver,
      number
    >,
    inboxRows: inbox.length,
    lostEvents: lost,
    extraInboxRows: inbox.length - inboxed.length,
    wrongMeetings: wrongs.meetings,
    wrongJourneys: wrongs.journeys,
    wrongReminders: wrongs.reminders,
    wrongForms: wrongs.forms,
    wrongCouples: wrongs.couples,
    crmEchoes: echoes,
    problems: [],
  };
  const zero: [string, number][] = [
    ["side-effect events lost", lost],
    ["unexpected side-effect inbox rows", audit.extraInboxRows],
    ["wrong meetings", wrongs.meetings],
    ["wrong journeys after bookings", wrongs.journeys],
    ["wrong meeting reminders", wrongs.reminders],
    ["wrong form requests", wrongs.forms],
    ["wrong couples after CRM changes", wrongs.couples],
    ["CRM changes echoed back", echoes],
  ];
  for (const [what, n] of zero) if (n !== 0) audit.problems.push(`${what}: ${n}`);
  audit.problems.push(...samples);
  return audit;
}

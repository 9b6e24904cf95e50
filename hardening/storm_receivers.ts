// The storm's receivers whose side effects are not delivery statuses (Calendly bookings, Typeform
// submissions, CRM changes): their stories, fixtures, signed payloads and the audit of their side effects.
import { gatewayUrl, simulatorUrl } from "../stack/config.ts";
import { pgArray } from "../shared/db/client.ts";
import { signLinkToken } from "../shared/links/tokens.ts";
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

/** The receivers whose webhooks change meetings, form requests or couples. */
export const SIDE_EFFECT_RECEIVERS = ["calendly", "typeform", "crm-inbound"] as const;
/** One of {@link SIDE_EFFECT_RECEIVERS}. */
export type SideEffectReceiver = typeof SIDE_EFFECT_RECEIVERS[number];

/** A meeting, form request or couple the side-effect events are about. */
export type PlannedSubject = {
  receiver: SideEffectReceiver;
  /** Calendly: the slot the meeting must end on (ISO), or null when it must end cancelled. */
  finalStart?: string | null;
  /** Calendly: the invitee the meeting must end on. */
  finalInvitee?: string;
};

/** One side-effect event: what is put in the payload besides the subject. */
export type SubjectEvent = {
  receiver: SideEffectReceiver;
  eventId: string;
  subject: number;
  type: string;
  /** Recorded in the inbox (webhook_events)? A Calendly reschedule's cancellation half is not. */
  inboxed: boolean;
  fields: Record<string, string | boolean | null>;
};

/** Random hex of `bytes` bytes, for ids and secrets. */
export function hex(bytes: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

const inviteeUri = () => `https://api.calendly.com/scheduled_events/${hex(8)}/invitees/${hex(8)}`;

/**
 * Plans the events of one subject, in story order (the caller shuffles their times):
 * Calendly: booked; booked then cancelled; booked then rescheduled (the new invitee names the old one,
 * and the old one's cancellation says `rescheduled`). Typeform: one submission, or two distinct ones (the
 * couple submitted twice). CRM: one or two changes of different fields.
 */
export function planSubject(
  receiver: SideEffectReceiver,
  random: () => number,
): { subject: PlannedSubject; events: Omit<SubjectEvent, "subject">[] } {
  const day = (d: number) => new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + d * 86_400_000);
  switch (receiver) {
    case "calendly": {
      const first = inviteeUri();
      const start = day(10 + Math.floor(random() * 20));
      const created = (uri: string, at: Date, old: string | null, createdAt: Date) => ({
        receiver,
        eventId: `invitee.created:${uri}`,
        type: "invitee.created",
        inboxed: true,
        fields: { uri, start: at.toISOString(), old_invitee: old, created_at: createdAt.toISOString() },
      });
      const t0 = new Date(Date.now() - 60_000);
      const story = random();
      if (story < 0.4) {
        return {
          subject: { receiver, finalStart: start.toISOString(), finalInvitee: first },
          events: [created(first, start, null, t0)],
        };
      }
      const later = new Date(t0.getTime() + 30_000);
      if (story < 0.7) {
        return {
          subject: { receiver, finalStart: null },
          events: [created(first, start, null, t0), {
            receiver,
            eventId: `invitee.canceled:${first}`,
            type: "invitee.canceled",
            inboxed: true,
            fields: { uri: first, rescheduled: false, created_at: later.toISOString() },
          }],
        };
      }
      const second = inviteeUri();
      const moved = day(31 + Math.floor(random() * 20));
      return {
        subject: { receiver, finalStart: moved.toISOString(), finalInvitee: second },
        events: [created(first, start, null, t0), {
          receiver,
          eventId: `invitee.canceled:${first}`,
          type: "invitee.canceled",
          inboxed: false,
          fields: { uri: first, rescheduled: true, created_at: later.toISOString() },
        }, created(second, moved, first, later)],
      };
    }
    case "typeform": {
      const submissions = random() < 0.2 ? 2 : 1;
      return {
        subject: { receiver },
        events: Array.from({ length: submissions }, () => {
          const id = `01${hex(12).toUpperCase()}`;
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
    case "crm-inbound": {
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
  }
}

/** The side-effect receivers' suppliers and what their webhooks need, subject by subject. */
export type SubjectFixture = {
  supplierIds: Record<SideEffectReceiver, string>;
  calendlySigningKey: string;
  typeformSecret: string;
  crmInboundUrl: string;
  /** Per subject: meeting id (Calendly), signed form token (Typeform), couple id (CRM). */
  refs: string[];
  /** Per subject: the run completed by a booking or made due by a submission; null for CRM. */
  runIds: (number | null)[];
  /** Per subject: the journey instance (Calendly: advanced by the booking). */
  instances: (string | null)[];
  /** The Calendly journey's step after the meeting step. */
  nextStepId: string;
};

const FORM_ID = "StormForm1";

/**
 * Creates one supplier per side-effect receiver and its subjects: for Calendly a journey waiting at a
 * meeting step (a `waiting` run, as module-meeting leaves it after sending the link, and its meeting),
 * for Typeform an open form request and its signed token, for the CRM a couple.
 */
export async function prepareSubjects(sql: Sql, subjects: PlannedSubject[]): Promise<SubjectFixture> {
  const f: SubjectFixture = {
    supplierIds: {} as Record<SideEffectReceiver, string>,
    calendlySigningKey: hex(24),
    typeformSecret: hex(24),
    crmInboundUrl: "",
    refs: [],
    runIds: [],
    instances: [],
    nextStepId: "",
  };
  const later = { anchor: "wedding_date", offset_days: -7, at: "10:00" };
  const journeys: Partial<Record<SideEffectReceiver, { journeyId: string; stepIds: string[] }>> = {};
  for (const receiver of SIDE_EFFECT_RECEIVERS) {
    const supplierId = await createSupplier(sql, { name: `Storm ${receiver}` });
    f.supplierIds[receiver] = supplierId;
    if (receiver === "calendly") {
      await connectProvider(sql, supplierId, "calendly", {
        access_token: hex(16),
        signing_key: f.calendlySigningKey,
      });
      journeys.calendly = await createJourney(sql, supplierId, [
        {
          module_type: "meeting",
          config: { provider: "calendly", meeting_type: "Consultation", on_cancel: "keep" },
          timing: later,
        },
        { timing: later },
      ]);
    } else if (receiver === "typeform") {
      await connectProvider(sql, supplierId, "typeform", { webhook_secret: f.typeformSecret });
      journeys.typeform = await createJourney(sql, supplierId, [{
        module_type: "form",
        config: { form: { provider: "typeform", form_id: FORM_ID }, fields: { venue: "venue_ref" } },
        timing: later,
      }]);
    } else {
      await connectProvider(sql, supplierId, "crm_webhooks", { inbound_secret: hex(16) }, {
        crm: "honeybook",
        url: `${simulatorUrl}/hooks/${crypto.randomUUID()}`,
        field_map: { venue: "venue", couple_name: "couple_name" },
      });
      const [{ url }] = await sql<{ url: string }[]>`
        select public.crm_inbound_url(${supplierId}::uuid) as url`;
      // The stack's public URL may differ from the gateway this run talks to: keep only path and query.
      const u = new URL(url);
      f.crmInboundUrl = `${gatewayUrl}${u.pathname}${u.search}`;
    }
  }
  const secret = await linksSecret(sql);
  for (const s of subjects) {
    const supplierId = f.supplierIds[s.receiver];
    const clientId = await createClient(sql, supplierId, { wedding_date: "2028-06-10" });
    const journey = journeys[s.receiver];
    if (!journey) {
      f.refs.push(clientId);
      f.runIds.push(null);
      f.instances.push(null);
      continue;
    }
    const instanceId = await startJourney(sql, supplierId, journey.journeyId, clientId);
    const [run] = await sql<{ id: string }[]>`
      select id::text from public.module_runs where journey_instance_id = ${instanceId}::uuid`;
    if (!run) throw new Error(`Cannot prepare the storm: no run planned for ${s.receiver} journey`);
    const runId = Number(run.id);
    f.runIds.push(runId);
    f.instances.push(instanceId);
    if (s.receiver === "calendly") {
      f.nextStepId = journey.stepIds[1];
      await sql`update public.module_runs set status = 'waiting', updated_at = now() where id = ${runId}`;
      const [m] = await sql<{ id: string }[]>`select (public.meeting_for_run(${runId}, 'calendly')).id::text`;
      f.refs.push(m.id);
    } else {
      const [r] = await sql<{ id: string }[]>`
        select (public.open_form_request(${runId}, 'typeform', ${FORM_ID}, false, null)).id::text`;
      const now = new Date();
      f.refs.push(
        await signLinkToken(
          secret,
          "form",
          { sub: r.id, run: runId, cpl: clientId },
          now,
          new Date(now.getTime() + 30 * 86_400_000),
        ),
      );
    }
  }
  return f;
}

/** A webhook ready to fire: the same bytes and headers for every copy. */
export type SignedWebhook = { url: string; headers: Record<string, string>; body: string };

/** Builds and signs a side-effect event as its source does. */
export async function signSubjectEvent(f: SubjectFixture, e: SubjectEvent): Promise<SignedWebhook> {
  const supplier = f.supplierIds[e.receiver];
  const ref = f.refs[e.subject];
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
          tracking: { utm_content: ref },
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
        url: `${gatewayUrl}/functions/v1/webhook-calendly?supplier=${supplier}`,
        body,
        headers: { "content-type": "application/json", "calendly-webhook-signature": signature },
      };
    }
    case "typeform": {
      const body = JSON.stringify({
        event_id: e.eventId,
        event_type: e.type,
        form_response: {
          form_id: FORM_ID,
          hidden: { journey_token: ref },
          answers: [{
            type: "text",
            text: e.fields.venue,
            field: { id: "f1", ref: "venue_ref", type: "short_text" },
          }],
        },
      });
      return {
        url: `${gatewayUrl}/functions/v1/webhook-typeform?supplier=${supplier}`,
        body,
        headers: {
          "content-type": "application/json",
          "typeform-signature": await signTypeform(f.typeformSecret, body),
        },
      };
    }
    case "crm-inbound":
      return {
        url: f.crmInboundUrl,
        body: JSON.stringify({ type: e.type, id: e.eventId, couple: { id: ref, ...e.fields } }),
        headers: { "content-type": "application/json" },
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
  const inboxKey = (e: SubjectEvent) =>
    e.receiver === "crm-inbound"
      ? `crm_inbound:${f.supplierIds[e.receiver]}:${e.eventId}`
      : `${e.receiver}:${e.eventId}`;
  const inboxed = events.filter((e) => e.inboxed);
  const lost = inboxed.filter((e) => !inboxKeys.has(inboxKey(e))).length;

  const meetings = new Map(
    (await sql<
      { id: string; status: string; external_id: string | null; start_at: Date | null; run_status: string }[]
    >`
      select m.id::text, m.status, m.external_id, m.start_at, r.status::text as run_status
      from public.meetings m join public.module_runs r on r.id = m.run_id
      where m.supplier_id = ${f.supplierIds.calendly}::uuid`).map((m) => [m.id, m]),
  );
  const reminders = new Map(
    (await sql<{ meeting_id: string; pending: number }[]>`
      select mr.meeting_id::text, count(*) filter (where r.status = 'pending')::int as pending
      from public.meeting_reminders mr join public.module_runs r on r.id = mr.run_id
      where mr.supplier_id = ${f.supplierIds.calendly}::uuid group by mr.meeting_id`).map((
      r,
    ) => [r.meeting_id, r.pending]),
  );
  const journeys = new Map(
    (await sql<{ instance: string; next_runs: number; current: string | null }[]>`
      select i.id::text as instance, i.current_step_id::text as current,
        (select count(*)::int from public.module_runs r where r.journey_instance_id = i.id
          and r.step_id = ${f.nextStepId}::uuid) as next_runs
      from public.journey_instances i where i.supplier_id = ${f.supplierIds.calendly}::uuid`)
      .map((j) => [j.instance, j]),
  );
  const forms = new Map(
    (await sql<
      { run_id: string; status: string; submission_ref: string | null; venue: string | null; due: boolean }[]
    >`
      select f.run_id::text, f.status, f.submission_ref, f.answers ->> 'venue' as venue,
        (r.run_at <= now() or r.status <> 'pending') as due
      from public.form_requests f join public.module_runs r on r.id = f.run_id
      where f.supplier_id = ${f.supplierIds.typeform}::uuid`).map((r) => [Number(r.run_id), r]),
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
  let wrongMeetings = 0, wrongJourneys = 0, wrongReminders = 0, wrongForms = 0, wrongCouples = 0, echoes = 0;
  const samples: string[] = [];
  const wrong = (what: string, n: number, found: unknown) => {
    if (samples.length < 3) {
      const story = (bySubject.get(n) ?? []).map((e) =>
        `${e.type}${e.fields.old_invitee ? " (reschedule)" : ""}`
      );
      samples.push(
        `first ${what}: subject ${n} [${story.join(", ")}] ${JSON.stringify(subjects[n])} found ${
          JSON.stringify(found)
        }`,
      );
    }
  };
  subjects.forEach((s, n) => {
    const evs = bySubject.get(n) ?? [];
    if (s.receiver === "calendly") {
      const m = meetings.get(f.refs[n]);
      const j = journeys.get(f.instances[n]!);
      if (s.finalStart === null) {
        if (m?.status !== "canceled") wrongMeetings++, wrong("wrong meeting", n, m);
        if ((reminders.get(f.refs[n]) ?? 0) !== 0) wrongReminders++;
        // A cancellation may come before its booking: the step is then never completed (on_cancel: keep).
        if (!j || j.next_runs > 1 || (m?.run_status === "succeeded") !== (j.next_runs === 1)) wrongJourneys++;
      } else {
        if (
          m?.status !== "scheduled" || m.external_id !== s.finalInvitee ||
          m.start_at?.toISOString() !== s.finalStart
        ) wrongMeetings++, wrong("wrong meeting", n, m);
        if ((reminders.get(f.refs[n]) ?? 0) !== 2) wrongReminders++;
        // Completed once: the run succeeded and exactly one run of the next step was planned.
        if (m?.run_status !== "succeeded" || j?.next_runs !== 1 || j.current !== f.nextStepId) {
          wrongJourneys++;
        }
      }
    } else if (s.receiver === "typeform") {
      const r = forms.get(f.runIds[n]!);
      const e = evs.find((x) => x.eventId === r?.submission_ref);
      // Exactly one submission won, and the answers stored are that submission's own.
      if (r?.status !== "submitted" || !e || r.venue !== e.fields.venue || !r.due) wrongForms++;
    } else {
      const c = couples.get(f.refs[n]);
      const want = Object.assign({}, ...evs.map((e) => e.fields));
      if (!c || c.venue !== want.venue || (want.couple_name && c.couple_name !== want.couple_name)) {
        wrongCouples++;
      }
      if (c && c.changes !== evs.length) wrongCouples++;
      echoes += c?.echoes ?? 0;
    }
  });
  const count = (r: SideEffectReceiver) => subjects.filter((s) => s.receiver === r).length;
  const audit: SubjectAudit = {
    subjects: {
      calendly: count("calendly"),
      typeform: count("typeform"),
      "crm-inbound": count("crm-inbound"),
    },
    inboxRows: inbox.length,
    lostEvents: lost,
    extraInboxRows: inbox.length - inboxed.length,
    wrongMeetings,
    wrongJourneys,
    wrongReminders,
    wrongForms,
    wrongCouples,
    crmEchoes: echoes,
    problems: [],
  };
  const zero: [string, number][] = [
    ["side-effect events lost", lost],
    ["unexpected side-effect inbox rows", audit.extraInboxRows],
    ["wrong meetings", wrongMeetings],
    ["wrong journeys after bookings", wrongJourneys],
    ["wrong meeting reminders", wrongReminders],
    ["wrong form requests", wrongForms],
    ["wrong couples after CRM changes", wrongCouples],
    ["CRM changes echoed back", echoes],
  ];
  for (const [what, n] of zero) if (n !== 0) audit.problems.push(`${what}: ${n}`);
  audit.problems.push(...samples);
  return audit;
}

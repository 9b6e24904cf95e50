// The webhook storm: signed provider webhooks (duplicates, out-of-order events, events ahead of their
// delivery) fired open loop at the ten receivers, then an audit of the inbox, deliveries, suppressions,
// meetings, form requests and couples.
import { gatewayUrl } from "../stack/config.ts";
import { pgArray } from "../shared/db/client.ts";
import { latencySummary } from "../bench/measure.ts";
import type { Sql } from "../tests/helpers/db.ts";
import {
  connectProvider,
  createClient,
  createJourney,
  createSupplier,
  startJourney,
} from "../tests/helpers/fixtures.ts";
import { signMailgun } from "../shared/webhooks/mailgun.ts";
import { signMeta } from "../shared/webhooks/meta.ts";
import {
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
  signSendGrid,
} from "../shared/webhooks/sendgrid.ts";
import { signSvix } from "../shared/webhooks/svix.ts";
import { signTwilio } from "../shared/webhooks/twilio.ts";
import { toBase64 } from "../shared/webhooks/hmac.ts";
import { newSvixSecret } from "../tests/helpers/stack.ts";
import {
  auditSubjects,
  hex,
  type PlannedSubject,
  planSubject,
  prepareSubjects,
  SIDE_EFFECT_RECEIVERS,
  type SideEffectReceiver,
  type SignedWebhook,
  signSubjectEvent,
  type SubjectAudit,
  type SubjectEvent,
  type SubjectFixture,
} from "./storm_receivers.ts";

/** The receivers the storm covers. */
export const STORM_PROVIDERS = ["resend", "sendgrid", "mailgun", "twilio", "whatsapp"] as const;
/** One of {@link STORM_PROVIDERS}. */
export type StormProvider = typeof STORM_PROVIDERS[number];
/** Every receiver the storm covers: the delivery-status ones and those with other side effects. */
export const STORM_RECEIVERS = [...STORM_PROVIDERS, ...SIDE_EFFECT_RECEIVERS] as const;
/** One of {@link STORM_RECEIVERS}. */
export type StormReceiver = typeof STORM_RECEIVERS[number];

/** Delivery statuses a story is told in; each provider names them its own way (see EVENT_TYPES). */
type Status =
  | "sent"
  | "delivery_delayed"
  | "delivered"
  | "opened"
  | "clicked"
  | "failed"
  | "bounced"
  | "complained";

/** The provider's event type for each status it reports (absent: the provider has no such event). */
const EVENT_TYPES: Record<StormProvider, Partial<Record<Status, string>>> = {
  resend: {
    sent: "email.sent",
    delivery_delayed: "email.delivery_delayed",
    delivered: "email.delivered",
    opened: "email.opened",
    clicked: "email.clicked",
    bounced: "email.bounced",
    complained: "email.complained",
  },
  sendgrid: {
    sent: "processed",
    delivery_delayed: "deferred",
    delivered: "delivered",
    opened: "open",
    clicked: "click",
    bounced: "bounce",
    complained: "spamreport",
  },
  mailgun: {
    delivery_delayed: "failed:temporary",
    delivered: "delivered",
    opened: "opened",
    clicked: "clicked",
    bounced: "failed:permanent",
    complained: "complained",
  },
  twilio: { sent: "sent", delivered: "delivered", opened: "read", failed: "undelivered" },
  whatsapp: { sent: "sent", delivered: "delivered", opened: "read", failed: "failed" },
};

/** Event types each provider sends that carry no delivery status: recorded in the inbox, then ignored. */
const IGNORED_TYPES: Partial<Record<StormProvider, string>> = {
  resend: "email.scheduled",
  sendgrid: "group_resubscribe",
};

/** Stories a delivery's events tell, before they are shuffled in time (late deliveries after bounces...). */
const STORIES: Status[][] = [
  ["sent", "delivered", "opened", "clicked"],
  ["sent", "delivered", "opened"],
  ["sent", "delivered"],
  ["sent", "delivery_delayed", "delivered", "opened"],
  ["sent", "bounced", "delivered"],
  ["sent", "delivered", "complained"],
  ["sent", "failed", "delivered"],
  ["delivered"],
];

/** One distinct provider event of the plan. */
export type PlannedEvent = {
  provider: StormReceiver;
  /** The inbox key: (provider, event_id). */
  eventId: string;
  /** The delivery it is about (index into `StormPlan.deliveries`); -1 for a side-effect event. */
  delivery: number;
  type: string;
  /** The delivery status it means, null for an ignored event type. */
  status: Status | null;
  /** When it is fired, ms after the storm starts. */
  atMs: number;
  /** Extra copies: ms after the first one (0: concurrently). */
  duplicatesAtMs: number[];
  /** A booking, form submission or CRM change rather than a delivery status. */
  side?: SubjectEvent;
};

/** One delivery the events are about. */
export type PlannedDelivery = {
  provider: StormProvider;
  supplier: number;
  channel: "email" | "sms" | "whatsapp";
  messageId: string;
  recipient: string;
  /** Recorded during the storm at this time (ms after the start), or null: recorded before the storm. */
  recordAtMs: number | null;
};

/** Everything the storm sends and expects. */
export type StormPlan = {
  deliveries: PlannedDelivery[];
  /** The meetings, form requests and couples the side-effect events are about. */
  subjects: PlannedSubject[];
  events: PlannedEvent[];
  durationMs: number;
};

/** Options of {@link planStorm}. */
export type PlanOptions = {
  /** Webhooks to send in all, duplicates included. */
  webhooks: number;
  durationMs: number;
  /** Share of webhooks that are exact re-sends of another (default 0.1). */
  duplicateShare?: number;
  /** Share of deliveries recorded only during the storm, after some of their events (default 0.1). */
  waitingShare?: number;
  /** Share of deliveries that get one event of a status-less type (default 0.05). */
  ignoredShare?: number;
  /** Seeded randomness; Math.random by default. */
  random?: () => number;
};

/** A small seeded generator (mulberry32), so a run can be repeated. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function newDelivery(provider: StormProvider, n: number, recordAtMs: number | null): PlannedDelivery {
  const email = (channel: "email") => ({ channel, recipient: `storm-${n}-${hex(4)}@example.com` });
  const phone = (channel: "sms" | "whatsapp") => ({
    channel,
    recipient: `+4477${String(n).padStart(8, "0")}`,
  });
  switch (provider) {
    case "resend":
      return { provider, supplier: 0, messageId: crypto.randomUUID(), recordAtMs, ...email("email") };
    case "sendgrid":
      return { provider, supplier: 1, messageId: hex(11), recordAtMs, ...email("email") };
    case "mailgun":
      return { provider, supplier: 2, messageId: `${hex(8)}@mg.example.com`, recordAtMs, ...email("email") };
    case "twilio":
      return { provider, supplier: 3, messageId: `SM${hex(16)}`, recordAtMs, ...phone("sms") };
    case "whatsapp":
      return { provider, supplier: 4, messageId: `wamid.${hex(20)}`, recordAtMs, ...phone("whatsapp") };
  }
}

/**
 * Plans a storm: deliveries, meetings, form requests and couples spread over the receivers so that each
 * receiver gets about as many webhooks, each with a story (statuses; booked / cancelled / rescheduled;
 * submitted once or twice; changed once or twice) fired in shuffled order within a few seconds, some
 * deliveries recorded only while their events arrive, and exact duplicates.
 */
export function planStorm(opts: PlanOptions): StormPlan {
  const random = opts.random ?? Math.random;
  const duplicateShare = opts.duplicateShare ?? 0.1;
  const distinct = Math.round(opts.webhooks * (1 - duplicateShare));
  const spreadMs = Math.min(5_000, opts.durationMs / 4);
  const deliveries: PlannedDelivery[] = [];
  const subjects: PlannedSubject[] = [];
  const events: PlannedEvent[] = [];
  const perReceiver = new Map<StormReceiver, number>(STORM_RECEIVERS.map((r) => [r, 0]));
  while (events.length < distinct) {
    // The receiver with the fewest events so far: stories differ in length, webhooks per receiver do not.
    const receiver = [...perReceiver].reduce((a, b) => b[1] < a[1] ? b : a)[0];
    const startMs = random() * (opts.durationMs - spreadMs);
    const before = events.length;
    if (!(STORM_PROVIDERS as readonly string[]).includes(receiver)) {
      const planned = planSubject(receiver as SideEffectReceiver, random);
      const times = planned.events.map(() => startMs + random() * spreadMs);
      for (const [i, e] of planned.events.entries()) {
        const side = { ...e, subject: subjects.length };
        events.push({
          provider: e.receiver,
          eventId: e.eventId,
          delivery: -1,
          type: e.type,
          status: null,
          atMs: times[i],
          duplicatesAtMs: [],
          side,
        });
      }
      subjects.push(planned.subject);
      perReceiver.set(receiver, perReceiver.get(receiver)! + events.length - before);
      continue;
    }
    const provider = receiver as StormProvider;
    const waiting = random() < (opts.waitingShare ?? 0.1);
    const story = STORIES[Math.floor(random() * STORIES.length)]
      .filter((s) => EVENT_TYPES[provider][s] !== undefined);
    const types: { type: string; status: Status | null }[] = story.map((s) => ({
      type: EVENT_TYPES[provider][s]!,
      status: s,
    }));
    const ignored = IGNORED_TYPES[provider];
    if (ignored && random() < (opts.ignoredShare ?? 0.05)) types.push({ type: ignored, status: null });
    const times = types.map(() => startMs + random() * spreadMs).sort((a, b) => a - b);
    shuffle(times, random);
    const index = deliveries.length;
    deliveries.push(newDelivery(provider, index, waiting ? startMs + random() * spreadMs : null));
    const messageId = deliveries[index].messageId;
    for (const [i, t] of types.entries()) {
      // Twilio and WhatsApp name an event by message and status (their callbacks carry no event id).
      const eventId = provider === "twilio" || provider === "whatsapp"
        ? `${messageId}:${t.type}`
        : provider === "resend"
        ? `msg_${hex(12)}`
        : `${provider}-${hex(12)}`;
      events.push({ provider, eventId, delivery: index, ...t, atMs: times[i], duplicatesAtMs: [] });
    }
    perReceiver.set(receiver, perReceiver.get(receiver)! + events.length - before);
  }
  for (let d = events.length; d < opts.webhooks; d++) {
    const e = events[Math.floor(random() * events.length)];
    // Half the copies race the first one; the others come back later, as a provider's retry would.
    e.duplicatesAtMs.push(random() < 0.5 ? 0 : Math.min(random() * 3_000, opts.durationMs - e.atMs));
  }
  return { deliveries, subjects, events, durationMs: opts.durationMs };
}

/** The plan's booking, submission and CRM events. */
function sideEvents(plan: StormPlan): SubjectEvent[] {
  return plan.events.flatMap((e) => e.side ? [e.side] : []);
}

/** Credentials of the storm's suppliers, one per provider (in STORM_PROVIDERS order). */
export type StormFixture = {
  supplierIds: string[];
  runIds: number[][];
  resend: { webhook_secret: string };
  sendgrid: { privateKey: CryptoKey };
  mailgun: { webhook_signing_key: string };
  twilio: { account_sid: string; auth_token: string };
  whatsapp: { app_secret: string; phone_number_id: string };
  /** The side-effect receivers' suppliers and subjects. */
  subjects: SubjectFixture;
};

/**
 * Creates one supplier per receiver with its webhook credentials in Vault, and for each some couples
 * whose journey waits on a step a year away: the runs the storm's deliveries belong to. Then the
 * meetings, form requests and couples of the plan's side-effect subjects.
 */
export async function prepareStorm(sql: Sql, plan: StormPlan, runsPerSupplier = 10): Promise<StormFixture> {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const fixture: StormFixture = {
    subjects: await prepareSubjects(sql, plan.subjects, sideEvents(plan)),
    supplierIds: [],
    runIds: [],
    resend: { webhook_secret: newSvixSecret() },
    sendgrid: { privateKey: keys.privateKey },
    mailgun: { webhook_signing_key: `key-${hex(16)}` },
    twilio: { account_sid: `AC${hex(16)}`, auth_token: hex(16) },
    whatsapp: {
      app_secret: hex(16),
      phone_number_id: String(100000000000 + Math.floor(Math.random() * 1e9)),
    },
  };
  for (const provider of STORM_PROVIDERS) {
    const supplierId = await createSupplier(sql, { name: `Storm ${provider}` });
    const secrets: Record<StormProvider, Record<string, string>> = {
      resend: { api_key: `re_${hex(12)}`, ...fixture.resend },
      sendgrid: { api_key: `SG.${hex(12)}`, webhook_public_key: toBase64(spki) },
      mailgun: { api_key: hex(16), ...fixture.mailgun },
      twilio: fixture.twilio,
      whatsapp: { access_token: hex(16), app_secret: fixture.whatsapp.app_secret, verify_token: hex(8) },
    };
    await connectProvider(
      sql,
      supplierId,
      provider,
      secrets[provider],
      // The Mailgun domain is a setting, as the product reads it: in Vault it would be a secret, and it is
      // in every message id (the hygiene scan then reports it).
      provider === "whatsapp"
        ? { phone_number_id: fixture.whatsapp.phone_number_id }
        : provider === "mailgun"
        ? { domain: "mg.example.com" }
        : {},
    );
    const { journeyId } = await createJourney(sql, supplierId, [
      { timing: { anchor: "wedding_date", offset_days: -7, at: "10:00" } },
    ]);
    const instances: string[] = [];
    for (let i = 0; i < runsPerSupplier; i++) {
      const clientId = await createClient(sql, supplierId, { wedding_date: "2028-06-10" });
      instances.push(await startJourney(sql, supplierId, journeyId, clientId));
    }
    const runs = await sql<{ id: string }[]>`
      select id::text from public.module_runs where journey_instance_id = any(${pgArray(instances)}::uuid[])
      order by id`;
    if (runs.length !== runsPerSupplier) {
      throw new Error(
        `Cannot prepare the storm: ${runs.length} runs planned for ${runsPerSupplier} journeys`,
      );
    }
    fixture.supplierIds.push(supplierId);
    fixture.runIds.push(runs.map((r) => Number(r.id)));
  }
  return fixture;
}

/** Records a delivery the way modules do (public.record_run_message), which applies events waiting for it. */
export async function recordDelivery(
  sql: Sql,
  fixture: StormFixture,
  d: PlannedDelivery,
  n: number,
): Promise<void> {
  const runs = fixture.runIds[d.supplier];
  await sql`select public.record_run_message(${runs[n % runs.length]}, ${d.provider}, ${d.messageId},
    ${d.channel}, ${d.recipient})`;
}

type Signed = SignedWebhook;

function receiverUrl(provider: StormProvider, supplierId: string): string {
  return `${gatewayUrl}/functions/v1/webhook-${provider}?supplier=${supplierId}`;
}

/** Builds and signs one event exactly as its provider does, at the moment it is first sent. */
export async function signEvent(plan: StormPlan, fixture: StormFixture, e: PlannedEvent): Promise<Signed> {
  if (e.side) return await signSubjectEvent(fixture.subjects, e.side);
  const d = plan.deliveries[e.delivery];
  const url = receiverUrl(d.provider, fixture.supplierIds[d.supplier]);
  const nowS = Math.floor(Date.now() / 1000);
  switch (d.provider) {
    case "resend": {
      const body = JSON.stringify({
        type: e.type,
        created_at: new Date().toISOString(),
        data: {
          email_id: d.messageId,
          to: [d.recipient],
          ...(e.status === "bounced" ? { bounce: { type: "Permanent", subType: "General" } } : {}),
        },
      });
      return {
        url,
        body,
        headers: {
          "content-type": "application/json",
          "svix-id": e.eventId,
          "svix-timestamp": String(nowS),
          "svix-signature": await signSvix(fixture.resend.webhook_secret, e.eventId, nowS, body),
        },
      };
    }
    case "sendgrid": {
      const body = JSON.stringify([{
        event: e.type,
        email: d.recipient,
        timestamp: nowS,
        sg_event_id: e.eventId,
        sg_message_id: `${d.messageId}.filterdrecv-${hex(4)}.1.0`,
      }]);
      const timestamp = String(nowS);
      return {
        url,
        body,
        headers: {
          "content-type": "application/json",
          [SENDGRID_TIMESTAMP_HEADER]: timestamp,
          [SENDGRID_SIGNATURE_HEADER]: await signSendGrid(
            fixture.sendgrid.privateKey,
            timestamp,
            new TextEncoder().encode(body),
          ),
        },
      };
    }
    case "mailgun": {
      const [event, severity] = e.type.split(":");
      const token = hex(25);
      const timestamp = String(nowS);
      const body = JSON.stringify({
        signature: {
          timestamp,
          token,
          signature: await signMailgun(fixture.mailgun.webhook_signing_key, timestamp, token),
        },
        "event-data": {
          event,
          id: e.eventId,
          timestamp: Date.now() / 1000,
          recipient: d.recipient,
          ...(severity ? { severity } : {}),
          message: { headers: { "message-id": `<${d.messageId}>` } },
        },
      });
      return { url, body, headers: { "content-type": "application/json" } };
    }
    case "twilio": {
      const params = {
        AccountSid: fixture.twilio.account_sid,
        MessageSid: d.messageId,
        MessageStatus: e.type,
        To: d.recipient,
        ...(e.type === "undelivered" ? { ErrorCode: "30003" } : {}),
      };
      return {
        url,
        body: new URLSearchParams(params).toString(),
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          "x-twilio-signature": await signTwilio(fixture.twilio.auth_token, url, params),
        },
      };
    }
    case "whatsapp": {
      const body = JSON.stringify({
        object: "whatsapp_business_account",
        entry: [{
          id: "storm-waba",
          changes: [{
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { phone_number_id: fixture.whatsapp.phone_number_id },
              statuses: [{
                id: d.messageId,
                status: e.type,
                timestamp: String(nowS),
                recipient_id: d.recipient.slice(1),
                ...(e.type === "failed" ? { errors: [{ code: 131026 }] } : {}),
              }],
            },
          }],
        }],
      });
      return {
        url,
        body,
        headers: {
          "content-type": "application/json",
          "x-hub-signature-256": await signMeta(fixture.whatsapp.app_secret, body),
        },
      };
    }
  }
}

/** One HTTP answer of the storm. */
export type Answer = {
  provider: StormReceiver;
  /** A re-send of an event already fired. */
  duplicate: boolean;
  /** The event is fired more than once (any copy may be the one a receiver sees second). */
  copied: boolean;
  status: number;
  ms: number;
  body: string;
};

/** What the storm measured on the wire. */
export type StormTraffic = { answers: Answer[]; elapsedMs: number; recordErrors: string[] };

/**
 * Fires the plan open loop: every webhook at its planned time whether or not earlier ones were answered,
 * and records the waiting deliveries at their planned times. Resolves when every answer is in.
 */
export async function fireStorm(sql: Sql, plan: StormPlan, fixture: StormFixture): Promise<StormTraffic> {
  type Shot = { atMs: number; fire: () => Promise<void> };
  const answers: Answer[] = [];
  const recordErrors: string[] = [];
  const signed = new Map<PlannedEvent, Promise<Signed>>();
  const send = async (e: PlannedEvent, duplicate: boolean) => {
    let once = signed.get(e);
    if (!once) signed.set(e, once = signEvent(plan, fixture, e));
    const s = await once;
    const started = performance.now();
    let status = 0;
    let body = "";
    try {
      const res = await fetch(s.url, { method: "POST", headers: s.headers, body: s.body });
      status = res.status;
      body = await res.text();
    } catch (error) {
      body = error instanceof Error ? error.message : String(error);
    }
    answers.push({
      provider: e.provider,
      duplicate,
      copied: e.duplicatesAtMs.length > 0,
      status,
      ms: performance.now() - started,
      body,
    });
  };
  const shots: Shot[] = [];
  for (const e of plan.events) {
    shots.push({ atMs: e.atMs, fire: () => send(e, false) });
    for (const later of e.duplicatesAtMs) shots.push({ atMs: e.atMs + later, fire: () => send(e, true) });
  }
  plan.deliveries.forEach((d, n) => {
    if (d.recordAtMs === null) return;
    shots.push({
      atMs: d.recordAtMs,
      fire: () =>
        recordDelivery(sql, fixture, d, n).catch((error) => {
          recordErrors.push(error instanceof Error ? error.message : String(error));
        }),
    });
  });
  shots.sort((a, b) => a.atMs - b.atMs);
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  for (const shot of shots) {
    const wait = shot.atMs - (performance.now() - start);
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(shot.fire());
  }
  const firedMs = performance.now() - start;
  await Promise.all(inFlight);
  return { answers, elapsedMs: firedMs, recordErrors };
}

/** Records the deliveries that exist before the storm. */
export async function recordInitialDeliveries(
  sql: Sql,
  plan: StormPlan,
  fixture: StormFixture,
): Promise<void> {
  const work = plan.deliveries.map((d, n) => ({ d, n })).filter(({ d }) => d.recordAtMs === null);
  for (let i = 0; i < work.length; i += 8) {
    await Promise.all(work.slice(i, i + 8).map(({ d, n }) => recordDelivery(sql, fixture, d, n)));
  }
}

/** The audit of one storm: each figure that must be zero is named in `problems` when it is not. */
export type StormAudit = {
  webhooks: number;
  distinctEvents: number;
  duplicatesSent: number;
  deliveries: number;
  waitingDeliveries: number;
  outOfOrderDeliveries: number;
  achievedRate: number;
  latencyMs: { p50: number; p95: number; p99: number };
  answers: Record<string, number>;
  byProvider: Record<string, { webhooks: number; p50: number; p95: number; p99: number }>;
  inbox: { rows: number; processed: number; unprocessed: number; ignored: number };
  deliveryEvents: number;
  duplicateDeliveryEvents: number;
  wrongFinalStatus: number;
  lostEvents: number;
  extraInboxRows: number;
  suppressions: { expected: number; found: number };
  /** Meetings, journeys, form requests, couples and their inbox rows after the side-effect events. */
  sideEffects: SubjectAudit;
  http5xx: number;
  unexpected4xx: number;
  problems: string[];
};

/** Checks the database against the plan after the storm. */
export async function auditStorm(
  sql: Sql,
  plan: StormPlan,
  fixture: StormFixture,
  traffic: StormTraffic,
): Promise<StormAudit> {
  const suppliers = pgArray(fixture.supplierIds);
  const ranks = new Map(
    (await sql<{ s: string; r: number }[]>`
      select s::text, public.delivery_status_rank(s) as r from unnest(enum_range(null::public.delivery_status)) s`)
      .map((x) => [x.s, x.r]),
  );
  const inbox = await sql<
    { provider: string; event_id: string; processed: boolean; status: string | null }[]
  >`
    select provider, event_id, processed_at is not null as processed, status::text
    from public.webhook_events where supplier_id = any(${suppliers}::uuid[])`;
  const inboxByKey = new Map(inbox.map((r) => [`${r.provider}:${r.event_id}`, r]));
  const events = await sql<{ provider_message_id: string; n: number; distinct_events: number }[]>`
    select d.provider_message_id, count(*)::int as n, count(distinct e.webhook_event_id)::int as distinct_events
    from public.delivery_events e join public.deliveries d on d.id = e.delivery_id
    where d.supplier_id = any(${suppliers}::uuid[]) group by d.provider_message_id`;
  const eventsByMessage = new Map(events.map((r) => [r.provider_message_id, r]));
  const finals = await sql<{ provider_message_id: string; status: string }[]>`
    select provider_message_id, status::text from public.deliveries where supplier_id = any(${suppliers}::uuid[])`;
  const finalByMessage = new Map(finals.map((r) => [r.provider_message_id, r.status]));
  const suppressions = await sql<{ n: number }[]>`
    select count(*)::int as n from public.suppressions where supplier_id = any(${suppliers}::uuid[])`;

  let lost = 0;
  let wrongFinal = 0;
  let duplicateDeliveryEvents = 0;
  let outOfOrder = 0;
  let expectedSuppressions = 0;
  const byDelivery = new Map<number, PlannedEvent[]>();
  const deliveryEvents = plan.events.filter((e) => !e.side);
  for (const e of deliveryEvents) {
    const row = inboxByKey.get(`${e.provider}:${e.eventId}`);
    if (!row || !row.processed) lost++;
    byDelivery.set(e.delivery, [...(byDelivery.get(e.delivery) ?? []), e]);
  }
  for (const [n, evs] of byDelivery) {
    const d = plan.deliveries[n];
    const statused = evs.filter((e) => e.status !== null);
    const inTime = [...statused].sort((a, b) => a.atMs - b.atMs);
    if (inTime.some((e, i) => i > 0 && ranks.get(e.status!)! < ranks.get(inTime[i - 1].status!)!)) {
      outOfOrder++;
    }
    const expected = statused.reduce<string>(
      (best, e) => ranks.get(e.status!)! > ranks.get(best)! ? e.status! : best,
      "sent",
    );
    if (finalByMessage.get(d.messageId) !== expected) wrongFinal++;
    const rec = eventsByMessage.get(d.messageId);
    if ((rec?.n ?? 0) !== statused.length || (rec?.distinct_events ?? 0) !== statused.length) {
      duplicateDeliveryEvents += Math.abs((rec?.n ?? 0) - statused.length);
    }
    if (statused.some((e) => e.status === "bounced" || e.status === "complained")) expectedSuppressions++;
  }
  const okAnswers = traffic.answers;
  const http5xx = okAnswers.filter((a) => a.status >= 500 || a.status === 0).length;
  // Mailgun signs each attempt with a fresh token; an exact re-send is a replay, refused with 406 (Mailgun's
  // "do not retry"). Any other non-2xx answer is a defect.
  const unexpected4xx =
    okAnswers.filter((a) =>
      a.status >= 400 && a.status < 500 && !(a.provider === "mailgun" && a.copied && a.status === 406)
    ).length;
  const answers: Record<string, number> = {};
  for (const a of okAnswers) answers[a.status] = (answers[a.status] ?? 0) + 1;
  const byProvider: StormAudit["byProvider"] = {};
  for (const p of STORM_RECEIVERS) {
    const ms = okAnswers.filter((a) => a.provider === p).map((a) => a.ms);
    byProvider[p] = { webhooks: ms.length, ...latencySummary(ms) };
  }
  const audit: StormAudit = {
    webhooks: okAnswers.length,
    distinctEvents: plan.events.length,
    duplicatesSent: okAnswers.filter((a) => a.duplicate).length,
    deliveries: plan.deliveries.length,
    waitingDeliveries: plan.deliveries.filter((d) => d.recordAtMs !== null).length,
    outOfOrderDeliveries: outOfOrder,
    achievedRate: Math.round(okAnswers.length / (traffic.elapsedMs / 1000)),
    latencyMs: latencySummary(okAnswers.map((a) => a.ms)),
    answers,
    byProvider,
    inbox: {
      rows: inbox.length,
      processed: inbox.filter((r) => r.processed).length,
      unprocessed: inbox.filter((r) => !r.processed).length,
      ignored: inbox.filter((r) => r.processed && r.status === null).length,
    },
    deliveryEvents: events.reduce((s, r) => s + r.n, 0),
    duplicateDeliveryEvents,
    wrongFinalStatus: wrongFinal,
    lostEvents: lost,
    extraInboxRows: inbox.length - deliveryEvents.length,
    suppressions: { expected: expectedSuppressions, found: suppressions[0].n },
    sideEffects: await auditSubjects(
      sql,
      plan.subjects,
      sideEvents(plan),
      fixture.subjects,
    ),
    http5xx,
    unexpected4xx,
    problems: [],
  };
  const zero: [string, number][] = [
    ["lost events", lost],
    ["unexpected inbox rows", audit.extraInboxRows],
    ["unprocessed inbox rows", audit.inbox.unprocessed],
    ["delivery_events beyond one per event", duplicateDeliveryEvents],
    ["wrong final statuses", wrongFinal],
    ["suppressions off", expectedSuppressions - suppressions[0].n],
    ["5xx or unanswered", http5xx],
    ["unexpected 4xx", unexpected4xx],
    ["deliveries not recorded", traffic.recordErrors.length],
  ];
  for (const [what, n] of zero) if (n !== 0) audit.problems.push(`${what}: ${n}`);
  audit.problems.push(...audit.sideEffects.problems);
  const sample = okAnswers.find((a) =>
    a.status >= 400 && !(a.provider === "mailgun" && a.copied && a.status === 406)
  );
  if (sample) {
    audit.problems.push(`first refusal: ${sample.provider} ${sample.status} ${sample.body.slice(0, 300)}`);
  }
  if (traffic.recordErrors.length) audit.problems.push(`first record error: ${traffic.recordErrors[0]}`);
  return audit;
}

/** Plans, prepares, fires and audits a storm on the stack's database. */
export async function runStorm(
  sql: Sql,
  opts: PlanOptions & { runsPerSupplier?: number },
): Promise<StormAudit> {
  const plan = planStorm(opts);
  const fixture = await prepareStorm(sql, plan, opts.runsPerSupplier);
  await recordInitialDeliveries(sql, plan, fixture);
  const traffic = await fireStorm(sql, plan, fixture);
  return await auditStorm(sql, plan, fixture, traffic);
}

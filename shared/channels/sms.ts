// The SMS channel every module texts the couple through (the sms step, form and meeting reminders): the
// number in E.164, consent/opt-out and suppression, quiet hours in the couple's zone, the sender's rate
// and the Twilio send with the run key on the status callback.
import { pgArray, type Sql } from "../db/client.ts";
import { toE164 } from "../modules/sms/phone.ts";
import {
  credentialsRejected,
  heldAttempt,
  type IntegrationHealth,
  rejectCredentials,
} from "../providers/credentials.ts";
import { failureOutcome, type SendResult } from "../providers/result.ts";
import { countSegments } from "../providers/sms/segments.ts";
import { sendTwilioMessage } from "../providers/sms/twilio.ts";
import { takeRateLimits } from "../providers/rate.ts";
import { renderTemplate } from "../render/template.ts";
import { type Attempt, done, type IntegrationCall, type RunError } from "../runs/types.ts";
import type { SecretStore } from "../secrets.ts";
import { localParts, nextOutsideQuietHours, type QuietHours } from "../time/zones.ts";

/** A messaging channel of the sms module. */
export type MessagingChannel = "sms" | "whatsapp";

/** What the SMS channel needs from its function. */
export type SmsChannelDeps = {
  sql: Sql;
  secrets: SecretStore;
  twilio: { baseUrl: string; timeoutMs: number };
  /** Public base of the functions, for Twilio's status callback URL. */
  publicFunctionsUrl: string;
  now?: () => Date;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
};

/** The couple and the supplier's Twilio as a run sees them (loaded per batch by {@link loadSmsTargets}). */
export type SmsTarget = {
  phone: string | null;
  country: string | null;
  consent: Record<string, unknown>;
  /** The couple's zone; the supplier's is used when null. */
  time_zone: string | null;
  supplier_time_zone: string;
  quiet_hours: QuietHours;
  /** An explicitly urgent step may text at night on the wedding day itself. */
  urgent: boolean;
  wedding_date: string | null;
  twilio_settings: Record<string, unknown> | null;
  twilio_secret_id: string | null;
  twilio_status: string | null;
  twilio_integration_id: string | null;
  twilio_status_reason: string | null;
  twilio_status_since: string | null;
};

/** A supplier's messaging integration as a run sees it: its credentials and its health. */
export type MessagingIntegration = {
  id: string | null;
  provider: "twilio" | "whatsapp";
  status: string | null;
  status_reason: string | null;
  status_since: string | null;
  secret_id: string | null;
};

/** Consent and window state of one number on one channel. */
export type ContactState = { opted_in: boolean; suppressed: string | null; last_inbound_at: Date | null };

/**
 * A channel the couple cannot be sent on: `consent` refusals skip, set-up refusals fail, and a
 * disconnected integration (`held`) holds the run until its credentials are replaced.
 */
export type Refusal = { code: string; message: string; consent: boolean; held?: IntegrationHealth };

const SMS_BODY_MAX = 1600;
const DEFAULT_MAX_SEGMENTS = 6;
/** Twilio's documented sending rates, in segments per second, per sender type. */
const SENDER_MPS: Record<string, number> = { long_code: 1, toll_free: 3, short_code: 100 };

const LABEL: Record<MessagingChannel, string> = { sms: "SMS", whatsapp: "WhatsApp" };
const PROVIDER_LABEL: Record<MessagingChannel, string> = { sms: "Twilio", whatsapp: "WhatsApp" };

const fail = (code: string, message: string, calls: IntegrationCall[] = []) =>
  done({ kind: "permanent", error: { code, message } }, calls);

/** A non-empty string, or undefined. */
export const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && v > 0 ? v : undefined);

/** A Vault secret's JSON object. */
export function secretJson(raw: string): Record<string, unknown> {
  const parsed = JSON.parse(raw);
  if (typeof parsed !== "object" || parsed === null) throw new TypeError("not an object");
  return parsed;
}

/** Renders plain text with merge tags (nothing is escaped: SMS and WhatsApp are not HTML). */
export function renderText(text: string, values: Record<string, string | null>, name: string): string {
  return renderTemplate({ subject: "", html: "", text }, values, name).text;
}

/**
 * The run outcome of a failed SMS or WhatsApp send. Neither has an idempotency key, so an unknown
 * outcome is held, not replayed: the status callback carrying the run key reconciles it
 * (public.receive_message_status). A blind resend could text twice.
 */
export async function messagingFailure(
  sql: Sql,
  integration: MessagingIntegration,
  result: Extract<SendResult, { ok: false }>,
  calls: IntegrationCall[],
): Promise<Attempt> {
  if (result.failure === "permanent" && integration.id && credentialsRejected(result.error)) {
    // Twilio 20003 or Meta 190: the credentials are no good. Disconnected, and this run waits for new ones.
    await rejectCredentials(sql, integration.id, result.error, integration.status_since);
    return heldAttempt([{
      id: integration.id,
      provider: integration.provider,
      status_reason: result.error.message,
    }], calls);
  }
  return done(failureOutcome(result, false), calls);
}

/** The supplier's Twilio integration of a target. */
export const twilioIntegration = (t: SmsTarget): MessagingIntegration => ({
  id: t.twilio_integration_id,
  provider: "twilio",
  status: t.twilio_status,
  status_reason: t.twilio_status_reason,
  status_since: t.twilio_status_since,
  secret_id: t.twilio_secret_id,
});

/** The SMS target of each run (couple, quiet hours, Twilio), for a whole batch in one query. */
export async function loadSmsTargets(sql: Sql, runIds: number[]): Promise<Map<number, SmsTarget>> {
  const rows = await sql<(SmsTarget & { run_id: number })[]>`
    select r.id::int as run_id, c.phone, c.country, c.consent, c.time_zone, c.wedding_date::text as wedding_date,
      s.time_zone as supplier_time_zone, s.quiet_hours,
      coalesce((st.timing ->> 'urgent')::boolean, false) as urgent,
      tw.settings as twilio_settings, tw.secret_id::text as twilio_secret_id, tw.status as twilio_status,
      tw.id::text as twilio_integration_id, tw.status_reason as twilio_status_reason,
      tw.status_since::text as twilio_status_since
    from public.module_runs r
    join public.journey_instances i on i.id = r.journey_instance_id
    join public.clients c on c.id = i.client_id
    join public.suppliers s on s.id = r.supplier_id
    left join public.journey_steps st on st.id = r.step_id
    left join public.supplier_integrations tw on tw.supplier_id = r.supplier_id and tw.provider = 'twilio'
    where r.id = any(${pgArray(runIds)}::bigint[])`;
  return new Map(rows.map((row) => [row.run_id, row]));
}

/** The key of a number's state in the map {@link loadContacts} returns. */
export const contactKey = (supplierId: string, channel: MessagingChannel, address: string) =>
  `${supplierId} ${channel} ${address}`;

/** Consent, suppression and window of numbers (known only once normalised), in one query. */
export async function loadContacts(
  sql: Sql,
  numbers: { supplier_id: string; address: string }[],
): Promise<Map<string, ContactState>> {
  if (numbers.length === 0) return new Map();
  const rows = await sql<
    (ContactState & { supplier_id: string; address: string; channel: MessagingChannel })[]
  >`
    select k.supplier_id::text, k.address, ch.channel,
      coalesce(mc.opted_in_at > coalesce(mc.opted_out_at, '-infinity'), false) as opted_in,
      sp.reason as suppressed, mc.last_inbound_at
    from unnest(${pgArray(numbers.map((n) => n.supplier_id))}::uuid[], ${
    pgArray(numbers.map((n) => n.address))
  }::text[]) as k(supplier_id, address)
    cross join (values ('sms'), ('whatsapp')) as ch(channel)
    left join public.messaging_contacts mc
      on mc.supplier_id = k.supplier_id and mc.channel = ch.channel and mc.address = k.address
    left join public.suppressions sp
      on sp.supplier_id = k.supplier_id and sp.channel = ch.channel and sp.address = k.address`;
  return new Map(rows.map((r) => [contactKey(r.supplier_id, r.channel, r.address), r]));
}

/**
 * Why `to` may not be sent on `channel`, or null: the couple's consent, an opt-out or suppression, a
 * required opt-in, then the supplier's integration.
 */
export function refusal(
  channel: MessagingChannel,
  to: string,
  consent: Record<string, unknown>,
  contact: ContactState | undefined,
  requireOptIn: boolean,
  integration: MessagingIntegration,
): Refusal | null {
  const label = LABEL[channel];
  if (consent[channel] === false) {
    return { code: "no_consent", message: `The couple has not agreed to ${label}`, consent: true };
  }
  if (contact?.suppressed) {
    return {
      code: contact.suppressed === "opted_out" ? "opted_out" : "suppressed",
      message: `${to} is on the supplier's ${label} suppression list (${contact.suppressed})`,
      consent: true,
    };
  }
  if (requireOptIn && consent[channel] !== true && !contact?.opted_in) {
    return {
      code: "no_opt_in",
      message: `The step requires opt-in and the couple has not opted in to ${label}`,
      consent: true,
    };
  }
  if (integration.status === "disconnected" && integration.id) {
    return {
      code: "integration_disconnected",
      message: `${PROVIDER_LABEL[channel]} is disconnected: ${
        integration.status_reason ?? "credentials rejected"
      }`,
      consent: false,
      held: { id: integration.id, provider: integration.provider, status_reason: integration.status_reason },
    };
  }
  if (!integration.status || !integration.secret_id) {
    return {
      code: "integration_missing",
      message: `Cannot send ${label}: ${PROVIDER_LABEL[channel]} is not connected for this supplier`,
      consent: false,
    };
  }
  return null;
}

/** The attempt of a message no channel may carry: skipped for the couple's reasons, else failed. */
export function refused(refusals: Refusal[]): Attempt {
  const consent = refusals.find((r) => r.consent);
  if (consent) return done({ kind: "skipped", error: { code: consent.code, message: consent.message } });
  const held = refusals.flatMap((r) => r.held ? [r.held] : []);
  if (held.length > 0) return heldAttempt(held);
  return fail(refusals[0].code, refusals[0].message);
}

/**
 * The deferral until quiet hours end in the couple's zone, or null when a text may go out at `at`. Only
 * an explicitly urgent step on the wedding day itself may text at night.
 */
export function quietHoursDeferral(at: Date, target: SmsTarget): Attempt | null {
  const tz = target.time_zone ?? target.supplier_time_zone;
  const local = localParts(at, tz);
  const today = `${String(local.year).padStart(4, "0")}-${String(local.month).padStart(2, "0")}-${
    String(local.day).padStart(2, "0")
  }`;
  if (target.urgent && target.wedding_date === today) return null;
  const next = nextOutsideQuietHours(at, tz, target.quiet_hours);
  if (next.getTime() <= at.getTime()) return null;
  return done({
    kind: "deferred",
    defer_until: next,
    error: { code: "quiet_hours", message: `Quiet hours in ${tz} until ${next.toISOString()}` },
  });
}

/**
 * Sends `text` to `to` (E.164, checks done) through the supplier's Twilio, at the sender's rate, with
 * the run key on the status callback so delivery updates (and a lost answer) find the run. A Twilio
 * opt-out answer (21610) is recorded so later messages are skipped, not refused.
 */
export async function sendSms(
  deps: SmsChannelDeps,
  message: { supplierId: string; runKey: string; to: string; text: string; fallbackFrom?: RunError },
  target: Pick<
    SmsTarget,
    | "twilio_settings"
    | "twilio_secret_id"
    | "twilio_status"
    | "twilio_integration_id"
    | "twilio_status_reason"
    | "twilio_status_since"
  >,
  calls: IntegrationCall[] = [],
): Promise<Attempt> {
  const { supplierId, runKey, to, text } = message;
  const settings = target.twilio_settings ?? {};
  let secret: Record<string, unknown>;
  try {
    secret = secretJson(
      await deps.secrets.byId(target.twilio_secret_id!, target.twilio_status_since ?? undefined),
    );
  } catch {
    secret = {};
  }
  const accountSid = str(secret.account_sid);
  const username = str(secret.api_key_sid) ?? accountSid;
  const password = str(secret.api_key_secret) ?? str(secret.auth_token);
  if (!accountSid || !username || !password) {
    return fail(
      "credentials_missing",
      "Cannot send SMS: the Twilio secret in Vault needs account_sid and auth_token",
      calls,
    );
  }
  const from = str(settings.from);
  const messagingServiceSid = str(settings.messaging_service_sid);
  if (!from && !messagingServiceSid) {
    return fail("no_sender", "Cannot send SMS: Twilio settings need from or messaging_service_sid", calls);
  }
  if (text.length > SMS_BODY_MAX) {
    return fail(
      "message_too_long",
      `Cannot send SMS: ${text.length} characters, the limit is ${SMS_BODY_MAX}`,
      calls,
    );
  }
  const segments = countSegments(text);
  const maxSegments = num(settings.max_segments) ?? DEFAULT_MAX_SEGMENTS;
  if (segments.segments > maxSegments) {
    return fail(
      "too_many_segments",
      `Cannot send SMS: ${segments.segments} ${segments.encoding} segments, the supplier allows ${maxSegments}`,
      calls,
    );
  }
  const senderType = str(settings.sender_type) ?? (messagingServiceSid ? "messaging_service" : "long_code");
  const mps = SENDER_MPS[senderType] ?? num(settings.mps) ?? 1;
  const limited = await takeRateLimits(deps, [
    {
      provider: "twilio",
      account: accountSid,
      scope: `sender:${messagingServiceSid ?? from}`,
      cost: segments.segments,
      per_second: mps,
      burst: mps,
    },
  ], `Twilio sender rate (${mps} segments/s)`);
  if (limited) return done(limited, calls);

  const callback = `${deps.publicFunctionsUrl}/webhook-twilio?supplier=${supplierId}&run=${
    encodeURIComponent(runKey)
  }`;
  const result = await sendTwilioMessage(
    {
      accountSid,
      username,
      password,
      baseUrl: str(settings.base_url) ?? deps.twilio.baseUrl,
      timeoutMs: deps.twilio.timeoutMs,
    },
    { to, from, messagingServiceSid, body: text, statusCallback: callback },
    deps.fetch ?? fetch,
  );
  calls.push(result.call);
  if (result.ok) {
    return done({
      kind: "succeeded",
      provider: "twilio",
      provider_message_id: result.provider_message_id,
      channel: "sms",
      recipient: to,
      result: {
        channel: "sms",
        segments: segments.segments,
        encoding: segments.encoding,
        ...(message.fallbackFrom ? { fallback_from: `whatsapp ${message.fallbackFrom.code}` } : {}),
      },
    }, calls);
  }
  if (result.error.code === "21610_opted_out") {
    await deps.sql`select public.record_messaging_consent(${supplierId}::uuid, 'sms', ${to}, false, now())`;
  }
  return await messagingFailure(deps.sql, twilioIntegration(target as SmsTarget), result, calls);
}

/**
 * Texts the couple with every guarantee of an sms step: the number normalised to E.164 (skipped when
 * there is none, failed when it is invalid), consent/opt-out/suppression (skipped with why), Twilio
 * connected, quiet hours in the couple's zone (deferred, never dropped), then {@link sendSms}.
 * @param runKey The run key (or a key derived from it) Twilio's status callback carries.
 */
export async function textCouple(
  deps: SmsChannelDeps,
  target: SmsTarget,
  message: { supplierId: string; runKey: string; text: string; requireOptIn?: boolean },
): Promise<Attempt> {
  if (!target.phone) {
    return done({
      kind: "skipped",
      error: { code: "no_recipient", message: "The couple has no phone number" },
    });
  }
  const number = toE164(target.phone, target.country);
  if (!number.ok) return fail("invalid_phone", number.message);
  const to = number.e164;
  const contacts = await loadContacts(deps.sql, [{ supplier_id: message.supplierId, address: to }]);
  const why = refusal(
    "sms",
    to,
    target.consent ?? {},
    contacts.get(contactKey(message.supplierId, "sms", to)),
    message.requireOptIn ?? false,
    twilioIntegration(target),
  );
  if (why) return refused([why]);
  const quiet = quietHoursDeferral(deps.now?.() ?? new Date(), target);
  if (quiet) return quiet;
  return await sendSms(deps, {
    supplierId: message.supplierId,
    runKey: message.runKey,
    to,
    text: message.text,
  }, target);
}

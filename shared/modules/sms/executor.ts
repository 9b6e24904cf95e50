// The sms module: load each run's couple, supplier, integrations and consent, normalise the number,
// respect consent and quiet hours, then send by WhatsApp (window or template) and/or SMS through Twilio.
import type { Sql } from "../../db/client.ts";
import { pgArray } from "../../db/client.ts";
import type { SendResult } from "../../providers/result.ts";
import { countSegments } from "../../providers/sms/segments.ts";
import { sendTwilioMessage } from "../../providers/sms/twilio.ts";
import {
  REENGAGEMENT_REQUIRED,
  sendWhatsAppMessage,
  type WhatsAppContent,
} from "../../providers/whatsapp/meta_cloud.ts";
import { renderTemplate, TemplateError } from "../../render/template.ts";
import type {
  Attempt,
  IntegrationCall,
  ModuleExecutor,
  ModuleRun,
  Outcome,
  RunError,
} from "../../runs/types.ts";
import type { SecretStore } from "../../secrets.ts";
import { formatWeddingDate, localParts, nextOutsideQuietHours, type QuietHours } from "../../time/zones.ts";
import { type SmsStepConfig, smsStepConfig } from "./config.ts";
import { toE164 } from "./phone.ts";

type Channel = "sms" | "whatsapp";

/** Everything one run needs, loaded for a whole batch in one query. */
type SmsContext = {
  run_id: number;
  instance_status: string;
  config: unknown;
  urgent: boolean;
  couple_name: string;
  phone: string | null;
  country: string | null;
  time_zone: string | null;
  locale: string;
  wedding_date: string | null;
  venue: string | null;
  client_custom: Record<string, unknown>;
  consent: Record<string, unknown>;
  supplier_name: string;
  supplier_time_zone: string;
  quiet_hours: QuietHours;
  twilio_settings: Record<string, unknown> | null;
  twilio_secret_id: string | null;
  twilio_status: string | null;
  whatsapp_settings: Record<string, unknown> | null;
  whatsapp_secret_id: string | null;
  whatsapp_status: string | null;
};

/** Consent and window state of one number on one channel. */
type ContactState = { opted_in: boolean; suppressed: string | null; last_inbound_at: Date | null };

/** What the sms module needs from its function. */
export type SmsModuleDeps = {
  sql: Sql;
  secrets: SecretStore;
  twilio: { baseUrl: string; timeoutMs: number };
  whatsapp: { baseUrl: string; timeoutMs: number };
  /** Public base of the functions, for Twilio's status callback URL. */
  publicFunctionsUrl: string;
  now?: () => Date;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
};

const WINDOW_MS = 24 * 60 * 60 * 1000;
const SMS_BODY_MAX = 1600;
const WHATSAPP_BODY_MAX = 4096;
const DEFAULT_MAX_SEGMENTS = 6;
/** A rate-limit wait up to this long is slept through; a longer one defers the run. */
const MAX_RATE_SLEEP_S = 3;
/** Twilio's documented sending rates, in segments per second, per sender type. */
const SENDER_MPS: Record<string, number> = { long_code: 1, toll_free: 3, short_code: 100 };
/** WhatsApp Cloud API: 80 messages/s per business number, about one per 6 s to the same user. */
const WHATSAPP_NUMBER_MPS = 80;
const WHATSAPP_PAIR_PER_S = 1 / 6;

const done = (outcome: Outcome, calls: IntegrationCall[] = []): Attempt => ({ outcome, calls });
const skip = (code: string, message: string) => done({ kind: "skipped", error: { code, message } });
const fail = (code: string, message: string, calls: IntegrationCall[] = []) =>
  done({ kind: "permanent", error: { code, message } }, calls);

async function loadContexts(sql: Sql, ids: number[]): Promise<Map<number, SmsContext>> {
  const rows = await sql<SmsContext[]>`
    select r.id::int as run_id, i.status::text as instance_status, st.config,
      coalesce((st.timing ->> 'urgent')::boolean, false) as urgent,
      c.couple_name, c.phone, c.country, c.time_zone, c.locale, c.wedding_date::text as wedding_date, c.venue,
      c.custom as client_custom, c.consent,
      s.name as supplier_name, s.time_zone as supplier_time_zone, s.quiet_hours,
      tw.settings as twilio_settings, tw.secret_id::text as twilio_secret_id, tw.status as twilio_status,
      wa.settings as whatsapp_settings, wa.secret_id::text as whatsapp_secret_id, wa.status as whatsapp_status
    from public.module_runs r
    join public.journey_instances i on i.id = r.journey_instance_id
    join public.clients c on c.id = i.client_id
    join public.suppliers s on s.id = r.supplier_id
    join public.journey_steps st on st.id = r.step_id
    left join public.supplier_integrations tw on tw.supplier_id = r.supplier_id and tw.provider = 'twilio'
    left join public.supplier_integrations wa on wa.supplier_id = r.supplier_id and wa.provider = 'whatsapp'
    where r.id = any(${pgArray(ids)}::bigint[])`;
  return new Map(rows.map((row) => [row.run_id, row]));
}

/** Consent, suppression and window of the batch's numbers (known only once normalised), in one query. */
async function loadContacts(
  sql: Sql,
  numbers: { supplier_id: string; address: string }[],
): Promise<Map<string, ContactState>> {
  if (numbers.length === 0) return new Map();
  const rows = await sql<
    {
      supplier_id: string;
      address: string;
      channel: Channel;
      opted_in: boolean;
      suppressed: string | null;
      last_inbound_at: Date | null;
    }[]
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
  return new Map(rows.map((r) => [`${r.supplier_id} ${r.channel} ${r.address}`, r]));
}

/** Merge values of a message: the couple, the wedding, the supplier and custom values. */
function mergeValues(ctx: SmsContext, config: SmsStepConfig): Record<string, string | null> {
  const values: Record<string, string | null> = {
    couple_name: ctx.couple_name,
    wedding_date: ctx.wedding_date ? formatWeddingDate(ctx.wedding_date, ctx.locale) : null,
    supplier_name: ctx.supplier_name,
    venue: ctx.venue,
  };
  for (const [k, v] of Object.entries({ ...ctx.client_custom, ...config.custom })) {
    values[`custom.${k}`] = typeof v === "string" ? v : String(v);
  }
  return values;
}

/** Renders plain text with merge tags (nothing is escaped: SMS and WhatsApp are not HTML). */
function renderText(text: string, values: Record<string, string | null>, name: string): string {
  return renderTemplate({ subject: "", html: "", text }, values, name).text;
}

function outcomeOf(result: SendResult & { ok: false }, calls: IntegrationCall[]): Attempt {
  switch (result.failure) {
    case "transient":
      return done({ kind: "transient", error: result.error, retry_after_s: result.retry_after_s }, calls);
    case "permanent":
      return done({ kind: "permanent", error: result.error }, calls);
    case "unknown":
      // No idempotency key at Twilio or WhatsApp: hold the run; the status callback that carries the
      // run key reconciles it (public.receive_message_status). A blind resend could text twice.
      return done({ kind: "unknown", error: result.error, replay_safe: false }, calls);
  }
}

function secretJson(raw: string): Record<string, unknown> {
  const parsed = JSON.parse(raw);
  if (typeof parsed !== "object" || parsed === null) throw new TypeError("not an object");
  return parsed;
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && v > 0 ? v : undefined);

/** The sms module's executor. */
export function smsExecutor(deps: SmsModuleDeps): ModuleExecutor {
  const now = deps.now ?? (() => new Date());
  const fetchFn = deps.fetch ?? fetch;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  /**
   * Takes send-rate tokens shared by every instance; sleeps through a short wait. Returns the seconds
   * to defer the run by when the wait is longer, else 0.
   */
  async function takeTokens(buckets: { key: string; cost: number; per_second: number; burst: number }[]) {
    for (;;) {
      const [row] = await deps.sql<{ wait: number }[]>`
        select public.take_rate_tokens(${JSON.stringify(buckets)}::text::jsonb) as wait`;
      if (row.wait <= 0) return 0;
      if (row.wait > MAX_RATE_SLEEP_S) return row.wait;
      await sleep(Math.ceil(row.wait * 1000));
    }
  }

  const deferBy = (seconds: number, reason: string): Attempt =>
    done({
      kind: "deferred",
      defer_until: new Date(now().getTime() + Math.ceil(seconds * 1000)),
      error: { code: "rate_limited", message: reason },
    });

  async function sendWhatsApp(
    run: ModuleRun,
    ctx: SmsContext,
    to: string,
    text: string,
    config: SmsStepConfig,
    values: Record<string, string | null>,
    windowOpen: boolean,
    calls: IntegrationCall[],
  ): Promise<{ attempt: Attempt; fallback?: RunError }> {
    const settings = ctx.whatsapp_settings ?? {};
    const phoneNumberId = str(settings.phone_number_id);
    let accessToken: string | undefined;
    try {
      accessToken = str(secretJson(await deps.secrets.byId(ctx.whatsapp_secret_id!)).access_token);
    } catch {
      accessToken = undefined;
    }
    if (!phoneNumberId || !accessToken) {
      return {
        attempt: fail(
          "credentials_missing",
          "Cannot send WhatsApp: settings need phone_number_id and the Vault secret an access_token",
        ),
      };
    }
    const template = config.whatsapp_template;
    let templateContent: WhatsAppContent | undefined;
    if (template) {
      templateContent = {
        type: "template",
        name: template.name,
        language: template.language,
        bodyParameters: template.body_parameters.map((p, i) => renderText(p, values, `parameter ${i + 1}`)),
      };
    }
    if (windowOpen && text.length > WHATSAPP_BODY_MAX) {
      return {
        attempt: fail(
          "message_too_long",
          `Cannot send WhatsApp: ${text.length} characters, the limit is ${WHATSAPP_BODY_MAX}`,
        ),
      };
    }
    let content: WhatsAppContent | undefined = windowOpen
      ? { type: "text", body: text, mediaUrl: config.media_url }
      : templateContent;
    if (!content) {
      return {
        attempt: fail(
          "outside_window",
          "Cannot send WhatsApp: the couple has not written in the last 24 hours and the step has no approved template",
        ),
        fallback: { code: "outside_window", message: "outside the 24-hour window, no template" },
      };
    }
    const wait = await takeTokens([
      {
        key: `whatsapp:number:${phoneNumberId}`,
        cost: 1,
        per_second: WHATSAPP_NUMBER_MPS,
        burst: WHATSAPP_NUMBER_MPS,
      },
      { key: `whatsapp:pair:${phoneNumberId}:${to}`, cost: 1, per_second: WHATSAPP_PAIR_PER_S, burst: 1 },
    ]);
    if (wait > 0) return { attempt: deferBy(wait, "WhatsApp send rate (per number or per recipient)") };
    const account = {
      phoneNumberId,
      accessToken,
      baseUrl: `${str(settings.base_url) ?? deps.whatsapp.baseUrl}/${str(settings.api_version) ?? "v21.0"}`,
      timeoutMs: deps.whatsapp.timeoutMs,
    };
    let result = await sendWhatsAppMessage(account, to, content, run.idempotency_key, fetchFn);
    calls.push(result.call);
    if (
      !result.ok && result.graph_code === REENGAGEMENT_REQUIRED && content.type === "text" && templateContent
    ) {
      // The window had closed after all: the approved template may go out instead.
      content = templateContent;
      result = await sendWhatsAppMessage(account, to, content, run.idempotency_key, fetchFn);
      calls.push(result.call);
    }
    if (result.ok) {
      return {
        attempt: done({
          kind: "succeeded",
          provider: "whatsapp",
          provider_message_id: result.provider_message_id,
          channel: "whatsapp",
          recipient: to,
          result: {
            channel: "whatsapp",
            content: content.type,
            ...(template && content.type === "template" ? { template: template.name } : {}),
          },
        }, calls),
      };
    }
    // Not a WhatsApp user (131026), or outside the window with no template: SMS can still carry it.
    const fallback = result.failure === "permanent" &&
        (result.graph_code === 131026 || result.graph_code === REENGAGEMENT_REQUIRED)
      ? result.error
      : undefined;
    return { attempt: outcomeOf(result, calls), fallback };
  }

  async function sendSms(
    run: ModuleRun,
    ctx: SmsContext,
    to: string,
    text: string,
    calls: IntegrationCall[],
    fallbackFrom?: RunError,
  ): Promise<Attempt> {
    const settings = ctx.twilio_settings ?? {};
    let secret: Record<string, unknown>;
    try {
      secret = secretJson(await deps.secrets.byId(ctx.twilio_secret_id!));
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
    const wait = await takeTokens([
      {
        key: `twilio:sender:${messagingServiceSid ?? from}`,
        cost: segments.segments,
        per_second: mps,
        burst: mps,
      },
    ]);
    if (wait > 0) return deferBy(wait, `Twilio sender rate (${mps} segments/s)`);

    const callback = `${deps.publicFunctionsUrl}/webhook-twilio?supplier=${run.supplier_id}&run=${
      encodeURIComponent(run.idempotency_key)
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
      fetchFn,
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
          ...(fallbackFrom ? { fallback_from: `whatsapp ${fallbackFrom.code}` } : {}),
        },
      }, calls);
    }
    if (result.error.code === "21610_opted_out") {
      // The couple replied STOP to this sender: record it so later steps are skipped, not refused.
      await deps
        .sql`select public.record_messaging_consent(${run.supplier_id}::uuid, 'sms', ${to}, false, now())`;
    }
    return outcomeOf(result, calls);
  }

  return {
    async prepare(runs) {
      const contexts = await loadContexts(deps.sql, runs.map((r) => r.id));
      const numbers = new Map<number, ReturnType<typeof toE164>>();
      for (const ctx of contexts.values()) {
        if (ctx.phone) numbers.set(ctx.run_id, toE164(ctx.phone, ctx.country));
      }
      const contacts = await loadContacts(
        deps.sql,
        [...numbers].flatMap(([runId, n]) =>
          n.ok ? [{ supplier_id: runs.find((r) => r.id === runId)!.supplier_id, address: n.e164 }] : []
        ),
      );

      return async (run: ModuleRun): Promise<Attempt> => {
        const ctx = contexts.get(run.id);
        if (!ctx) return fail("run_context_missing", `Cannot send SMS: run ${run.id} has no couple or step`);
        if (ctx.instance_status !== "active") {
          return skip("journey_inactive", `The journey is ${ctx.instance_status}`);
        }
        const parsed = smsStepConfig.safeParse(ctx.config);
        if (!parsed.success) {
          const why = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
          return fail("invalid_config", `Cannot send SMS: invalid step config: ${why}`);
        }
        const config = parsed.data;
        const number = numbers.get(run.id);
        if (!number) return skip("no_recipient", "The couple has no phone number");
        if (!number.ok) return fail("invalid_phone", number.message);
        const to = number.e164;

        // Which channels may carry it, in order, and why the others may not.
        const wanted: Channel[] = config.channel === "sms"
          ? ["sms"]
          : config.channel === "whatsapp"
          ? ["whatsapp"]
          : ["whatsapp", "sms"];
        const refusals: { code: string; message: string; consent: boolean }[] = [];
        const usable = wanted.filter((channel) => {
          const contact = contacts.get(`${run.supplier_id} ${channel} ${to}`);
          const label = channel === "sms" ? "SMS" : "WhatsApp";
          if (ctx.consent[channel] === false) {
            refusals.push({
              code: "no_consent",
              message: `The couple has not agreed to ${label}`,
              consent: true,
            });
          } else if (contact?.suppressed) {
            refusals.push({
              code: contact.suppressed === "opted_out" ? "opted_out" : "suppressed",
              message: `${to} is on the supplier's ${label} suppression list (${contact.suppressed})`,
              consent: true,
            });
          } else if (config.require_opt_in && ctx.consent[channel] !== true && !contact?.opted_in) {
            refusals.push({
              code: "no_opt_in",
              message: `The step requires opt-in and the couple has not opted in to ${label}`,
              consent: true,
            });
          } else if (
            (channel === "sms" ? ctx.twilio_status : ctx.whatsapp_status) !== "connected" ||
            !(channel === "sms" ? ctx.twilio_secret_id : ctx.whatsapp_secret_id)
          ) {
            refusals.push({
              code: "integration_missing",
              message: `Cannot send ${label}: ${
                channel === "sms" ? "Twilio" : "WhatsApp"
              } is not connected for this supplier`,
              consent: false,
            });
          } else {
            return true;
          }
          return false;
        });
        if (usable.length === 0) {
          const consent = refusals.find((r) => r.consent);
          return consent ? skip(consent.code, consent.message) : fail(refusals[0].code, refusals[0].message);
        }

        const at = now();
        const tz = ctx.time_zone ?? ctx.supplier_time_zone;
        const local = localParts(at, tz);
        const today = `${String(local.year).padStart(4, "0")}-${String(local.month).padStart(2, "0")}-${
          String(local.day).padStart(2, "0")
        }`;
        // Only an explicitly urgent step on the wedding day itself may text at night.
        if (!(ctx.urgent && ctx.wedding_date === today)) {
          const next = nextOutsideQuietHours(at, tz, ctx.quiet_hours);
          if (next.getTime() > at.getTime()) {
            return done({
              kind: "deferred",
              defer_until: next,
              error: { code: "quiet_hours", message: `Quiet hours in ${tz} until ${next.toISOString()}` },
            });
          }
        }

        const values = mergeValues(ctx, config);
        let text: string;
        try {
          text = renderText(config.text, values, "sms text");
        } catch (error) {
          if (error instanceof TemplateError) return fail("missing_merge_tags", error.message);
          throw error;
        }

        const calls: IntegrationCall[] = [];
        let fallback: RunError | undefined;
        for (const [i, channel] of usable.entries()) {
          if (channel === "sms") return await sendSms(run, ctx, to, text, calls, fallback);
          const contact = contacts.get(`${run.supplier_id} whatsapp ${to}`);
          const windowOpen = !!contact?.last_inbound_at &&
            at.getTime() - new Date(contact.last_inbound_at).getTime() < WINDOW_MS;
          let sent;
          try {
            sent = await sendWhatsApp(run, ctx, to, text, config, values, windowOpen, calls);
          } catch (error) {
            if (error instanceof TemplateError) return fail("missing_merge_tags", error.message, calls);
            throw error;
          }
          if (!sent.fallback || i === usable.length - 1) return sent.attempt;
          fallback = sent.fallback;
        }
        return fail("no_channel", "Cannot send: no channel left", calls);
      };
    },
  };
}

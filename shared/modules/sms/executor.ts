// The sms module: load each run's couple, supplier, integrations and consent, normalise the number,
// respect consent and quiet hours, then send by WhatsApp (window or template) and/or SMS through Twilio.
import { takeRateLimits } from "../../providers/rate.ts";
import {
  contactKey,
  loadContacts,
  messagingFailure,
  type MessagingIntegration,
  quietHoursDeferral,
  type Refusal,
  refusal,
  refused,
  renderText,
  secretJson,
  sendSms,
  type SmsChannelDeps,
  type SmsTarget,
  str,
  twilioIntegration,
} from "../../channels/sms.ts";
import {
  REENGAGEMENT_REQUIRED,
  sendWhatsAppMessage,
  type WhatsAppContent,
} from "../../providers/whatsapp/meta_cloud.ts";
import { pgArray, type Sql } from "../../db/client.ts";
import { TemplateError } from "../../render/template.ts";
import {
  type Attempt,
  done,
  type IntegrationCall,
  type ModuleExecutor,
  type ModuleRun,
  type RunError,
} from "../../runs/types.ts";
import { formatWeddingDate } from "../../time/zones.ts";
import { type SmsStepConfig, smsStepConfig } from "./config.ts";
import { toE164 } from "./phone.ts";

type Channel = "sms" | "whatsapp";

/** Everything one run needs, loaded for a whole batch in one query. */
type SmsContext = SmsTarget & {
  run_id: number;
  instance_status: string;
  config: unknown;
  couple_name: string;
  locale: string;
  venue: string | null;
  client_custom: Record<string, unknown>;
  supplier_name: string;
  whatsapp_settings: Record<string, unknown> | null;
  whatsapp_secret_id: string | null;
  whatsapp_status: string | null;
  whatsapp_integration_id: string | null;
  whatsapp_status_reason: string | null;
  whatsapp_status_since: string | null;
};

const whatsappIntegration = (ctx: SmsContext): MessagingIntegration => ({
  id: ctx.whatsapp_integration_id,
  provider: "whatsapp",
  status: ctx.whatsapp_status,
  status_reason: ctx.whatsapp_status_reason,
  status_since: ctx.whatsapp_status_since,
  secret_id: ctx.whatsapp_secret_id,
});

/** Meta's codes for a template that does not exist, does not match, or was paused or disabled. */
const TEMPLATE_REJECTED = new Set([132000, 132001, 132005, 132007, 132012, 132015, 132016]);

/** What the sms module needs from its function. */
export type SmsModuleDeps = SmsChannelDeps & {
  whatsapp: { baseUrl: string; timeoutMs: number };
};

const WINDOW_MS = 24 * 60 * 60 * 1000;
const WHATSAPP_BODY_MAX = 4096;
/** WhatsApp Cloud API: 80 messages/s per business number, about one per 6 s to the same user. */
const WHATSAPP_NUMBER_MPS = 80;
const WHATSAPP_PAIR_PER_S = 1 / 6;

const skip = (code: string, message: string) => done({ kind: "skipped", error: { code, message } });
const fail = (code: string, message: string, calls: IntegrationCall[] = []) =>
  done({ kind: "permanent", error: { code, message } }, calls);

async function loadContexts(sql: Sql, ids: number[]): Promise<Map<number, SmsContext>> {
  const rows = await sql<SmsContext[]>`select * from public.sms_run_contexts(${pgArray(ids)}::bigint[])`;
  return new Map(rows.map((row) => [row.run_id, row]));
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

/** The sms module's executor. */
export function smsExecutor(deps: SmsModuleDeps): ModuleExecutor {
  const now = deps.now ?? (() => new Date());
  const fetchFn = deps.fetch ?? fetch;

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
      accessToken = str(
        secretJson(await deps.secrets.byId(ctx.whatsapp_secret_id!, ctx.whatsapp_status_since ?? undefined))
          .access_token,
      );
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
    const limited = await takeRateLimits(deps, [
      {
        provider: "whatsapp",
        account: phoneNumberId,
        cost: 1,
        per_second: WHATSAPP_NUMBER_MPS,
        burst: WHATSAPP_NUMBER_MPS,
      },
      {
        provider: "whatsapp",
        account: phoneNumberId,
        scope: `pair:${to}`,
        cost: 1,
        per_second: WHATSAPP_PAIR_PER_S,
        burst: 1,
      },
    ], "WhatsApp send rate (per number or per recipient)");
    if (limited) return { attempt: done(limited) };
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
    if (template && result.graph_code !== undefined && TEMPLATE_REJECTED.has(result.graph_code)) {
      // The vendor must fix the template at Meta: tell them once per template, not once per couple.
      await deps.sql`select public.notify_supplier(${run.supplier_id}::uuid, 'whatsapp_template_rejected',
        ${`whatsapp_template_rejected:${template.name}:${template.language}`}, ${
        JSON.stringify({ template: template.name, language: template.language, reason: result.error.message })
      }::text::jsonb)`;
    }
    return { attempt: await messagingFailure(deps.sql, whatsappIntegration(ctx), result, calls), fallback };
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
        const refusals: Refusal[] = [];
        const usable = wanted.filter((channel) => {
          const why = refusal(
            channel,
            to,
            ctx.consent,
            contacts.get(contactKey(run.supplier_id, channel, to)),
            config.require_opt_in,
            channel === "sms" ? twilioIntegration(ctx) : whatsappIntegration(ctx),
          );
          if (why) refusals.push(why);
          return !why;
        });
        if (usable.length === 0) return refused(refusals);

        const at = now();
        const quiet = quietHoursDeferral(at, ctx);
        if (quiet) return quiet;

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
          if (channel === "sms") {
            return await sendSms(
              deps,
              { supplierId: run.supplier_id, runKey: run.idempotency_key, to, text, fallbackFrom: fallback },
              ctx,
              calls,
            );
          }
          const contact = contacts.get(contactKey(run.supplier_id, "whatsapp", to));
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

// The email module: load each run's couple, supplier, template and credentials, apply the send window,
// render, and send through Resend with the run's idempotency key.
import type { Sql } from "../../db/client.ts";
import { sendResendEmail } from "../../providers/email/resend.ts";
import type { SendResult } from "../../providers/result.ts";
import { renderTemplate, TemplateError } from "../../render/template.ts";
import type { Attempt, ModuleExecutor, ModuleRun, Outcome } from "../../runs/types.ts";
import type { SecretStore } from "../../secrets.ts";
import { type BusinessHours, formatWeddingDate, nextBusinessTime } from "../../time/zones.ts";
import { emailStepConfig } from "./config.ts";

/** Everything one email run needs, loaded for a whole batch in one query. */
type EmailContext = {
  run_id: number;
  instance_status: string;
  config: unknown;
  couple_name: string;
  email: string | null;
  locale: string;
  wedding_date: string | null;
  venue: string | null;
  client_custom: Record<string, unknown>;
  consent: Record<string, unknown>;
  supplier_name: string;
  supplier_time_zone: string;
  business_hours: BusinessHours;
  email_from: string | null;
  reply_to: string | null;
  template_subject: string | null;
  template_html: string | null;
  template_text: string | null;
  integration_settings: Record<string, unknown> | null;
  integration_secret_id: string | null;
  integration_status: string | null;
  suppressed: boolean;
};

/** What the email module needs from its function. */
export type EmailModuleDeps = {
  sql: Sql;
  secrets: SecretStore;
  resend: { baseUrl: string; timeoutMs: number };
  now?: () => Date;
};

const skip = (code: string, message: string): Attempt => ({
  outcome: { kind: "skipped", error: { code, message } },
  calls: [],
});
const fail = (code: string, message: string): Attempt => ({
  outcome: { kind: "permanent", error: { code, message } },
  calls: [],
});

async function loadContexts(sql: Sql, ids: number[]): Promise<Map<number, EmailContext>> {
  const rows = await sql<EmailContext[]>`
    select r.id::int as run_id, i.status::text as instance_status, st.config,
      c.couple_name, c.email, c.locale, c.wedding_date::text as wedding_date, c.venue,
      c.custom as client_custom, c.consent,
      s.name as supplier_name, s.time_zone as supplier_time_zone, s.business_hours, s.email_from, s.reply_to,
      t.subject as template_subject, t.html as template_html, t.text as template_text,
      si.settings as integration_settings, si.secret_id::text as integration_secret_id,
      si.status as integration_status,
      exists (
        select 1 from public.suppressions x
        where x.supplier_id = r.supplier_id and x.channel = 'email' and x.address = lower(c.email)
      ) as suppressed
    from public.module_runs r
    join public.journey_instances i on i.id = r.journey_instance_id
    join public.clients c on c.id = i.client_id
    join public.suppliers s on s.id = r.supplier_id
    join public.journey_steps st on st.id = r.step_id
    left join public.email_templates t on t.supplier_id = r.supplier_id and t.key = st.config ->> 'template'
    left join public.supplier_integrations si on si.supplier_id = r.supplier_id and si.provider = 'resend'
    where r.id = any(${ids}::bigint[])`;
  return new Map(rows.map((row) => [row.run_id, row]));
}

function toOutcome(result: SendResult, recipient: string): Outcome {
  if (result.ok) {
    return {
      kind: "succeeded",
      provider: "resend",
      provider_message_id: result.provider_message_id,
      channel: "email",
      recipient,
    };
  }
  switch (result.failure) {
    case "transient":
      return { kind: "transient", error: result.error, retry_after_s: result.retry_after_s };
    case "permanent":
      return { kind: "permanent", error: result.error };
    case "unknown":
      // Resend deduplicates on the idempotency key: replaying is how the outcome is reconciled.
      return { kind: "unknown", error: result.error, replay_safe: true };
  }
}

/** The email module's executor. */
export function emailExecutor(deps: EmailModuleDeps): ModuleExecutor {
  const now = deps.now ?? (() => new Date());
  return {
    async prepare(runs) {
      const contexts = await loadContexts(deps.sql, runs.map((r) => r.id));
      return async (run: ModuleRun): Promise<Attempt> => {
        const ctx = contexts.get(run.id);
        if (!ctx) {
          return fail("run_context_missing", `Cannot send email: run ${run.id} has no couple or step`);
        }
        if (ctx.instance_status !== "active") {
          return skip("journey_inactive", `The journey is ${ctx.instance_status}`);
        }
        const parsed = emailStepConfig.safeParse(ctx.config);
        if (!parsed.success) {
          const why = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
          return fail("invalid_config", `Cannot send email: invalid step config: ${why}`);
        }
        const config = parsed.data;
        if (!ctx.email) return skip("no_recipient", "The couple has no email address");
        if (ctx.consent.email === false) return skip("no_consent", "The couple has not agreed to email");
        if (ctx.suppressed) {
          return skip(
            "suppressed",
            "The address is on the supplier's suppression list (bounce, complaint or unsubscribe)",
          );
        }
        if (ctx.template_html === null || ctx.template_subject === null) {
          return fail(
            "template_not_found",
            `Cannot send email: template "${config.template}" not found for supplier ${run.supplier_id}`,
          );
        }
        if (!ctx.integration_secret_id || ctx.integration_status !== "connected") {
          return fail("integration_missing", "Cannot send email: Resend is not connected for this supplier");
        }
        const from = ctx.email_from ?? (ctx.integration_settings?.from as string | undefined);
        if (!from) {
          return fail("no_sender", "Cannot send email: the supplier has no sender address (email_from)");
        }

        if (config.send_time === "business_hours") {
          const at = now();
          const next = nextBusinessTime(at, ctx.supplier_time_zone, ctx.business_hours);
          if (next.getTime() > at.getTime()) {
            return { outcome: { kind: "deferred", defer_until: next }, calls: [] };
          }
        }

        const custom = { ...ctx.client_custom, ...config.custom };
        const values: Record<string, string | null> = {
          couple_name: ctx.couple_name,
          wedding_date: ctx.wedding_date ? formatWeddingDate(ctx.wedding_date, ctx.locale) : null,
          supplier_name: ctx.supplier_name,
          venue: ctx.venue,
        };
        for (const [k, v] of Object.entries(custom)) {
          values[`custom.${k}`] = typeof v === "string" ? v : String(v);
        }
        let rendered;
        try {
          rendered = renderTemplate(
            { subject: ctx.template_subject, html: ctx.template_html, text: ctx.template_text },
            values,
            config.template,
          );
        } catch (error) {
          if (error instanceof TemplateError) return fail("missing_merge_tags", error.message);
          throw error;
        }

        let apiKey: string;
        try {
          const secret = JSON.parse(await deps.secrets.byId(ctx.integration_secret_id));
          apiKey = secret.api_key;
          if (typeof apiKey !== "string" || apiKey === "") throw new TypeError("api_key missing");
        } catch {
          return fail("credentials_missing", "Cannot send email: the Resend secret in Vault has no api_key");
        }
        const baseUrl = (ctx.integration_settings?.base_url as string | undefined) ?? deps.resend.baseUrl;
        const result = await sendResendEmail(
          { apiKey, baseUrl, timeoutMs: deps.resend.timeoutMs },
          {
            from,
            to: ctx.email,
            subject: rendered.subject,
            html: rendered.html,
            text: rendered.text,
            reply_to: ctx.reply_to ?? undefined,
            tags: [
              { name: "module", value: "email" },
              { name: "supplier", value: run.supplier_id },
              { name: "run", value: String(run.id) },
            ],
          },
          run.idempotency_key,
        );
        return { outcome: toOutcome(result, ctx.email), calls: [result.call] };
      };
    },
  };
}

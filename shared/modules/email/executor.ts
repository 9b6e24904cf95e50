// The email module: load each run's couple, supplier, template and providers, apply the checks and the
// send window, render in the supplier's branding with a one-click unsubscribe, and send through the email
// channel (the supplier's providers in order, failing over, exactly once; held while disconnected).
import { delivered, type EmailChannel, type EmailTarget } from "../../channels/email.ts";
import type { Sql } from "../../db/client.ts";
import { pgArray } from "../../db/client.ts";
import type { Brand } from "../../render/brand.ts";
import { TemplateError } from "../../render/template.ts";
import type { Attempt, ModuleExecutor, ModuleRun } from "../../runs/types.ts";
import type { BusinessHours } from "../../time/zones.ts";
import { composeEmail } from "./compose.ts";
import { emailStepConfig } from "./config.ts";
import { sendWindow } from "./send_window.ts";

/** Everything one email run needs, loaded for a whole batch in one query. */
type EmailContext = EmailTarget & {
  instance_status: string;
  config: unknown;
  couple_name: string;
  locale: string;
  couple_time_zone: string | null;
  wedding_date: string | null;
  venue: string | null;
  client_custom: Record<string, unknown>;
  supplier_name: string;
  supplier_time_zone: string;
  business_hours: BusinessHours;
  brand: Brand;
  template_subject: string | null;
  template_html: string | null;
  template_text: string | null;
};

/** What the email module needs from its function. */
export type EmailModuleDeps = { sql: Sql; email: EmailChannel; now?: () => Date };

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
    select * from public.email_run_contexts(${pgArray(ids)}::bigint[])`;
  return new Map(rows.map((row) => [row.run_id, row]));
}

/** The email module's executor. */
export function emailExecutor(deps: EmailModuleDeps): ModuleExecutor {
  const now = deps.now ?? (() => new Date());
  return {
    async prepare(runs) {
      const contexts = await loadContexts(deps.sql, runs.map((r) => r.id));
      const mail = deps.email.batch();
      // A batch's runs mostly share their steps: parse each step's config once.
      const configs = new Map<string, ReturnType<typeof emailStepConfig.safeParse>>();
      const stepConfig = (stepId: string, config: unknown) => {
        let parsed = configs.get(stepId);
        if (!parsed) configs.set(stepId, parsed = emailStepConfig.safeParse(config));
        return parsed;
      };
      return async (run: ModuleRun): Promise<Attempt> => {
        const ctx = contexts.get(run.id);
        if (!ctx) {
          return fail("run_context_missing", `Cannot send email: run ${run.id} has no couple or step`);
        }
        if (ctx.instance_status !== "active") {
          return skip("journey_inactive", `The journey is ${ctx.instance_status}`);
        }
        const parsed = stepConfig(run.step_id ?? `run:${run.id}`, ctx.config);
        if (!parsed.success) {
          const why = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
          return fail("invalid_config", `Cannot send email: invalid step config: ${why}`);
        }
        const config = parsed.data;
        const refused = mail.unreachable(ctx, false);
        if (refused) return refused;
        if (ctx.template_html === null || ctx.template_subject === null) {
          return fail(
            "template_not_found",
            `Cannot send email: template "${config.template}" not found for supplier ${run.supplier_id}`,
          );
        }

        const waitUntil = sendWindow(config, {
          supplierTimeZone: ctx.supplier_time_zone,
          businessHours: ctx.business_hours,
          coupleTimeZone: ctx.couple_time_zone,
        }, now());
        if (waitUntil) return { outcome: { kind: "deferred", defer_until: waitUntil }, calls: [] };

        let rendered;
        try {
          rendered = composeEmail({
            templateKey: config.template,
            template: { subject: ctx.template_subject, html: ctx.template_html, text: ctx.template_text },
            couple: {
              couple_name: ctx.couple_name,
              wedding_date: ctx.wedding_date,
              locale: ctx.locale,
              venue: ctx.venue,
              custom: ctx.client_custom,
            },
            supplier: { name: ctx.supplier_name, brand: ctx.brand },
            stepCustom: config.custom,
            unsubscribeUrl: await mail.unsubscribeLink(ctx),
          });
        } catch (error) {
          if (error instanceof TemplateError) return fail("missing_merge_tags", error.message);
          throw error;
        }
        const result = await mail.send(ctx, rendered, {
          key: run.idempotency_key,
          transactional: false,
          tags: { module: "email", supplier: run.supplier_id, run: String(run.id) },
        });
        if ("attempt" in result) return result.attempt;
        return { outcome: delivered(result.sent), calls: result.sent.calls };
      };
    },
  };
}

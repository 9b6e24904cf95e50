// The info module: render the vendor's content (text, markdown, sanitised HTML), store it for the
// couple's dashboard and/or email it.
import { delivered, type EmailChannel } from "../../channels/email.ts";
import type { Sql } from "../../db/client.ts";
import { renderContent } from "../../render/content.ts";
import { escapeHtml, renderTemplate, TemplateError } from "../../render/template.ts";
import type { Attempt, ModuleExecutor, ModuleRun } from "../../runs/types.ts";
import { coupleValues, failed, loadRunContexts, parseStepConfig, skipped } from "../context.ts";
import { infoStepConfig } from "./config.ts";

/** What the info module needs from its function. */
export type InfoModuleDeps = { sql: Sql; email: EmailChannel };

/** The info module's executor. */
export function infoExecutor(deps: InfoModuleDeps): ModuleExecutor {
  return {
    async prepare(runs) {
      const contexts = await loadRunContexts(deps.sql, runs.map((r) => r.id));
      return async (run: ModuleRun): Promise<Attempt> => {
        const ctx = contexts.get(run.id);
        if (!ctx) {
          return failed("run_context_missing", `Cannot run info step: run ${run.id} has no couple or step`);
        }
        if (ctx.instance_status !== "active") {
          return skipped("journey_inactive", `The journey is ${ctx.instance_status}`);
        }
        const parsed = parseStepConfig(infoStepConfig, ctx.config, "info");
        if (!parsed.ok) return parsed.attempt;
        const config = parsed.config;

        const content = renderContent(config.content.format, config.content.body);
        let notice;
        try {
          // Merge values are escaped into the already sanitised HTML.
          notice = renderTemplate(
            { subject: config.title, html: content.html, text: content.text },
            coupleValues(ctx),
            "info",
          );
        } catch (error) {
          if (error instanceof TemplateError) return failed("missing_merge_tags", error.message);
          throw error;
        }

        let noticeId: number | null = null;
        if (config.display_in.includes("dashboard")) {
          const [row] = await deps.sql<{ id: string }[]>`
            select public.record_client_notice(${run.id}, ${notice.subject}, ${notice.html}, ${notice.text},
              ${config.priority}, ${config.dismissible}) as id`;
          noticeId = Number(row.id);
        }
        const result = { notice_id: noticeId, priority: config.priority };
        if (!config.display_in.includes("email")) {
          return { outcome: { kind: "succeeded", provider: "dashboard", result }, calls: [] };
        }
        const email = {
          subject: notice.subject,
          html: `<h2>${escapeHtml(notice.subject)}</h2>\n${notice.html}`,
          text: `${notice.subject}\n\n${notice.text}`,
        };
        // Information the couple needs about their wedding is transactional: no unsubscribe.
        const mail = deps.email.batch();
        const unreachable = mail.unreachable(ctx, true);
        if (unreachable && noticeId !== null && unreachable.outcome.kind === "skipped") {
          // Shown on the dashboard all the same; the email part is skipped with its reason.
          return {
            outcome: {
              kind: "succeeded",
              provider: "dashboard",
              result: { ...result, email_skipped: unreachable.outcome.error },
            },
            calls: [],
          };
        }
        const sent = await mail.send(ctx, email, {
          key: run.idempotency_key,
          transactional: true,
          tags: { module: "info", supplier: run.supplier_id, run: String(run.id) },
        });
        if ("attempt" in sent) return sent.attempt;
        return { outcome: delivered(sent.sent, result), calls: sent.sent.calls };
      };
    },
  };
}

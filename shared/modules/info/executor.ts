// The info module: render the vendor's content (text, markdown, sanitised HTML), store it for the
// couple's dashboard and/or email it.
import { delivered, type EmailChannelDeps, emailCouple, notSent } from "../../channels/email.ts";
import type { Sql } from "../../db/client.ts";
import { renderContent } from "../../render/content.ts";
import { escapeHtml, renderTemplate, TemplateError } from "../../render/template.ts";
import type { Attempt, ModuleExecutor, ModuleRun } from "../../runs/types.ts";
import { coupleValues, failed, loadRunContexts, parseStepConfig, skipped } from "../context.ts";
import { infoStepConfig } from "./config.ts";

/** What the info module needs from its function. */
export type InfoModuleDeps = EmailChannelDeps & { sql: Sql };

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
        const sent = await emailCouple(deps, ctx, email, run.idempotency_key, {
          module: "info",
          supplier: run.supplier_id,
          run: String(run.id),
        });
        if (sent.status === "sent") return { outcome: { ...delivered(sent), result }, calls: [sent.call] };
        if (sent.status === "unreachable" && noticeId !== null) {
          // Shown on the dashboard all the same; the email part is skipped with its reason.
          return {
            outcome: {
              kind: "succeeded",
              provider: "dashboard",
              result: { ...result, email_skipped: sent.error },
            },
            calls: [],
          };
        }
        return notSent(sent);
      };
    },
  };
}

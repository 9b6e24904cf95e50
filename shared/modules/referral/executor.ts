// The referral module: give the couple their unguessable code and a signed referral link (optionally on
// their wedding anniversary), with the vendor's reward.
import { delivered, type EmailChannel } from "../../channels/email.ts";
import type { Sql } from "../../db/client.ts";
import { signLinkToken } from "../../links/tokens.ts";
import { messageTemplate } from "../../render/message.ts";
import { renderTemplate, TemplateError } from "../../render/template.ts";
import type { Attempt, ModuleExecutor, ModuleRun } from "../../runs/types.ts";
import { localDate, nextAnniversary } from "../../time/dates.ts";
import { zonedInstant } from "../../time/zones.ts";
import { coupleValues, failed, loadRunContexts, parseStepConfig, skipped } from "../context.ts";
import { referralStepConfig } from "./config.ts";

type ProgrammeRow = { reward: string | null; programme_active: boolean | null; run_created_at: Date };

/** What the referral module needs from its function. */
export type ReferralModuleDeps = {
  sql: Sql;
  email: EmailChannel;
  linksSecret: () => Promise<string>;
  /** Public base of the functions: referral links go to `<base>/journey-links/referral`. */
  linksBaseUrl: string;
  now?: () => Date;
};

const DAY_MS = 86_400_000;

/** The referral module's executor. */
export function referralExecutor(deps: ReferralModuleDeps): ModuleExecutor {
  const now = deps.now ?? (() => new Date());
  return {
    async prepare(runs) {
      const contexts = await loadRunContexts<ProgrammeRow>(deps.sql, runs.map((r) => r.id), {
        columns: "p.reward, p.active as programme_active, r.created_at as run_created_at",
        joins: `join public.module_runs r on r.id = c.run_id
          left join public.referral_programmes p on p.supplier_id = c.supplier_id`,
      });
      return async (run: ModuleRun): Promise<Attempt> => {
        const ctx = contexts.get(run.id);
        if (!ctx) {
          return failed(
            "run_context_missing",
            `Cannot run referral step: run ${run.id} has no couple or step`,
          );
        }
        if (ctx.instance_status !== "active") {
          return skipped("journey_inactive", `The journey is ${ctx.instance_status}`);
        }
        const parsed = parseStepConfig(referralStepConfig, ctx.config, "referral");
        if (!parsed.ok) return parsed.attempt;
        const config = parsed.config;
        if (!ctx.reward || !ctx.programme_active) {
          return failed(
            "no_referral_programme",
            "Cannot invite referrals: the vendor has no active referral programme",
          );
        }
        const at = now();
        // The link is issued at a fixed instant, so a retried send carries the same link.
        let issued = ctx.run_created_at;
        if (config.anniversary) {
          if (!ctx.wedding_date) {
            return skipped("no_wedding_date", "The couple has no wedding date for the anniversary");
          }
          const day = nextAnniversary(ctx.wedding_date, localDate(at, ctx.time_zone));
          const sendAt = zonedInstant(day, config.send_at, ctx.time_zone);
          if (day > localDate(at, ctx.time_zone) || sendAt.getTime() > at.getTime()) {
            return { outcome: { kind: "deferred", defer_until: sendAt }, calls: [] };
          }
          issued = sendAt;
        }
        const [{ code }] = await deps.sql<
          { code: string }[]
        >`select public.ensure_referral_code(${run.id}) as code`;
        const token = await signLinkToken(
          await deps.linksSecret(),
          "referral",
          { sub: code },
          issued,
          new Date(issued.getTime() + config.link_ttl_days * DAY_MS),
        );
        let content;
        try {
          content = renderTemplate(
            messageTemplate({
              subject: config.subject,
              message: config.message,
              actions: [{ label: config.button, tag: "referral_link" }],
              footer: "Your referral code: {{referral_code}}\n\n{{reward}}",
            }),
            {
              ...coupleValues(ctx),
              referral_link: `${deps.linksBaseUrl}/journey-links/referral?t=${token}`,
              referral_code: code,
              reward: ctx.reward,
            },
            "referral",
          );
        } catch (error) {
          if (error instanceof TemplateError) return failed("missing_merge_tags", error.message);
          throw error;
        }
        // Not transactional: one-click unsubscribe, and an unsubscribed couple is skipped.
        const sent = await deps.email.batch().send(ctx, content, {
          key: run.idempotency_key,
          transactional: false,
          tags: { module: "referral", supplier: run.supplier_id, run: String(run.id) },
        });
        if ("attempt" in sent) return sent.attempt;
        return { outcome: delivered(sent.sent, { referral_code: code }), calls: sent.sent.calls };
      };
    },
  };
}

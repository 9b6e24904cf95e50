// The review module: after the wedding, email tracked links to the vendor's review platforms (and the
// rating page), then follow up once if nothing was clicked or rated.
import { delivered, type EmailChannel, type Sent } from "../../channels/email.ts";
import type { Sql } from "../../db/client.ts";
import { pgArray } from "../../db/client.ts";
import { signLinkToken } from "../../links/tokens.ts";
import { messageTemplate } from "../../render/message.ts";
import { renderTemplate, TemplateError } from "../../render/template.ts";
import type { Attempt, ModuleExecutor, ModuleRun } from "../../runs/types.ts";
import { addDays, localDate } from "../../time/dates.ts";
import { zonedInstant } from "../../time/zones.ts";
import {
  coupleValues,
  failed,
  loadRunContexts,
  parseStepConfig,
  type RunContext,
  skipped,
} from "../context.ts";
import { PLATFORM_LABELS, type ReviewPlatform, type ReviewStepConfig, reviewStepConfig } from "./config.ts";

type ReviewRow = {
  request_id: string | null;
  request_created_at: Date | null;
  offered: ReviewPlatform[] | null;
  sent_at: Date | null;
  first_clicked_at: Date | null;
  followed_up_at: Date | null;
  rated_at: Date | null;
  configured: ReviewPlatform[];
};

/** What the review module needs from its function. */
export type ReviewModuleDeps = {
  sql: Sql;
  email: EmailChannel;
  linksSecret: () => Promise<string>;
  /** Public base of the functions: tracked links go to `<base>/journey-links/review`. */
  linksBaseUrl: string;
  now?: () => Date;
};

const DAY_MS = 86_400_000;

/** Signed, expiring tracked links: one per platform, and the rating page's token. */
export async function reviewLinks(
  secret: string,
  base: string,
  requestId: string,
  platforms: readonly ReviewPlatform[],
  issued: Date,
  expires: Date,
): Promise<{ platforms: Record<string, string>; ratingToken: string }> {
  const links: Record<string, string> = {};
  for (const plt of platforms) {
    const t = await signLinkToken(secret, "review_click", { sub: requestId, plt }, issued, expires);
    links[plt] = `${base}/journey-links/review?t=${t}`;
  }
  const ratingToken = await signLinkToken(secret, "review_rating", { sub: requestId }, issued, expires);
  return { platforms: links, ratingToken };
}

/** The review module's executor. */
export function reviewExecutor(deps: ReviewModuleDeps): ModuleExecutor {
  const now = deps.now ?? (() => new Date());
  const sql = deps.sql;

  async function send(
    ctx: RunContext & ReviewRow,
    config: ReviewStepConfig,
    run: ModuleRun,
    platforms: ReviewPlatform[],
    followUp: boolean,
  ): Promise<Attempt | { sent: Sent }> {
    const issued = ctx.request_created_at!;
    const expires = new Date(issued.getTime() + config.link_ttl_days * DAY_MS);
    const links = await reviewLinks(
      await deps.linksSecret(),
      deps.linksBaseUrl,
      ctx.request_id!,
      platforms,
      issued,
      expires,
    );
    const values: Record<string, string | null> = { ...coupleValues(ctx) };
    const actions = platforms.map((p) => {
      values[`link_${p}`] = links.platforms[p];
      return { label: PLATFORM_LABELS[p], tag: `link_${p}` };
    });
    if (config.rating_url) {
      const url = new URL(config.rating_url);
      url.searchParams.set("journey_token", links.ratingToken);
      values.rating_link = url.toString();
      actions.push({ label: "Rate your experience", tag: "rating_link" });
    }
    let content;
    try {
      content = renderTemplate(
        messageTemplate({
          subject: followUp ? config.follow_up!.subject : config.subject,
          message: followUp ? config.follow_up!.message : config.message,
          actions,
          footer: config.incentive,
        }),
        values,
        followUp ? "review follow-up" : "review",
      );
    } catch (error) {
      if (error instanceof TemplateError) return failed("missing_merge_tags", error.message);
      throw error;
    }
    // A review request is not transactional: one-click unsubscribe, and an unsubscribed couple is skipped.
    const result = await deps.email.batch().send(ctx, content, {
      key: followUp ? `${run.idempotency_key}:follow-up` : run.idempotency_key,
      transactional: false,
      tags: { module: "review", supplier: run.supplier_id, run: String(run.id) },
    });
    if ("attempt" in result) return result.attempt;
    const { sent } = result;
    await sql`select public.record_review_email(${ctx.request_id}::uuid, ${followUp}, ${sent.provider},
      ${sent.provider_message_id}, ${sent.recipient})`;
    return { sent };
  }

  return {
    async prepare(runs) {
      const contexts = await loadRunContexts<ReviewRow>(sql, runs.map((r) => r.id), {
        columns: `q.id as request_id, q.created_at as request_created_at, q.platforms as offered, q.sent_at,
          q.first_clicked_at, q.followed_up_at, q.rated_at,
          array(select p.platform from public.review_platforms p where p.supplier_id = c.supplier_id
            order by p.position, p.platform) as configured`,
        joins: "left join public.review_requests q on q.run_id = c.run_id",
      });
      return async (run: ModuleRun): Promise<Attempt> => {
        const ctx = contexts.get(run.id);
        if (!ctx) {
          return failed("run_context_missing", `Cannot run review step: run ${run.id} has no couple or step`);
        }
        const parsed = parseStepConfig(reviewStepConfig, ctx.config, "review");
        if (!parsed.ok) return parsed.attempt;
        const config = parsed.config;
        const at = now();

        if (ctx.sent_at) {
          // The follow-up wake: only when nothing was clicked or rated.
          const result = {
            review_request_id: ctx.request_id,
            clicked: ctx.first_clicked_at !== null,
            rated: ctx.rated_at !== null,
          };
          if (ctx.first_clicked_at || ctx.rated_at || ctx.followed_up_at || !config.follow_up) {
            return {
              outcome: {
                kind: "succeeded",
                provider: "review",
                result: { ...result, follow_up: "not_needed" },
              },
              calls: [],
            };
          }
          const done = await send(ctx, config, run, ctx.offered!, true);
          if (!("sent" in done)) return done;
          return {
            outcome: { ...delivered(done.sent), result: { ...result, follow_up: "sent" } },
            calls: done.sent.calls,
          };
        }

        if (ctx.instance_status !== "active") {
          return skipped("journey_inactive", `The journey is ${ctx.instance_status}`);
        }
        if (!ctx.wedding_date) return skipped("no_wedding_date", "The couple has no wedding date");
        if (localDate(at, ctx.time_zone) <= ctx.wedding_date) {
          return skipped("wedding_not_happened", `The wedding (${ctx.wedding_date}) has not happened yet`);
        }
        const sendAt = zonedInstant(
          addDays(ctx.wedding_date, config.days_after_wedding),
          config.send_at,
          ctx.time_zone,
        );
        if (sendAt.getTime() > at.getTime()) {
          return { outcome: { kind: "deferred", defer_until: sendAt }, calls: [] };
        }

        const platforms = ctx.configured.filter((p) => !config.platforms || config.platforms.includes(p));
        if (platforms.length === 0) {
          return failed(
            "no_review_platforms",
            "Cannot ask for reviews: the vendor has none of the step's review platforms set up",
          );
        }
        const [request] = await sql<{ id: string; created_at: Date; platforms: ReviewPlatform[] }[]>`
          select id, created_at, platforms from public.open_review_request(${run.id}, ${
          pgArray(platforms)
        }::text[])`;
        const withRequest = { ...ctx, request_id: request.id, request_created_at: request.created_at };
        const done = await send(withRequest, config, run, request.platforms, false);
        if (!("sent" in done)) return done;
        const result = { review_request_id: request.id, platforms: request.platforms };
        if (!config.follow_up) {
          return { outcome: { ...delivered(done.sent), result }, calls: done.sent.calls };
        }
        // The journey goes on; the run waits for the follow-up time.
        await sql`select public.release_journey_step(${run.id})`;
        const followUpAt = zonedInstant(
          addDays(localDate(at, ctx.time_zone), config.follow_up.after_days),
          config.send_at,
          ctx.time_zone,
        );
        return {
          outcome: { ...delivered(done.sent), kind: "waiting", wake_at: followUpAt, result },
          calls: done.sent.calls,
        };
      };
    },
  };
}

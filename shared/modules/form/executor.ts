// The form module: send the form link (a signed token naming the request, run and couple), remind on
// schedule (email, or SMS through the SMS channel where the spec escalates), mark the step overdue at the deadline, and finish
// when the form is submitted. Between actions the run is waiting until its next one is due.
import { type EmailBatch, type EmailChannel, notSent } from "../../channels/email.ts";
import {
  loadSmsTargets,
  renderText,
  type SmsChannelDeps,
  type SmsTarget,
  textCouple,
} from "../../channels/sms.ts";
import type { Sql } from "../../db/client.ts";
import { signLinkToken } from "../../links/tokens.ts";
import { messageTemplate } from "../../render/message.ts";
import { renderTemplate, TemplateError } from "../../render/template.ts";
import type { Attempt, IntegrationCall, ModuleExecutor, ModuleRun, RunError } from "../../runs/types.ts";
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
import { type FormStepConfig, formStepConfig } from "./config.ts";

/** The form request of a run, as the batch query loads it. */
type FormRequestRow = {
  request_id: string | null;
  request_status: "open" | "submitted" | "cancelled" | null;
  request_created_at: Date | null;
  sent_at: Date | null;
  due_at: Date | null;
  overdue_at: Date | null;
  reminders_done: number;
};

/** What the form module needs from its function. */
export type FormModuleDeps = SmsChannelDeps & {
  sql: Sql;
  email: EmailChannel;
  /** The Vault secret links are signed with. */
  linksSecret: () => Promise<string>;
  now?: () => Date;
};

const DAY_MS = 86_400_000;

/** The link the couple follows: the provider's form with the signed token as a hidden field. */
export function formLink(config: FormStepConfig, token: string): string {
  switch (config.form.provider) {
    case "internal": {
      const url = new URL(config.form.url);
      url.searchParams.set("journey_token", token);
      return url.toString();
    }
    case "typeform":
      // Typeform takes hidden fields in the fragment; they come back in form_response.hidden.
      return `https://form.typeform.com/to/${config.form.form_id}#journey_token=${token}`;
    case "jotform":
      return `https://form.jotform.com/${config.form.form_id}?journey_token=${token}`;
  }
}

/** The deadline of a form sent at `now`, at 23:59 in the couple's zone; null without one. */
export function formDeadline(config: FormStepConfig, now: Date, ctx: RunContext): Date | null {
  const d = config.deadline;
  if (!d) return null;
  let date: string | null;
  if ("days_after_sent" in d) date = addDays(localDate(now, ctx.time_zone), d.days_after_sent);
  else if ("date" in d) date = d.date;
  else date = ctx.wedding_date ? addDays(ctx.wedding_date, -d.days_before_wedding) : null;
  return date ? zonedInstant(date, "23:59", ctx.time_zone) : null;
}

/** When each reminder is due: `after_days` after the send, at `reminder_time` in the couple's zone. */
export function reminderTimes(config: FormStepConfig, sentAt: Date, tz: string): Date[] {
  const sentDate = localDate(sentAt, tz);
  return config.reminders.map((r) => zonedInstant(addDays(sentDate, r.after_days), config.reminder_time, tz));
}

/** The form module's executor. */
export function formExecutor(deps: FormModuleDeps): ModuleExecutor {
  const now = deps.now ?? (() => new Date());
  const sql = deps.sql;

  const render = (ctx: RunContext, config: FormStepConfig, link: string, reminder: boolean) =>
    renderTemplate(
      messageTemplate({
        subject: reminder ? config.reminder_subject : config.subject,
        message: reminder ? config.reminder_message : config.message,
        actions: [{ label: config.button, tag: "form_link" }],
      }),
      { ...coupleValues(ctx), form_link: link },
      reminder ? "form reminder" : "form",
    );

  const linkFor = async (ctx: RunContext, config: FormStepConfig, run: ModuleRun, req: FormRequestRow) => {
    // Issued and expiring relative to the request's creation: a retry signs the same token, so the
    // email (and its idempotency key) stays the same.
    const issued = req.request_created_at!;
    const expires = new Date((req.due_at ?? issued).getTime() + config.link_ttl_days * DAY_MS);
    const token = await signLinkToken(
      await deps.linksSecret(),
      "form",
      { sub: req.request_id!, run: run.id, cpl: ctx.client_id },
      issued,
      expires,
    );
    return formLink(config, token);
  };

  const tags = (run: ModuleRun) => ({ module: "form", supplier: run.supplier_id, run: String(run.id) });

  async function sendReminder(
    mail: EmailBatch,
    ctx: RunContext,
    config: FormStepConfig,
    run: ModuleRun,
    req: FormRequestRow,
    position: number,
    calls: IntegrationCall[],
    target: SmsTarget | undefined,
  ): Promise<Attempt | null> {
    const skip = async (reason: RunError) => {
      await sql`select public.record_form_reminder(${req.request_id}::uuid, ${position}, ${
        config.reminders[position - 1].channel
      }, ${reason.message}, null, null, null)`;
    };
    if (config.reminders[position - 1].channel === "sms") {
      if (!target) {
        return failed("run_context_missing", `Cannot text a reminder: run ${run.id} has no couple`);
      }
      const text = renderText(
        config.reminder_sms,
        { ...coupleValues(ctx), form_link: await linkFor(ctx, config, run, req) },
        "form reminder sms",
      );
      const attempt = await textCouple(deps, target, {
        supplierId: run.supplier_id,
        runKey: `${run.idempotency_key}:reminder:${position}`,
        text,
      });
      calls.push(...attempt.calls);
      const o = attempt.outcome;
      switch (o.kind) {
        case "succeeded":
        case "waiting":
          await sql`select public.record_form_reminder(${req.request_id}::uuid, ${position}, 'sms', null,
            ${o.provider}, ${o.provider_message_id ?? null}, ${o.recipient ?? null})`;
          return null;
        case "skipped":
        case "permanent":
          // The couple cannot be texted (no number, opted out) or the set-up refuses it: the form stays open.
          await skip(o.error);
          return null;
        case "unknown":
          // Twilio has no idempotency key: a resend could text twice, so this reminder is given up.
          await skip({
            code: o.error.code,
            message: `Not sent again after a lost Twilio answer (${o.error.message})`,
          });
          return null;
        default:
          // Quiet hours, the sender's rate or a transient error: the run comes back and the reminder is still due.
          return { outcome: o, calls };
      }
    }
    const sent = await mail.send(ctx, render(ctx, config, await linkFor(ctx, config, run, req), true), {
      key: `${run.idempotency_key}:reminder:${position}`,
      transactional: true,
      tags: tags(run),
    });
    if ("sent" in sent) {
      calls.push(...sent.sent.calls);
      await sql`select public.record_form_reminder(${req.request_id}::uuid, ${position}, 'email', null,
        ${sent.sent.provider}, ${sent.sent.provider_message_id}, ${sent.sent.recipient})`;
      return null;
    }
    calls.push(...sent.attempt.calls);
    const o = sent.attempt.outcome;
    if (o.kind === "skipped" || o.kind === "permanent") {
      // A reminder the couple cannot get or the provider refuses is skipped with its reason; the form stays open.
      await skip(o.error);
      return null;
    }
    if (o.kind === "unknown" && !o.replay_safe) {
      // No idempotency key at this provider: a resend could email twice, so this reminder is given up.
      await skip({ code: o.error.code, message: `Not sent again after a lost answer (${o.error.message})` });
      return null;
    }
    // Held, deferred (rate, circuit) or transient: the run comes back and the reminder is still due.
    return { outcome: o, calls };
  }

  return {
    async prepare(runs) {
      const ids = runs.map((r) => r.id);
      const [contexts, targets] = await Promise.all([
        loadRunContexts<FormRequestRow>(sql, ids, {
          columns: `f.id as request_id, f.status as request_status, f.created_at as request_created_at,
            f.sent_at, f.due_at, f.overdue_at,
            (select count(*)::int from public.form_reminders m where m.request_id = f.id) as reminders_done`,
          joins: "left join public.form_requests f on f.run_id = c.run_id",
        }),
        loadSmsTargets(sql, ids),
      ]);
      const mail = deps.email.batch();
      return async (run: ModuleRun): Promise<Attempt> => {
        const ctx = contexts.get(run.id);
        if (!ctx) {
          return failed("run_context_missing", `Cannot run form step: run ${run.id} has no couple or step`);
        }
        const parsed = parseStepConfig(formStepConfig, ctx.config, "form");
        if (!parsed.ok) return parsed.attempt;
        const config = parsed.config;
        const result = () => ({
          form_request_id: req.request_id,
          reminders_done: req.reminders_done,
          overdue: req.overdue_at !== null,
        });
        let req: FormRequestRow = ctx;

        if (req.request_status === "submitted") {
          return {
            outcome: { kind: "succeeded", provider: "form", result: { ...result(), submitted: true } },
            calls: [],
          };
        }
        if (req.request_status === "cancelled") return skipped("form_closed", "The form request was closed");
        if (ctx.instance_status === "cancelled" || (!req.request_id && ctx.instance_status !== "active")) {
          if (req.request_id) await sql`select public.close_form_request(${req.request_id}::uuid)`;
          return skipped("journey_inactive", `The journey is ${ctx.instance_status}`);
        }

        const calls: IntegrationCall[] = [];
        const at = now();
        if (!req.sent_at) {
          const [opened] = await sql<FormRequestRow[]>`
            select f.id as request_id, f.status as request_status, f.created_at as request_created_at,
              f.sent_at, f.due_at, f.overdue_at, 0 as reminders_done
            from public.open_form_request(${run.id}, ${config.form.provider}, ${config.form.form_id},
              ${config.block_progress}, ${formDeadline(config, at, ctx)}::timestamptz) f`;
          req = opened;
          let content;
          try {
            content = render(ctx, config, await linkFor(ctx, config, run, req), false);
          } catch (error) {
            if (error instanceof TemplateError) return failed("missing_merge_tags", error.message);
            throw error;
          }
          const result = await mail.send(ctx, content, {
            key: run.idempotency_key,
            transactional: true,
            tags: tags(run),
          });
          if ("attempt" in result) return notSent(result);
          const { sent } = result;
          calls.push(...sent.calls);
          await sql`select public.record_form_sent(${req.request_id}::uuid, ${sent.provider},
            ${sent.provider_message_id}, ${sent.recipient})`;
          if (!config.block_progress) await sql`select public.release_journey_step(${run.id})`;
          req = { ...req, sent_at: at };
        }

        if (req.due_at && !req.overdue_at && req.due_at.getTime() <= at.getTime()) {
          await sql`select public.mark_form_overdue(${req.request_id}::uuid)`;
          req = { ...req, overdue_at: at };
        }
        const times = reminderTimes(config, req.sent_at!, ctx.time_zone);
        const due = (i: number) => i < times.length && times[i].getTime() <= at.getTime();
        if (due(req.reminders_done)) {
          // After downtime several reminders may be due: only the latest goes out.
          while (due(req.reminders_done + 1)) {
            await sql`select public.record_form_reminder(${req.request_id}::uuid, ${req.reminders_done + 1},
              ${
              config.reminders[req.reminders_done].channel
            }, 'a later reminder was already due', null, null, null)`;
            req = { ...req, reminders_done: req.reminders_done + 1 };
          }
          let failure: Attempt | null;
          try {
            failure = await sendReminder(
              mail,
              ctx,
              config,
              run,
              req,
              req.reminders_done + 1,
              calls,
              targets.get(run.id),
            );
          } catch (error) {
            if (error instanceof TemplateError) return failed("missing_merge_tags", error.message);
            throw error;
          }
          if (failure) return failure;
          req = { ...req, reminders_done: req.reminders_done + 1 };
        }

        if (req.overdue_at && config.block_progress && config.on_overdue === "continue") {
          return { outcome: { kind: "succeeded", provider: "form", result: result() }, calls };
        }
        // Waiting for the submission (it wakes the run at once) until the next reminder or the due date.
        const wakes = [
          times[req.reminders_done]?.getTime(),
          req.due_at && !req.overdue_at ? req.due_at.getTime() : undefined,
        ].filter((t): t is number => t !== undefined);
        if (wakes.length > 0 || config.block_progress) {
          return {
            outcome: {
              kind: "waiting",
              provider: "form",
              wake_at: wakes.length > 0 ? new Date(Math.min(...wakes)) : undefined,
              result: result(),
            },
            calls,
          };
        }
        return { outcome: { kind: "succeeded", provider: "form", result: result() }, calls };
      };
    },
  };
}

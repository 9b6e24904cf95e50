// The meeting module: Calendly and Acuity steps email the couple a single-use booking link and wait for
// the booking (with a "please book" nudge and an overdue check when the step asks for them); Google
// Calendar steps book the first free slot (with Meet) and invite the couple; reminder runs email or text
// the couple 24 h and 2 h before a booked meeting; timeline runs sync the wedding timeline to Google Calendar.
import {
  loadSmsTargets,
  renderText,
  type SmsChannelDeps,
  type SmsTarget,
  textCouple,
} from "../../channels/sms.ts";
import type { Sql } from "../../db/client.ts";
import { pgArray } from "../../db/client.ts";
import { delivered, type EmailChannel, type EmailTarget, notSent } from "../../channels/email.ts";
import { credentialsRejected, heldAttempt, rejectCredentials } from "../../providers/credentials.ts";
import { accountBucket, rateLimitedAttempt, takeRateLimits } from "../../providers/rate.ts";
import { failureOutcome } from "../../providers/result.ts";
import { prefilledSchedulerUrl, splitName } from "../../providers/scheduling/acuity.ts";
import { createSchedulingLink, prefilledBookingUrl } from "../../providers/scheduling/calendly.ts";
import {
  AccessTokens,
  type CalendarAnswer,
  eventIdFor,
  freeBusy,
  getEvent,
  type GoogleClient,
  insertEvent,
  meetLink,
} from "../../providers/scheduling/google_calendar.ts";
import { type EmailTemplate, renderTemplate, TemplateError } from "../../render/template.ts";
import {
  type Attempt,
  done,
  type IntegrationCall,
  type ModuleExecutor,
  type ModuleRun,
  type Outcome,
} from "../../runs/types.ts";
import type { SecretStore } from "../../secrets.ts";
import type { BusinessHours } from "../../time/zones.ts";
import { type MeetingStepConfig, meetingStepConfig, wantsMeet } from "./config.ts";
import { googleClientFromVault, googleFailure, googleNotConnected, vaultJson } from "./credentials.ts";
import {
  DEFAULT_LINK_TEMPLATE,
  DEFAULT_NUDGE_TEMPLATE,
  DEFAULT_REMINDER_SMS,
  DEFAULT_REMINDER_TEMPLATE,
  formatMeetingTime,
  meetingPlace,
} from "./messages.ts";
import { proposeSlots } from "./slots.ts";
import { loadTimelineContexts, syncTimeline } from "./timeline.ts";

/** Everything one meeting run needs, loaded for a whole batch in one query. */
type MeetingContext = EmailTarget & {
  instance_status: string;
  config: unknown;
  couple_name: string;
  client_time_zone: string | null;
  locale: string;
  supplier_name: string;
  supplier_time_zone: string;
  business_hours: BusinessHours;
  provider_settings: Record<string, unknown> | null;
  provider_secret_id: string | null;
  provider_status: string | null;
  provider_integration_id: string | null;
  provider_status_reason: string | null;
  provider_status_since: string | null;
  /** When the integration last changed (a reconnect rotates its secret in place). */
  provider_version: string | null;
  template_subject: string | null;
  template_html: string | null;
  template_text: string | null;
  reminder_lead: string | null;
  meeting_id: string | null;
  meeting_status: string | null;
  meeting_start_at: Date | null;
  meeting_join_url: string | null;
  meeting_location: string | null;
  meeting_booking_url: string | null;
  /** Status of the meeting's link run: `waiting` while the booking is awaited. */
  meeting_run_status: string | null;
};

/** Base URLs and timeouts of the providers (the simulator locally). */
export type MeetingModuleDeps = SmsChannelDeps & {
  sql: Sql;
  secrets: SecretStore;
  email: EmailChannel;
  calendly: { baseUrl: string; timeoutMs: number };
  google: Omit<GoogleClient, "clientId" | "clientSecret">;
  now?: () => Date;
  fetch?: typeof fetch;
};

const skip = (code: string, message: string, calls: IntegrationCall[] = []): Attempt => ({
  outcome: { kind: "skipped", error: { code, message } },
  calls,
});
const fail = (code: string, message: string, calls: IntegrationCall[] = []): Attempt => ({
  outcome: { kind: "permanent", error: { code, message } },
  calls,
});

const PROVIDER_NAMES: Record<string, string> = {
  calendly: "Calendly",
  google_calendar: "Google Calendar",
  acuity: "Acuity",
};

function loadContexts(sql: Sql, ids: number[]): Promise<MeetingContext[]> {
  return sql<MeetingContext[]>`
    select r.id::int as run_id, r.supplier_id::text, i.status::text as instance_status, st.config,
      c.couple_name, c.email, c.time_zone as client_time_zone, c.locale, c.consent,
      public.email_suppression(r.supplier_id, c.email) as suppression,
      public.email_integrations(r.supplier_id) as email_integrations,
      case when r.provider_message_id is null and r.provider in ('resend', 'sendgrid', 'mailgun')
        then r.provider end as pinned_provider,
      s.name as supplier_name, s.time_zone as supplier_time_zone, s.business_hours, s.email_from, s.reply_to,
      pi.settings as provider_settings, pi.secret_id::text as provider_secret_id, pi.status as provider_status,
      pi.id::text as provider_integration_id, pi.status_reason as provider_status_reason,
      pi.status_since::text as provider_status_since,
      pi.updated_at::text as provider_version,
      t.subject as template_subject, t.html as template_html, t.text as template_text,
      mr.lead as reminder_lead, m.id::text as meeting_id, m.status as meeting_status,
      m.start_at as meeting_start_at, m.join_url as meeting_join_url, m.location as meeting_location,
      m.booking_url as meeting_booking_url,
      (select w.status::text from public.module_runs w where w.id = m.run_id) as meeting_run_status
    from public.module_runs r
    join public.journey_instances i on i.id = r.journey_instance_id
    join public.clients c on c.id = i.client_id
    join public.suppliers s on s.id = r.supplier_id
    left join public.meeting_reminders mr on mr.run_id = r.id
    left join public.meetings m on m.id = mr.meeting_id
    -- Follow-ups of a booking have no step of their own: theirs is their meeting's.
    join public.journey_steps st on st.id = coalesce(r.step_id, m.step_id)
    left join public.supplier_integrations pi
      on pi.supplier_id = r.supplier_id and pi.provider = st.config ->> 'provider'
    left join public.email_templates t on t.supplier_id = r.supplier_id and t.key = case
      when mr.run_id is null then st.config ->> 'template'
      when mr.lead = 'nudge' then st.config -> 'awaiting_booking' ->> 'nudge_template'
      else st.config -> 'reminders' ->> 'template' end
    where r.id = any(${pgArray(ids)}::bigint[])`;
}

/** The meeting module's executor. */
export function meetingExecutor(deps: MeetingModuleDeps): ModuleExecutor {
  const now = deps.now ?? (() => new Date());
  let google: { client: GoogleClient; tokens: AccessTokens } | undefined;

  /** Our OAuth client from Vault, with one token cache per client (a rotated client gets a new cache). */
  async function googleClient(): Promise<{ client: GoogleClient; tokens: AccessTokens } | undefined> {
    const client = await googleClientFromVault(deps.secrets, deps.google, deps.fetch);
    if (!client) return undefined;
    if (google?.client.clientId !== client.clientId || google.client.clientSecret !== client.clientSecret) {
      google = { client, tokens: new AccessTokens(client, () => now().getTime()) };
    }
    return google;
  }

  /** Renders one email and sends it through the email channel with the run's key (transactional). */
  async function sendEmail(
    run: ModuleRun,
    ctx: MeetingContext,
    template: EmailTemplate,
    values: Record<string, string>,
    templateName: string,
  ): Promise<Attempt & { sent?: { id: string; to: string; provider: string } }> {
    const mail = deps.email.batch();
    const refused = mail.unreachable(ctx, true);
    if (refused) return refused;
    let rendered;
    try {
      rendered = renderTemplate(template, values, templateName);
    } catch (error) {
      if (error instanceof TemplateError) return fail("missing_merge_tags", error.message);
      throw error;
    }
    const result = await mail.send(ctx, rendered, {
      key: run.idempotency_key,
      transactional: true,
      tags: { module: "meeting", supplier: run.supplier_id, run: String(run.id) },
    });
    if ("attempt" in result) return notSent(result);
    return {
      outcome: delivered(result.sent),
      calls: result.sent.calls,
      sent: {
        id: result.sent.provider_message_id,
        to: result.sent.recipient,
        provider: result.sent.provider,
      },
    };
  }

  function stepTemplate(ctx: MeetingContext, fallback: EmailTemplate): EmailTemplate {
    return ctx.template_html !== null && ctx.template_subject !== null
      ? { subject: ctx.template_subject, html: ctx.template_html, text: ctx.template_text }
      : fallback;
  }

  /** Calendly and Acuity: one booking link per run (kept across retries), emailed; the run then waits. */
  async function sendLink(run: ModuleRun, ctx: MeetingContext, config: MeetingStepConfig): Promise<Attempt> {
    if (config.template && ctx.template_html === null) {
      return fail(
        "template_not_found",
        `Cannot send the booking link: template "${config.template}" not found for supplier ${run.supplier_id}`,
      );
    }
    const [meeting] = await deps.sql<{ id: string; booking_url: string | null }[]>`
      select id::text, booking_url from public.meeting_for_run(${run.id}::bigint, ${config.provider})`;
    const calls: IntegrationCall[] = [];
    let url = meeting.booking_url;
    if (!url) {
      const settings = ctx.provider_settings ?? {};
      let created: string;
      if (config.provider === "calendly") {
        const token =
          (await vaultJson(deps.secrets, ctx.provider_secret_id, ctx.provider_version ?? undefined))
            ?.access_token;
        if (typeof token !== "string" || token === "") {
          return fail(
            "credentials_missing",
            "Cannot create a Calendly link: the Calendly secret in Vault has no access_token",
          );
        }
        const bucket = accountBucket("calendly", ctx.provider_integration_id!);
        const limited = await takeRateLimits(deps, [bucket], "Calendly request rate of the account");
        if (limited) return done(limited, calls);
        const link = await createSchedulingLink(
          {
            accessToken: token,
            baseUrl: deps.calendly.baseUrl,
            timeoutMs: deps.calendly.timeoutMs,
            fetch: deps.fetch,
          },
          config.calendly_event_type!,
        );
        calls.push(link.call);
        if (!link.ok) {
          if (link.failure === "permanent" && credentialsRejected(link.error)) {
            // Calendly refused the token: disconnected, and this run waits for the vendor to reconnect.
            await rejectCredentials(
              deps.sql,
              ctx.provider_integration_id!,
              link.error,
              ctx.provider_status_since,
            );
            return heldAttempt([{
              id: ctx.provider_integration_id!,
              provider: "calendly",
              status_reason: link.error.message,
            }], calls);
          }
          return await rateLimitedAttempt(deps, [bucket], link, calls) ??
            done(failureOutcome(link, true), calls);
        }
        created = prefilledBookingUrl(
          link.booking_url!,
          { name: ctx.couple_name, email: ctx.email },
          meeting.id,
        );
      } else {
        const scheduler = settings.scheduler_url;
        if (typeof scheduler !== "string" || !/^https:\/\//.test(scheduler)) {
          return fail(
            "integration_missing",
            "Cannot create an Acuity link: the Acuity integration has no scheduler_url",
          );
        }
        created = prefilledSchedulerUrl(scheduler, {
          ...splitName(ctx.couple_name),
          email: ctx.email,
          appointmentType: config.acuity_appointment_type!,
        });
      }
      const [stored] = await deps.sql<{ url: string }[]>`
        select public.set_meeting_link(${meeting.id}::uuid, ${created}) as url`;
      url = stored.url;
    }
    const sent = await sendEmail(run, ctx, stepTemplate(ctx, DEFAULT_LINK_TEMPLATE), {
      couple_name: ctx.couple_name,
      supplier_name: ctx.supplier_name,
      meeting_type: config.meeting_type,
      duration: String(config.duration),
      booking_url: url,
    }, config.template ?? "meeting-link");
    if (!sent.sent) return { outcome: sent.outcome, calls: [...calls, ...sent.calls] };
    return {
      outcome: {
        kind: "waiting",
        provider: sent.sent.provider,
        provider_message_id: sent.sent.id,
        channel: "email",
        recipient: sent.sent.to,
        result: { meeting_id: meeting.id },
      },
      calls: [...calls, ...sent.calls],
    };
  }

  /** Google Calendar: the first free slot in business hours, booked with the couple invited and Meet. */
  async function bookGoogle(
    run: ModuleRun,
    ctx: MeetingContext,
    config: MeetingStepConfig,
  ): Promise<Attempt> {
    if (!ctx.email) return skip("no_recipient", "The couple has no email address to invite");
    const g = await googleClient();
    if (!g) {
      return fail("integration_missing", "Cannot book: the Vault secret google_oauth_client is missing");
    }
    const refreshToken =
      (await vaultJson(deps.secrets, ctx.provider_secret_id, ctx.provider_version ?? undefined))
        ?.refresh_token;
    if (typeof refreshToken !== "string" || refreshToken === "") return googleNotConnected();
    const calendarId = (ctx.provider_settings?.calendar_id as string | undefined) ?? "primary";
    const [meeting] = await deps.sql<{ id: string }[]>`
      select id::text from public.meeting_for_run(${run.id}::bigint, 'google_calendar')`;
    const eventId = await eventIdFor(run.idempotency_key);
    const calls: IntegrationCall[] = [];
    // freeBusy and events.insert; a read-back after a lost answer goes on the same tokens.
    const bucket = accountBucket("google_calendar", ctx.provider_integration_id!, 2);
    const limited = await takeRateLimits(deps, [bucket], "Google Calendar request rate of the account");
    if (limited) return done(limited);
    const failed = (answer: CalendarAnswer["answer"]) =>
      googleFailure(deps, run.supplier_id, { answer, calls }, ctx.provider_version, bucket);

    const from = new Date(now().getTime() + config.availability.notice_hours * 3_600_000);
    const to = new Date(from.getTime() + (config.availability.window_days + 1) * 86_400_000);
    const fb = await freeBusy(g.client, g.tokens, refreshToken, {
      calendarId,
      timeMin: new Date(from.getTime() - config.buffer_time * 60_000),
      timeMax: to,
      timeZone: ctx.supplier_time_zone,
    });
    calls.push(...fb.calls);
    if (!fb.answer.ok) return failed(fb.answer);
    const [slot] = proposeSlots({
      from,
      days: config.availability.window_days,
      timeZone: ctx.supplier_time_zone,
      hours: ctx.business_hours,
      durationMinutes: config.duration,
      bufferMinutes: config.buffer_time,
      busy: fb.busy!,
    });
    const insert = slot
      ? await insertEvent(g.client, g.tokens, refreshToken, calendarId, {
        id: eventId,
        summary: `${config.meeting_type}: ${ctx.couple_name}`,
        description: `${config.meeting_type} with ${ctx.supplier_name} (${config.duration} minutes).`,
        location: config.location,
        start: { dateTime: slot.start.toISOString(), timeZone: ctx.supplier_time_zone },
        end: { dateTime: slot.end.toISOString(), timeZone: ctx.supplier_time_zone },
        attendees: [{ email: ctx.email, displayName: ctx.couple_name }],
        ...(wantsMeet(config)
          ? {
            conferenceData: {
              createRequest: { requestId: eventId, conferenceSolutionKey: { type: "hangoutsMeet" } },
            },
          }
          : {}),
      })
      : undefined;
    let event: unknown;
    if (insert) {
      calls.push(...insert.calls);
      if (insert.answer.ok) event = insert.answer.body;
      else if (insert.answer.status !== 409) return failed(insert.answer);
    }
    if (event === undefined) {
      // A previous attempt may have booked already (409 for our id, or its slot is now busy): read it back.
      const existing = await getEvent(g.client, g.tokens, refreshToken, calendarId, eventId);
      calls.push(...existing.calls);
      if (existing.answer.ok) event = existing.answer.body;
      else if (existing.answer.status !== 404) return failed(existing.answer);
      else if (!slot) {
        return fail(
          "no_free_slot",
          `No free ${config.duration}-minute slot in business hours in the next ${config.availability.window_days} days`,
          calls,
        );
      } else return failed(insert!.answer);
    }
    const e = event as { start?: { dateTime?: string }; end?: { dateTime?: string }; location?: string };
    const joinUrl = meetLink(event);
    await deps.sql`select public.apply_meeting_event(${meeting.id}::uuid, ${
      JSON.stringify({
        kind: "booked",
        external_id: eventId,
        start_at: e.start?.dateTime,
        end_at: e.end?.dateTime,
        join_url: joinUrl,
        location: e.location ?? config.location ?? null,
      })
    }::text::jsonb)`;
    return {
      outcome: {
        kind: "succeeded",
        provider: "google_calendar",
        provider_message_id: eventId,
        result: { meeting_id: meeting.id, start_at: e.start?.dateTime, join_url: joinUrl },
      },
      calls,
    };
  }

  /** A follow-up email of a meeting (reminder or nudge), from the step's template or the built-in one. */
  async function sendFollowUp(
    run: ModuleRun,
    ctx: MeetingContext,
    what: string,
    template: { key: string | undefined; fallback: EmailTemplate; fallbackName: string },
    values: Record<string, string>,
  ): Promise<Attempt> {
    if (template.key && ctx.template_html === null) {
      return fail(
        "template_not_found",
        `Cannot send the ${what}: template "${template.key}" not found for supplier ${run.supplier_id}`,
      );
    }
    const sent = await sendEmail(
      run,
      ctx,
      stepTemplate(ctx, template.fallback),
      values,
      template.key ?? template.fallbackName,
    );
    if (!sent.sent) return sent;
    const outcome: Outcome = {
      kind: "succeeded",
      provider: sent.sent.provider,
      provider_message_id: sent.sent.id,
      channel: "email",
      recipient: sent.sent.to,
      result: { meeting_id: ctx.meeting_id, reminder: ctx.reminder_lead },
    };
    return { outcome, calls: sent.calls };
  }

  /** While the link is not used: the "please book" nudge, or the overdue check of the step. */
  async function followUpBooking(
    run: ModuleRun,
    ctx: MeetingContext,
    config: MeetingStepConfig,
  ): Promise<Attempt> {
    const booked = skip(
      "no_longer_awaited",
      "The meeting was booked, or its step no longer waits for a booking",
    );
    if (ctx.meeting_status !== "awaiting_booking" || ctx.meeting_run_status !== "waiting") return booked;
    if (ctx.reminder_lead === "overdue") {
      const [row] = await deps.sql<{ result: string }[]>`
        select public.meeting_booking_overdue(${ctx.meeting_id}::uuid) as result`;
      if (row.result === "not_waiting") return booked;
      return {
        outcome: {
          kind: "succeeded",
          provider: config.provider,
          result: { meeting_id: ctx.meeting_id, overdue: row.result },
        },
        calls: [],
      };
    }
    return sendFollowUp(run, ctx, "nudge", {
      key: config.awaiting_booking?.nudge_template,
      fallback: DEFAULT_NUDGE_TEMPLATE,
      fallbackName: "booking-nudge",
    }, {
      couple_name: ctx.couple_name,
      supplier_name: ctx.supplier_name,
      meeting_type: config.meeting_type,
      duration: String(config.duration),
      booking_url: ctx.meeting_booking_url ?? "",
    });
  }

  /** A reminder by SMS through the SMS channel, with the run's key on Twilio's status callback. */
  async function textReminder(
    run: ModuleRun,
    ctx: MeetingContext,
    target: SmsTarget | undefined,
    text: string,
    values: Record<string, string>,
  ): Promise<Attempt> {
    if (!target) return fail("run_context_missing", `Cannot text a reminder: run ${run.id} has no couple`);
    let rendered: string;
    try {
      rendered = renderText(text, values, "meeting reminder sms");
    } catch (error) {
      if (error instanceof TemplateError) return fail("missing_merge_tags", error.message);
      throw error;
    }
    const attempt = await textCouple(deps, target, {
      supplierId: run.supplier_id,
      runKey: run.idempotency_key,
      text: rendered,
    });
    const o = attempt.outcome;
    if (o.kind !== "succeeded") return attempt;
    return {
      outcome: { ...o, result: { ...o.result, meeting_id: ctx.meeting_id, reminder: ctx.reminder_lead } },
      calls: attempt.calls,
    };
  }

  /** A reminder of a booked meeting, in the couple's zone and language; or a follow-up of an unused link. */
  function remind(
    run: ModuleRun,
    ctx: MeetingContext,
    config: MeetingStepConfig,
    target: SmsTarget | undefined,
  ): Promise<Attempt> | Attempt {
    if (ctx.instance_status === "cancelled") return skip("journey_inactive", "The journey is cancelled");
    if (ctx.reminder_lead === "nudge" || ctx.reminder_lead === "overdue") {
      return followUpBooking(run, ctx, config);
    }
    if (ctx.meeting_status !== "scheduled" || !ctx.meeting_start_at || ctx.meeting_start_at <= now()) {
      return skip("meeting_changed", "The meeting is no longer scheduled ahead");
    }
    const values = {
      couple_name: ctx.couple_name,
      supplier_name: ctx.supplier_name,
      meeting_type: config.meeting_type,
      meeting_time: formatMeetingTime(
        ctx.meeting_start_at,
        ctx.client_time_zone ?? ctx.supplier_time_zone,
        ctx.locale,
      ),
      meeting_place: meetingPlace({
        join_url: ctx.meeting_join_url,
        location: ctx.meeting_location,
        format: config.format,
      }),
    };
    if (config.reminders.channel === "sms") {
      return textReminder(run, ctx, target, config.reminders.sms_text ?? DEFAULT_REMINDER_SMS, values);
    }
    return sendFollowUp(run, ctx, "reminder", {
      key: config.reminders.template,
      fallback: DEFAULT_REMINDER_TEMPLATE,
      fallbackName: "meeting-reminder",
    }, values);
  }

  return {
    async prepare(runs) {
      const ids = runs.map((r) => r.id);
      const [steps, timelines, smsTargets] = await Promise.all([
        loadContexts(deps.sql, ids),
        loadTimelineContexts(deps.sql, ids),
        loadSmsTargets(deps.sql, ids),
      ]);
      const contexts = new Map(steps.map((c) => [c.run_id, c]));
      const timelineContexts = new Map(timelines.map((c) => [c.run_id, c]));
      const execute = (run: ModuleRun): Attempt | Promise<Attempt> => {
        const timeline = timelineContexts.get(run.id);
        if (timeline) {
          return syncTimeline({ sql: deps.sql, secrets: deps.secrets, now, google: googleClient }, timeline);
        }
        const ctx = contexts.get(run.id);
        if (!ctx) {
          return fail("run_context_missing", `Cannot run meeting step: run ${run.id} has no couple or step`);
        }
        const parsed = meetingStepConfig.safeParse(ctx.config);
        if (!parsed.success) {
          const why = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
          return fail("invalid_config", `Cannot run meeting step: invalid step config: ${why}`);
        }
        const config = parsed.data;
        if (ctx.reminder_lead !== null) return remind(run, ctx, config, smsTargets.get(run.id));
        if (ctx.instance_status !== "active") {
          return skip("journey_inactive", `The journey is ${ctx.instance_status}`);
        }
        if (ctx.provider_status === "disconnected" && ctx.provider_integration_id) {
          return heldAttempt([{
            id: ctx.provider_integration_id,
            provider: config.provider,
            status_reason: ctx.provider_status_reason,
          }]);
        }
        if (!ctx.provider_secret_id && config.provider !== "acuity" || !ctx.provider_status) {
          if (config.provider === "google_calendar") return googleNotConnected();
          return fail(
            "integration_missing",
            `Cannot run meeting step: ${PROVIDER_NAMES[config.provider]} is not connected for this supplier`,
          );
        }
        return config.provider === "google_calendar"
          ? bookGoogle(run, ctx, config)
          : sendLink(run, ctx, config);
      };
      return (run: ModuleRun) => Promise.resolve(execute(run));
    },
  };
}

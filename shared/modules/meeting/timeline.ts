// The wedding-timeline sync: a journey instance's wedding day and key milestones written to the vendor's
// Google Calendar under ids derived from the couple, instance and step, so any number of syncs (retries,
// re-runs, date changes) leaves one event each, on the latest date.
import type { Sql } from "../../db/client.ts";
import { pgArray } from "../../db/client.ts";
import {
  type AccessTokens,
  type CalendarAnswer,
  type CalendarEvent,
  deleteEvent,
  eventIdFor,
  type GoogleClient,
  upsertEvent,
} from "../../providers/scheduling/google_calendar.ts";
import { type Attempt, done, type IntegrationCall } from "../../runs/types.ts";
import type { SecretStore } from "../../secrets.ts";
import { heldAttempt } from "../../providers/credentials.ts";
import { accountBucket, takeRateLimits } from "../../providers/rate.ts";
import { googleFailure, googleNotConnected, vaultJson } from "./credentials.ts";

/** What a timeline sync run needs, loaded for a batch in one query. */
export type TimelineContext = {
  run_id: number;
  supplier_id: string;
  journey_instance_id: string;
  client_id: string;
  google_status: string | null;
  google_integration_id: string | null;
  google_status_reason: string | null;
  google_secret_id: string | null;
  google_settings: Record<string, unknown> | null;
  /** When the integration last changed (a reconnect rotates its secret in place). */
  google_version: string | null;
};

/** One event the calendar should show (public.timeline_of). */
export type TimelineEntry = {
  kind: "wedding" | "milestone";
  key: string;
  step_id: string | null;
  title: string;
  /** `YYYY-MM-DD`, the local date. */
  event_date: string;
  location: string | null;
};

/** What the sync needs from the module. */
export type TimelineDeps = {
  sql: Sql;
  secrets: SecretStore;
  now?: () => Date;
  /** Our OAuth client and its token cache; undefined when google_oauth_client is missing from Vault. */
  google: () => Promise<{ client: GoogleClient; tokens: AccessTokens } | undefined>;
};

/** The contexts of the batch's timeline sync runs (the other runs have none). */
export function loadTimelineContexts(sql: Sql, ids: number[]): Promise<TimelineContext[]> {
  return sql<TimelineContext[]>`
    select r.id::int as run_id, r.supplier_id::text, t.journey_instance_id::text, i.client_id::text,
      g.status as google_status, g.id::text as google_integration_id, g.status_reason as google_status_reason,
      g.secret_id::text as google_secret_id, g.settings as google_settings,
      g.updated_at::text as google_version
    from public.module_runs r
    join public.timeline_syncs t on t.run_id = r.id
    join public.journey_instances i on i.id = t.journey_instance_id
    left join public.supplier_integrations g on g.supplier_id = r.supplier_id and g.provider = 'google_calendar'
    where r.id = any(${pgArray(ids)}::bigint[])`;
}

function timelineOf(sql: Sql, instanceId: string): Promise<TimelineEntry[]> {
  return sql<TimelineEntry[]>`
    select kind, key, step_id::text, title, event_date::text, location
    from public.timeline_of(${instanceId}::uuid) order by key`;
}

function dayAfter(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

/**
 * The Google event of a timeline entry: all day, with no attendees (nobody is notified). The wedding day
 * blocks the vendor's free/busy (no consultation is booked on it); milestones do not.
 */
export function timelineEvent(entry: TimelineEntry, id: string): CalendarEvent {
  return {
    id,
    summary: entry.title,
    description: entry.kind === "wedding"
      ? "The wedding day, kept in step with the couple's wedding date."
      : "A milestone of the couple's journey, kept in step with their wedding date.",
    ...(entry.location ? { location: entry.location } : {}),
    start: { date: entry.event_date },
    end: { date: dayAfter(entry.event_date) },
    transparency: entry.kind === "wedding" ? "opaque" : "transparent",
    status: "confirmed",
  };
}

const fingerprint = (entries: TimelineEntry[]) =>
  JSON.stringify(entries.map((e) => [e.key, e.title, e.event_date, e.location]));

/**
 * Syncs one journey instance's timeline: upserts every wanted event, deletes the ones written before that
 * are no longer wanted, and records what the calendar now holds. When the couple's data changed while
 * the sync ran, the attempt is retried so the calendar ends on the latest dates.
 */
export async function syncTimeline(deps: TimelineDeps, ctx: TimelineContext): Promise<Attempt> {
  const settings = ctx.google_settings ?? {};
  if (settings.timeline_sync !== true) {
    return {
      outcome: {
        kind: "skipped",
        error: { code: "timeline_off", message: "Timeline sync is turned off for this supplier" },
      },
      calls: [],
    };
  }
  if (ctx.google_status === "disconnected" && ctx.google_integration_id) {
    // Held until the vendor reconnects Google: then it syncs with the data of that moment.
    return heldAttempt([{
      id: ctx.google_integration_id,
      provider: "google_calendar",
      status_reason: ctx.google_status_reason,
    }]);
  }
  if (!ctx.google_status) return googleNotConnected();
  const refreshToken = (await vaultJson(deps.secrets, ctx.google_secret_id, ctx.google_version ?? undefined))
    ?.refresh_token;
  if (typeof refreshToken !== "string" || refreshToken === "") return googleNotConnected();
  const g = await deps.google();
  if (!g) {
    return {
      outcome: {
        kind: "permanent",
        error: {
          code: "integration_missing",
          message: "Cannot sync the timeline: the Vault secret google_oauth_client is missing",
        },
      },
      calls: [],
    };
  }
  const calendarId = String(settings.timeline_calendar_id ?? settings.calendar_id ?? "primary");
  const wanted = await timelineOf(deps.sql, ctx.journey_instance_id);
  const ids = await Promise.all(wanted.map((w) => eventIdFor(w.key)));
  const written = await deps.sql<{ event_id: string; calendar_id: string }[]>`
    select event_id, calendar_id from public.timeline_events
    where supplier_id = ${ctx.supplier_id}::uuid
      and (journey_instance_id = ${ctx.journey_instance_id}::uuid
        or (kind = 'wedding' and client_id = ${ctx.client_id}::uuid))`;

  // Also those left in a calendar the vendor has since moved the timeline away from.
  const removed = written.filter((w) => !ids.includes(w.event_id) || w.calendar_id !== calendarId);
  const bucket = accountBucket("google_calendar", ctx.google_integration_id!, wanted.length + removed.length);
  const limited = await takeRateLimits(deps, [bucket], "Google Calendar request rate of the account");
  if (limited) return done(limited);
  const failed = (answer: CalendarAnswer["answer"], calls: IntegrationCall[]) =>
    googleFailure(deps, ctx.supplier_id, { answer, calls }, ctx.google_version, bucket);

  const calls: IntegrationCall[] = [];
  for (const [i, entry] of wanted.entries()) {
    const result = await upsertEvent(
      g.client,
      g.tokens,
      refreshToken,
      calendarId,
      timelineEvent(entry, ids[i]),
    );
    calls.push(...result.calls);
    if (!result.answer.ok) {
      return await failed(result.answer, calls);
    }
  }
  for (const stale of removed) {
    const result = await deleteEvent(g.client, g.tokens, refreshToken, stale.calendar_id, stale.event_id);
    calls.push(...result.calls);
    if (!result.answer.ok) {
      return await failed(result.answer, calls);
    }
  }
  const synced = wanted.map((w, i) => ({ ...w, event_id: ids[i] }));
  await deps
    .sql`select public.record_timeline_sync(${ctx.supplier_id}::uuid, ${ctx.journey_instance_id}::uuid,
    ${calendarId}, ${JSON.stringify(synced)}::text::jsonb, ${
    pgArray(removed.map((r) => r.event_id))
  }::text[])`;

  if (fingerprint(await timelineOf(deps.sql, ctx.journey_instance_id)) !== fingerprint(wanted)) {
    // A sync enqueued for the change may already have written the new dates before these older ones.
    return {
      outcome: {
        kind: "transient",
        error: { code: "timeline_changed", message: "The couple's dates changed during the sync" },
      },
      calls,
    };
  }
  return {
    outcome: {
      kind: "succeeded",
      provider: "google_calendar",
      result: { events: wanted.length, removed: removed.length, calendar_id: calendarId },
    },
    calls,
  };
}

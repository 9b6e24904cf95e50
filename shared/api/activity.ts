// The `activity` function's request and response schemas (zod), exported for the vendor app.
import { z } from "zod";

/** Request body of `POST /activity`: one couple's timeline, optionally one journey instance, one page. */
export const activityRequest = z.strictObject({
  client_id: z.uuid(),
  instance_id: z.uuid().optional(),
  /** The `next_cursor` of the previous page. */
  cursor: z.string().min(1).max(200).optional(),
  limit: z.number().int().min(1).max(500).default(100),
});
export type ActivityRequest = z.input<typeof activityRequest>;

/** What one entry is about. */
export const ACTIVITY_KINDS = [
  "run_planned",
  "run_succeeded",
  "run_skipped",
  "run_held",
  "run_dead",
  "run_cancelled",
  "run_unknown",
  "run_waiting",
  "run_pending",
  "run_running",
  "attempt",
  "delivery",
  "delivery_event",
  "opted_out",
  "replied",
] as const;

/** One entry of the timeline: ids, statuses, codes and reasons, never a message body or a secret. */
export const activityEntry = z.object({
  /** When it happened (ISO 8601, UTC, microseconds). */
  at: z.string(),
  /** Stable order key among entries at the same time. */
  key: z.string(),
  kind: z.enum(ACTIVITY_KINDS),
  run_id: z.number().int().nullable(),
  journey_instance_id: z.uuid().nullable(),
  step_position: z.number().int().nullable(),
  /** The module type, or the channel (sms, whatsapp) for a couple's own STOP or reply. */
  module_type: z.string().nullable(),
  /** Run status, attempt outcome, delivery status (sent, delivered, opened, clicked, bounced...), STOP. */
  status: z.string(),
  provider: z.string().nullable(),
  provider_message_id: z.string().nullable(),
  channel: z.string().nullable(),
  attempt: z.number().int().nullable(),
  http_status: z.number().int().nullable(),
  /** Machine-readable reason (skip, hold, dead or provider error code). */
  code: z.string().nullable(),
  /** The reason for a person, or the provider operation of an attempt. */
  reason: z.string().nullable(),
  /** When the run is (or was) due. */
  run_at: z.string().nullable(),
});
export type ActivityEntry = z.infer<typeof activityEntry>;

/** Response of `POST /activity`: newest first; `next_cursor` is null on the last page. */
export const activityResponse = z.object({
  client_id: z.uuid(),
  time_zone: z.string().nullable(),
  entries: z.array(activityEntry),
  next_cursor: z.string().nullable(),
});
export type ActivityResponse = z.infer<typeof activityResponse>;

/** Encodes a page position (the last entry's `at` and `key`) as an opaque cursor. */
export function encodeCursor(at: string, key: string): string {
  return btoa(JSON.stringify([at, key])).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes a cursor, or returns undefined when it is not one of ours. */
export function decodeCursor(cursor: string): { at: string; key: string } | undefined {
  try {
    const padded = cursor.replaceAll("-", "+").replaceAll("_", "/");
    const [at, key] = JSON.parse(atob(padded + "=".repeat((4 - padded.length % 4) % 4)));
    if (typeof at !== "string" || typeof key !== "string" || Number.isNaN(Date.parse(at))) return undefined;
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$/.test(at) || key.length > 64) return undefined;
    return { at, key };
  } catch {
    return undefined;
  }
}

// When a step runs, as the journey builder writes it (public.step_run_at computes the time in SQL).
import { z } from "zod";

const localTime = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, "must be HH:MM (24 h)");

/** Timing of a journey step. */
export const stepTiming = z.strictObject({
  /** What the offset counts from: the previous step, or the couple's booking or wedding date. */
  anchor: z.enum(["previous", "booking_date", "wedding_date"]).default("previous"),
  offset_days: z.number().int().min(-730).max(730).default(0),
  offset_minutes: z.number().int().min(-1440 * 30).max(1440 * 30).default(0),
  /** Local time of day in the couple's zone; anchored steps default to 10:00. */
  at: localTime.optional(),
  /** What an anchored step does when its time has already passed. */
  if_past: z.enum(["send_now", "skip"]).default("send_now"),
  /** Urgent steps are exempt from the wedding-week delay cap. */
  urgent: z.boolean().default(false),
  /** A key milestone of the couple's timeline (e.g. "Final details due"): synced to the vendor's calendar. */
  milestone: z.string().trim().min(1).max(100).optional(),
}).refine((t) => t.milestone === undefined || t.anchor !== "previous", {
  path: ["milestone"],
  message: "needs a date anchor (wedding_date or booking_date)",
});

// The email step's configuration, as the journey builder writes it (validated on write and on run).
import { z } from "zod";

const tagName = z.string().regex(/^[a-z][a-z0-9_]*$/, "must be lowercase letters, digits and _");

/** Config of an `email` journey step. */
export const emailStepConfig = z.strictObject({
  /** Key of the supplier's email template. */
  template: z.string().regex(
    /^[a-z0-9][a-z0-9_-]{0,63}$/,
    "must be a template key like welcome or final-details",
  ),
  /**
   * `immediate`; `business_hours` (the supplier's, in the supplier's zone); or `local_time`: the next
   * `local_time` ("HH:MM") on the couple's wall clock (the supplier's zone when the couple has none).
   */
  send_time: z.enum(["immediate", "business_hours", "local_time"]).default("immediate"),
  /** With `send_time: "local_time"`: the time of day, 24 h. */
  local_time: z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, "must be HH:MM (24 h)").optional(),
  /** Extra merge values for this step, used as {{custom.<name>}}. */
  custom: z.record(tagName, z.string().max(2000)).default({}),
}).refine((c) => c.send_time !== "local_time" || c.local_time !== undefined, {
  path: ["local_time"],
  message: 'is required when send_time is "local_time"',
});

/** A parsed email step config. */
export type EmailStepConfig = z.output<typeof emailStepConfig>;

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
  /** `immediate`, or wait for the supplier's business hours (in the supplier's zone). */
  send_time: z.enum(["immediate", "business_hours"]).default("immediate"),
  /** Extra merge values for this step, used as {{custom.<name>}}. */
  custom: z.record(tagName, z.string().max(2000)).default({}),
});

/** A parsed email step config. */
export type EmailStepConfig = z.output<typeof emailStepConfig>;

// The referral step's configuration, as the journey builder writes it (validated on write and on run).
import { z } from "zod";

/** Config of a `referral` journey step. The programme itself (landing page, reward) is the vendor's. */
export const referralStepConfig = z.strictObject({
  subject: z.string().min(1).max(200).default("Know a couple getting married, {{couple_name}}?"),
  message: z.string().min(1).max(5000).default(
    "Hi {{couple_name}},\n\nIf friends of yours are planning their wedding, we would love to hear from them.",
  ),
  button: z.string().min(1).max(100).default("Share your referral link"),
  /** Send on the couple's wedding anniversary (the next one from when the step runs). */
  anniversary: z.boolean().default(false),
  /** Local time of day (the couple's zone) for the anniversary send. */
  send_at: z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, "must be HH:MM (24 h)").default("10:00"),
  link_ttl_days: z.number().int().min(7).max(1095).default(365),
});

/** A parsed referral step config. */
export type ReferralStepConfig = z.output<typeof referralStepConfig>;

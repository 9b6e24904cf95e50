// The form step's configuration, as the journey builder writes it (validated on write and on run).
import { z } from "zod";

const localTime = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, "must be HH:MM (24 h)");
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be YYYY-MM-DD");
const fieldName = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "must be lowercase letters, digits and _");
const webUrl = z.url({ protocol: /^https?$/ }).max(2000);

/** Where the couple fills the form in. */
export const formSource = z.discriminatedUnion("provider", [
  /** The vendor's own form page; the link is `url?journey_token=...`. */
  z.strictObject({ provider: z.literal("internal"), form_id: fieldName, url: webUrl }),
  z.strictObject({ provider: z.literal("typeform"), form_id: z.string().regex(/^[A-Za-z0-9]{4,32}$/) }),
  z.strictObject({ provider: z.literal("jotform"), form_id: z.string().regex(/^[0-9]{6,20}$/) }),
]);

/** One reminder: days after the form was sent, and the channel (the product spec escalates to SMS). */
export const formReminder = z.strictObject({
  after_days: z.number().int().min(1).max(365),
  channel: z.enum(["email", "sms"]).default("email"),
});

/** When the form is due; after it the step is overdue. */
export const formDeadline = z.union([
  z.strictObject({ days_after_sent: z.number().int().min(1).max(365) }),
  z.strictObject({ date: isoDate }),
  z.strictObject({ days_before_wedding: z.number().int().min(0).max(730) }),
]);

/** Config of a `form` journey step. */
export const formStepConfig = z.strictObject({
  form: formSource,
  /**
   * The answers kept: our field name → the provider's field (Typeform field ref, Jotform field name,
   * internal form key). Answers to other questions are not stored.
   */
  fields: z.record(fieldName, z.string().min(1).max(200)).refine(
    (f) => Object.keys(f).length > 0 && Object.keys(f).length <= 100,
    "map between 1 and 100 fields",
  ),
  subject: z.string().min(1).max(200).default("Your questionnaire from {{supplier_name}}"),
  message: z.string().min(1).max(5000).default(
    "Hi {{couple_name}},\n\nPlease tell us about your plans in this short questionnaire.",
  ),
  button: z.string().min(1).max(100).default("Fill in the questionnaire"),
  reminder_subject: z.string().min(1).max(200).default("Reminder: your questionnaire from {{supplier_name}}"),
  reminder_message: z.string().min(1).max(5000).default(
    "Hi {{couple_name}},\n\nA gentle reminder: we have not received your questionnaire yet.",
  ),
  /** The text of an SMS reminder (`{{form_link}}` is the couple's link). */
  reminder_sms: z.string().min(1).max(1600).default(
    "Hi {{couple_name}}, a reminder from {{supplier_name}}: please fill in your questionnaire: {{form_link}}",
  ),
  /** The journey waits for the submission (true) or moves on at once (false). */
  block_progress: z.boolean().default(false),
  reminders: z.array(formReminder).max(10).default([
    { after_days: 3, channel: "email" },
    { after_days: 7, channel: "email" },
    { after_days: 14, channel: "sms" },
  ]).refine(
    (r) => r.every((x, i) => i === 0 || x.after_days > r[i - 1].after_days),
    "reminders must be in increasing after_days",
  ),
  /** Local time (the couple's zone) reminders go out at. */
  reminder_time: localTime.default("10:00"),
  deadline: formDeadline.optional(),
  /** A blocking step whose deadline passed: keep waiting, or let the journey continue. */
  on_overdue: z.enum(["wait", "continue"]).default("wait"),
  /** How long the link stays valid after the deadline (or after sending, without one). */
  link_ttl_days: z.number().int().min(1).max(365).default(90),
});

/** A parsed form step config. */
export type FormStepConfig = z.output<typeof formStepConfig>;

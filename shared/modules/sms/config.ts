// The sms step's configuration, as the journey builder writes it (validated on write and on run).
import { z } from "zod";

const tagName = z.string().regex(/^[a-z][a-z0-9_]*$/, "must be lowercase letters, digits and _");
const httpsUrl = z.url({ protocol: /^https$/, error: "must be an https URL" }).max(2000);

/** An approved WhatsApp template, for messages outside the 24-hour customer-service window. */
export const whatsappTemplate = z.strictObject({
  /** The template's name as approved in WhatsApp Manager. */
  name: z.string().regex(/^[a-z0-9_]{1,512}$/, "must be the approved template's name (a-z, 0-9, _)"),
  /** The approved translation's exact code: `en_US` and `en` are different templates. */
  language: z.string().regex(/^[a-z]{2,3}(_[A-Z]{2})?$/, "must be a language code like en or en_US"),
  /** Values of {{1}}, {{2}}... in the template body; merge tags allowed. */
  body_parameters: z.array(z.string().min(1).max(1024)).max(20).default([]),
});

/** Config of an `sms` journey step (product spec: `channel`, `fallbackToSms`, `requireOptIn`). */
export const smsStepConfig = z.strictObject({
  /** `both`: WhatsApp, falling back to SMS when WhatsApp cannot carry the message. */
  channel: z.enum(["sms", "whatsapp", "both"]).default("sms"),
  /** The message, with merge tags like {{couple_name}}; WhatsApp allows 4096 characters, SMS 1600. */
  text: z.string().trim().min(1).max(4096),
  /** An image sent with the WhatsApp message (free-form only; templates carry their own header). */
  media_url: httpsUrl.optional(),
  /** Sent instead of free-form text outside the 24-hour window (or after error 131047). */
  whatsapp_template: whatsappTemplate.optional(),
  /** Send only to couples who agreed (consent recorded on the couple, or a START/YES reply). */
  require_opt_in: z.boolean().default(false),
  /** Extra merge values for this step, used as {{custom.<name>}}. */
  custom: z.record(tagName, z.string().max(2000)).default({}),
});

/** A parsed sms step config. */
export type SmsStepConfig = z.output<typeof smsStepConfig>;

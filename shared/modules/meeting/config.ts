// The meeting step's configuration, as the journey builder writes it (validated on write and on run).
import { z } from "zod";

const templateKey = z.string().regex(
  /^[a-z0-9][a-z0-9_-]{0,63}$/,
  "must be a template key like consultation-invite",
);

/** Scheduling providers a meeting step can use. */
export const MEETING_PROVIDERS = ["calendly", "google_calendar", "acuity"] as const;

/** Config of a `meeting` journey step. */
export const meetingStepConfig = z.strictObject({
  /** Calendly and Acuity send the couple a booking link; Google Calendar books a free slot and invites them. */
  provider: z.enum(MEETING_PROVIDERS),
  /** What the meeting is called in messages and calendars, e.g. "Consultation". */
  meeting_type: z.string().trim().min(1).max(100),
  /** Length in minutes. */
  duration: z.number().int().min(5).max(720).default(30),
  /** Minutes kept free before and after the meeting in the vendor's calendar. */
  buffer_time: z.number().int().min(0).max(240).default(0),
  format: z.enum(["in_person", "video", "phone"]).default("video"),
  /** Address (in person) or dial-in (phone). */
  location: z.string().trim().min(1).max(500).optional(),
  /** Google Meet is created with the event when the format is video. */
  video_provider: z.enum(["google_meet", "none"]).optional(),
  /** Google Calendar: how soon and how far ahead a slot may be, in the vendor's business hours. */
  availability: z.strictObject({
    notice_hours: z.number().int().min(0).max(720).default(24),
    window_days: z.number().int().min(1).max(90).default(14),
  }).default({ notice_hours: 24, window_days: 14 }),
  /** Calendly: the event type the single-use link books (`https://api.calendly.com/event_types/<uuid>`). */
  calendly_event_type: z.url({ protocol: /^https?$/ }).regex(
    /\/event_types\/[^/?#]+$/,
    "must be a Calendly event type URI like https://api.calendly.com/event_types/<uuid>",
  ).optional(),
  /** Acuity: the appointment type id the link pre-selects. */
  acuity_appointment_type: z.string().regex(/^\d{1,12}$/, "must be an Acuity appointment type id").optional(),
  /** How the booking link and nudge reach the couple (reminders choose their own channel). */
  channel: z.enum(["email"]).default("email"),
  /** Email template for the booking link; a built-in one is used when absent. */
  template: templateKey.optional(),
  reminders: z.strictObject({
    /** Reminders 24 h and 2 h before the meeting. */
    enabled: z.boolean().default(true),
    /** The channel the reminders go out on; SMS keeps the sms step's consent and quiet hours. */
    channel: z.enum(["email", "sms"]).default("email"),
    /** Email template of the reminders; a built-in one is used when absent. */
    template: templateKey.optional(),
    /** Text of an SMS reminder; a built-in one is used when absent. */
    sms_text: z.string().trim().min(1).max(1600).optional(),
  }).default({ enabled: true, channel: "email" }),
  /** When the couple cancels: reopen the step (a new link, or a new slot), or only record it. */
  on_cancel: z.enum(["reopen", "keep"]).default("reopen"),
  /** Calendly and Acuity: what happens while the link is not used (days count at 10:00 in the couple's zone). */
  awaiting_booking: z.strictObject({
    /** A "please book" email this many days after the link was sent. */
    nudge_after_days: z.number().int().min(1).max(60).optional(),
    /** Email template of the nudge; a built-in one is used when absent. */
    nudge_template: templateKey.optional(),
    /** The step is overdue this many days after the link was sent. */
    overdue_after_days: z.number().int().min(1).max(90).optional(),
    /** Overdue: keep waiting for a late booking (the run shows why), or skip the step so the journey moves on. */
    on_overdue: z.enum(["wait", "skip"]).default("wait"),
  }).optional(),
}).superRefine((c, ctx) => {
  if (c.provider === "calendly" && !c.calendly_event_type) {
    ctx.addIssue({
      code: "custom",
      path: ["calendly_event_type"],
      message: "is required with provider calendly",
    });
  }
  if (c.provider === "acuity" && !c.acuity_appointment_type) {
    ctx.addIssue({
      code: "custom",
      path: ["acuity_appointment_type"],
      message: "is required with provider acuity",
    });
  }
  if (c.format === "in_person" && c.provider === "google_calendar" && !c.location) {
    ctx.addIssue({ code: "custom", path: ["location"], message: "is required for an in-person meeting" });
  }
  if (c.reminders.channel === "sms" && c.reminders.template) {
    ctx.addIssue({
      code: "custom",
      path: ["reminders", "template"],
      message: "is an email template; SMS reminders use sms_text",
    });
  }
  if (c.reminders.channel === "email" && c.reminders.sms_text) {
    ctx.addIssue({ code: "custom", path: ["reminders", "sms_text"], message: "needs channel sms" });
  }
  const waiting = c.awaiting_booking;
  if (waiting && c.provider === "google_calendar") {
    ctx.addIssue({
      code: "custom",
      path: ["awaiting_booking"],
      message: "applies to providers that send a booking link (calendly, acuity)",
    });
  }
  if (
    waiting?.nudge_after_days !== undefined && waiting.overdue_after_days !== undefined &&
    waiting.overdue_after_days <= waiting.nudge_after_days
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["awaiting_booking", "overdue_after_days"],
      message: "must be later than nudge_after_days",
    });
  }
  if (waiting?.nudge_template && waiting.nudge_after_days === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["awaiting_booking", "nudge_template"],
      message: "needs nudge_after_days",
    });
  }
  if (c.video_provider === "google_meet" && (c.provider !== "google_calendar" || c.format !== "video")) {
    ctx.addIssue({
      code: "custom",
      path: ["video_provider"],
      message: "google_meet needs provider google_calendar and format video",
    });
  }
});

/** A parsed meeting step config. */
export type MeetingStepConfig = z.output<typeof meetingStepConfig>;

/** Whether the event gets a Google Meet link. */
export function wantsMeet(c: MeetingStepConfig): boolean {
  return c.provider === "google_calendar" && c.format === "video" && c.video_provider !== "none";
}

// The meeting module's messages: the booking-link invitation, the "please book" nudge and the reminders, from the vendor's template
// or a built-in one, with the meeting's time written in the couple's zone and language.
import type { EmailTemplate } from "../../render/template.ts";

/** Built-in invitation, used when the step names no template. */
export const DEFAULT_LINK_TEMPLATE: EmailTemplate = {
  subject: "Book your {{meeting_type}} with {{supplier_name}}",
  html: "<p>Hi {{couple_name}},</p>" +
    "<p>Please choose a time for your {{meeting_type}} ({{duration}} minutes) with {{supplier_name}}:</p>" +
    '<p><a href="{{booking_url}}">Book your {{meeting_type}}</a></p>' +
    "<p>The link is yours alone and books one meeting.</p>",
};

/** Built-in "please book" nudge, used when the step's awaiting_booking names no nudge_template. */
export const DEFAULT_NUDGE_TEMPLATE: EmailTemplate = {
  subject: "Still time to book your {{meeting_type}} with {{supplier_name}}",
  html: "<p>Hi {{couple_name}},</p>" +
    "<p>You have not chosen a time for your {{meeting_type}} ({{duration}} minutes) with {{supplier_name}} yet:</p>" +
    '<p><a href="{{booking_url}}">Book your {{meeting_type}}</a></p>',
};

/** Built-in reminder, used when the step's reminders name no template. */
export const DEFAULT_REMINDER_TEMPLATE: EmailTemplate = {
  subject: "Reminder: your {{meeting_type}} with {{supplier_name}}, {{meeting_time}}",
  html: "<p>Hi {{couple_name}},</p>" +
    "<p>A reminder of your {{meeting_type}} with {{supplier_name}} on {{meeting_time}}.</p>" +
    "<p>Where: {{meeting_place}}</p>",
};

/** Built-in SMS reminder, used when the step's reminders name no sms_text. */
export const DEFAULT_REMINDER_SMS =
  "Hi {{couple_name}}, a reminder of your {{meeting_type}} with {{supplier_name}} on {{meeting_time}}. Where: {{meeting_place}}";

/**
 * A meeting's start as the couple reads it, e.g. "Tuesday 14 April 2026, 15:00 BST" (en-GB), in their
 * zone; an unsupported locale falls back to English.
 */
export function formatMeetingTime(start: Date, timeZone: string, locale: string): string {
  const options: Intl.DateTimeFormatOptions = {
    timeZone,
    weekday: "long",
    day: "numeric",
    month: "long",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZoneName: "short",
  };
  try {
    return new Intl.DateTimeFormat(locale, options).format(start);
  } catch {
    return new Intl.DateTimeFormat("en", options).format(start);
  }
}

/** Where the meeting happens, for a reminder: the video link, the address, or the phone arrangement. */
export function meetingPlace(
  m: { join_url: string | null; location: string | null; format: string },
): string {
  if (m.join_url) return m.join_url;
  if (m.location) return m.location;
  return m.format === "phone" ? "by phone" : "as arranged";
}

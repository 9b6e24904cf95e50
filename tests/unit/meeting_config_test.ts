// The meeting step config: defaults, and a field-level error for each cross-field rule.
import assert from "node:assert/strict";
import { meetingStepConfig } from "../../shared/modules/meeting/config.ts";
import { fieldErrors } from "../../shared/http/validate.ts";

const errors = (input: unknown) => {
  const parsed = meetingStepConfig.safeParse(input);
  assert.equal(parsed.success, false, "the config was accepted");
  return fieldErrors(parsed.error!).map((e) => e.path).sort();
};

Deno.test("meetingStepConfig fills the product defaults when a Calendly step gives only what it must", () => {
  const c = meetingStepConfig.parse({
    provider: "calendly",
    meeting_type: "Consultation",
    calendly_event_type: "https://api.calendly.com/event_types/abc",
  });
  assert.equal(c.duration, 30);
  assert.equal(c.buffer_time, 0);
  assert.equal(c.format, "video");
  assert.equal(c.on_cancel, "reopen");
  assert.deepEqual(c.reminders, { enabled: true, channel: "email" });
  assert.deepEqual(c.availability, { notice_hours: 24, window_days: 14 });
});

Deno.test("meetingStepConfig names the missing provider field when the provider needs one", () => {
  assert.deepEqual(errors({ provider: "calendly", meeting_type: "Call" }), ["calendly_event_type"]);
  assert.deepEqual(errors({ provider: "acuity", meeting_type: "Call" }), ["acuity_appointment_type"]);
  assert.deepEqual(
    errors({ provider: "google_calendar", meeting_type: "Visit", format: "in_person" }),
    ["location"],
  );
});

Deno.test("meetingStepConfig refuses Meet without Google video, and bad values field by field", () => {
  assert.deepEqual(
    errors({
      provider: "calendly",
      meeting_type: "Call",
      calendly_event_type: "https://api.calendly.com/event_types/abc",
      video_provider: "google_meet",
    }),
    ["video_provider"],
  );
  assert.deepEqual(
    errors({
      provider: "google_calendar",
      meeting_type: "",
      duration: 2,
      buffer_time: -5,
      format: "carrier_pigeon",
      calendly_event_type: "https://api.calendly.com/users/abc",
      extra: true,
    }),
    ["(root)", "buffer_time", "calendly_event_type", "duration", "format", "meeting_type"],
  );
});

Deno.test("meetingStepConfig accepts booking follow-ups on a link provider and refuses them field by field otherwise", () => {
  const calendly = {
    provider: "calendly",
    meeting_type: "Call",
    calendly_event_type: "https://api.calendly.com/event_types/abc",
  };
  const c = meetingStepConfig.parse({ ...calendly, awaiting_booking: { nudge_after_days: 3 } });
  assert.deepEqual(c.awaiting_booking, { nudge_after_days: 3, on_overdue: "wait" });
  assert.deepEqual(
    errors({ provider: "google_calendar", meeting_type: "Call", awaiting_booking: { nudge_after_days: 3 } }),
    ["awaiting_booking"],
  );
  assert.deepEqual(
    errors({ ...calendly, awaiting_booking: { nudge_after_days: 5, overdue_after_days: 5 } }),
    ["awaiting_booking.overdue_after_days"],
  );
  assert.deepEqual(
    errors({ ...calendly, awaiting_booking: { nudge_template: "please-book", on_overdue: "later" } }),
    ["awaiting_booking.on_overdue"],
  );
  assert.deepEqual(
    errors({ ...calendly, awaiting_booking: { nudge_template: "please-book" } }),
    ["awaiting_booking.nudge_template"],
  );
});

Deno.test("meetingStepConfig ties each reminder wording to its channel when the channel does not match", () => {
  const calendly = {
    provider: "calendly",
    meeting_type: "Call",
    calendly_event_type: "https://api.calendly.com/event_types/abc",
  };
  assert.equal(
    meetingStepConfig.parse({ ...calendly, reminders: { channel: "sms" } }).reminders.channel,
    "sms",
  );
  assert.deepEqual(errors({ ...calendly, reminders: { channel: "sms", template: "reminder" } }), [
    "reminders.template",
  ]);
  assert.deepEqual(errors({ ...calendly, reminders: { sms_text: "See you soon" } }), ["reminders.sms_text"]);
  assert.deepEqual(errors({ ...calendly, reminders: { channel: "whatsapp" } }), ["reminders.channel"]);
});

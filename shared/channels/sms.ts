// The SMS channel as the form reminders see it. The SMS module is built separately; until it is part of
// this code base, an SMS message is skipped with this reason through the normal outcome path.
import type { RunError } from "../runs/types.ts";

/** Why an SMS message was not sent. */
export const SMS_UNAVAILABLE: RunError = {
  code: "sms_channel_unavailable",
  message: "sms channel not available",
};

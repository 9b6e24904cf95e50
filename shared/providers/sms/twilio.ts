// Twilio Programmable Messaging adapter: one form-encoded POST to Messages.json with basic auth, classified.
import { answerFailure, bodyRecord, callProvider } from "../http.ts";
import type { SendResult } from "../result.ts";

/** The account to send as (credentials from Vault, settings from supplier_integrations). */
export type TwilioAccount = {
  accountSid: string;
  /** Basic-auth user and password: the Account SID and Auth Token, or an API key SID and secret. */
  username: string;
  password: string;
  baseUrl: string;
  timeoutMs: number;
};

/** One SMS (or MMS with media). Exactly one of `from` and `messagingServiceSid`. */
export type TwilioMessage = {
  to: string;
  from?: string;
  messagingServiceSid?: string;
  body: string;
  mediaUrls?: string[];
  /** Twilio posts status changes here; it carries the run key, Twilio having no idempotency key. */
  statusCallback: string;
};

/** Error codes meaning the message can never go as it is (no retry). */
const PERMANENT_CODES: Record<number, string> = {
  21211: "invalid_number",
  21408: "region_not_permitted",
  21610: "opted_out",
  21614: "not_a_mobile_number",
};

/**
 * Sends one message. Twilio has no idempotency key: an answer that never arrives (timeout, reset) is
 * `unknown`, reconciled from the status callback carrying the run key, never blindly resent.
 */
export async function sendTwilioMessage(
  account: TwilioAccount,
  message: TwilioMessage,
  fetchFn: typeof fetch = fetch,
): Promise<SendResult> {
  const form = new URLSearchParams({
    To: message.to,
    Body: message.body,
    StatusCallback: message.statusCallback,
  });
  if (message.messagingServiceSid) form.set("MessagingServiceSid", message.messagingServiceSid);
  else if (message.from) form.set("From", message.from);
  for (const url of message.mediaUrls ?? []) form.append("MediaUrl", url);

  const url = `${account.baseUrl.replace(/\/$/, "")}/2010-04-01/Accounts/${
    encodeURIComponent(account.accountSid)
  }/Messages.json`;
  const answer = await callProvider({
    provider: "twilio",
    operation: "messages.create",
    method: "POST",
    url,
    headers: { authorization: `Basic ${btoa(`${account.username}:${account.password}`)}` },
    body: form,
    timeoutMs: account.timeoutMs,
    fetch: fetchFn,
    describeError: (status, body) => {
      const b = bodyRecord(body);
      const code = typeof b.code === "number" ? b.code : null;
      return {
        code: code === null
          ? `http_${status}`
          : PERMANENT_CODES[code]
          ? `${code}_${PERMANENT_CODES[code]}`
          : String(code),
        message: `Twilio answered ${status}${code === null ? "" : ` ${code}`}: ${
          String(b.message ?? "").slice(0, 300)
        }`,
        auditCode: code === null ? null : String(code),
        // 20429: too many requests queued, whatever the status.
        transient: code === 20429 ? true : undefined,
      };
    },
  });
  if (!answer.ok) return answer;
  const sid = bodyRecord(answer.body).sid;
  if (typeof sid === "string") return { ok: true, provider_message_id: sid, call: answer.call };
  return answerFailure(
    answer,
    "permanent",
    `http_${answer.status}`,
    `Twilio answered ${answer.status}: no message sid`,
  );
}

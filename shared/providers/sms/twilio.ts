// Twilio Programmable Messaging adapter: one form-encoded POST to Messages.json with basic auth, classified.
import { timedCall } from "../http_call.ts";
import { retryAfterSeconds, type SendResult } from "../result.ts";

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
  const res = await timedCall(
    { provider: "twilio", operation: "messages.create", label: "Twilio", timeoutMs: account.timeoutMs },
    url,
    {
      method: "POST",
      headers: {
        authorization: `Basic ${btoa(`${account.username}:${account.password}`)}`,
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: form,
    },
    fetchFn,
  );
  if (!res.answered) return res.result;
  const body = res.body;
  const code = typeof body.code === "number" ? body.code : null;
  if (res.status >= 200 && res.status < 300 && typeof body.sid === "string") {
    return { ok: true, provider_message_id: body.sid, call: res.call(null) };
  }
  const error = {
    provider: "twilio",
    http_status: res.status,
    code: code === null ? `http_${res.status}` : String(code),
    message: `Twilio answered ${res.status}${code === null ? "" : ` ${code}`}: ${
      String(body.message ?? "").slice(0, 300)
    }`,
  };
  const audit = res.call(code === null ? null : String(code));
  if (res.status === 429 || code === 20429 || res.status >= 500) {
    return {
      ok: false,
      failure: "transient",
      error,
      retry_after_s: retryAfterSeconds(res.headers.get("retry-after")) ??
        (res.status === 429 ? 1 : undefined),
      call: audit,
    };
  }
  if (code !== null && PERMANENT_CODES[code]) error.code = `${code}_${PERMANENT_CODES[code]}`;
  return { ok: false, failure: "permanent", error, call: audit };
}

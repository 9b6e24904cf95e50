// SendGrid adapter: POST /v3/mail/send with the run key in custom_args; 202 carries the id in X-Message-Id.
import { callProvider } from "../http.ts";
import type { SendResult } from "../result.ts";
import { parseMailbox } from "./address.ts";
import type { EmailMessage } from "./message.ts";

/** Where and as whom to call SendGrid (`baseUrl` is the global or the EU host). */
export type SendGridAccount = { apiKey: string; baseUrl: string; timeoutMs: number };

const ERROR_NAMES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  413: "payload_too_large",
  429: "rate_limited",
};

/** The `/v3/mail/send` body of a message; custom_args come back on every event of the Event Webhook. */
export function sendGridBody(message: EmailMessage, runKey: string): Record<string, unknown> {
  const from = parseMailbox(message.from);
  if (!from) throw new TypeError(`Cannot send through SendGrid: "${message.from}" is not a sender address`);
  const customArgs: Record<string, string> = { run_key: runKey };
  for (const tag of message.tags) customArgs[tag.name] = tag.value;
  return {
    personalizations: [{ to: [{ email: message.to }], custom_args: customArgs }],
    from,
    ...(message.reply_to ? { reply_to: parseMailbox(message.reply_to) ?? { email: message.reply_to } } : {}),
    subject: message.subject,
    // SendGrid requires text/plain before text/html.
    content: [{ type: "text/plain", value: message.text }, { type: "text/html", value: message.html }],
    ...(message.headers && Object.keys(message.headers).length > 0 ? { headers: message.headers } : {}),
  };
}

/**
 * Sends through SendGrid. There is no idempotency key: a call without an answer is `unknown` and must not
 * be replayed or failed over; the run key in custom_args identifies the message in webhooks.
 */
export async function sendSendGridEmail(
  account: SendGridAccount,
  message: EmailMessage,
  runKey: string,
): Promise<SendResult> {
  const answer = await callProvider({
    provider: "sendgrid",
    operation: "mail.send",
    method: "POST",
    url: `${account.baseUrl}/v3/mail/send`,
    headers: { authorization: `Bearer ${account.apiKey}` },
    body: sendGridBody(message, runKey),
    timeoutMs: account.timeoutMs,
    describeError: (status, body, headers) => {
      const errors = (body as { errors?: { message?: string; field?: string | null }[] })?.errors;
      const first = Array.isArray(errors) ? errors[0] : undefined;
      const detail = first?.message
        ? `${first.message}${first.field ? ` (${first.field})` : ""}`
        : String(body).slice(0, 200);
      const reset = Number(headers.get("x-ratelimit-reset"));
      return {
        code: ERROR_NAMES[status] ?? (status >= 500 ? "server_error" : `http_${status}`),
        message: `SendGrid answered ${status}: ${detail}`.slice(0, 400),
        retryAfterS: Number.isFinite(reset) && reset > 0 ? Math.max(1, reset - Date.now() / 1000) : undefined,
      };
    },
  });
  if (!answer.ok) return answer;
  // Accepted: never resend. The id is only missing if SendGrid broke its contract; the run key then
  // stands in, as it is on every webhook event too.
  return { ok: true, provider_message_id: answer.headers.get("x-message-id") ?? runKey, call: answer.call };
}

// Mailgun adapter: form-encoded POST /v3/{domain}/messages with basic auth, the run key as a v: variable.
import { bodyRecord, callProvider } from "../http.ts";
import type { SendResult } from "../result.ts";
import type { EmailMessage } from "./message.ts";

/** Where and as whom to call Mailgun: the region's base URL and the sending domain. */
export type MailgunAccount = { apiKey: string; baseUrl: string; domain: string; timeoutMs: number };

/** Mailgun's two regions and their API hosts. */
export const MAILGUN_REGIONS = { us: "https://api.mailgun.net", eu: "https://api.eu.mailgun.net" } as const;

const ERROR_NAMES: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "domain_not_found",
  413: "payload_too_large",
  429: "rate_limited",
};

/** The form fields of a message; `v:` variables come back as user-variables on every webhook event. */
export function mailgunForm(message: EmailMessage, runKey: string): URLSearchParams {
  const form = new URLSearchParams();
  form.set("from", message.from);
  form.set("to", message.to);
  form.set("subject", message.subject);
  form.set("text", message.text);
  form.set("html", message.html);
  if (message.reply_to) form.set("h:Reply-To", message.reply_to);
  for (const [name, value] of Object.entries(message.headers ?? {})) form.set(`h:${name}`, value);
  form.set("v:run_key", runKey);
  for (const tag of message.tags) form.set(`v:${tag.name}`, tag.value);
  return form;
}

/** Mailgun's message id without the angle brackets, as its webhooks' `message-id` header has it. */
export function mailgunMessageId(id: string): string {
  return id.replace(/^<|>$/g, "");
}

/**
 * Sends through Mailgun. No idempotency key: a call without an answer is `unknown` and must not be
 * replayed or failed over.
 */
export async function sendMailgunEmail(
  account: MailgunAccount,
  message: EmailMessage,
  runKey: string,
): Promise<SendResult> {
  const answer = await callProvider({
    provider: "mailgun",
    operation: "messages.send",
    method: "POST",
    url: `${account.baseUrl}/v3/${encodeURIComponent(account.domain)}/messages`,
    headers: { authorization: `Basic ${btoa(`api:${account.apiKey}`)}` },
    body: mailgunForm(message, runKey),
    timeoutMs: account.timeoutMs,
    describeError: (status, body) => ({
      code: ERROR_NAMES[status] ?? (status >= 500 ? "server_error" : `http_${status}`),
      message: `Mailgun answered ${status}: ${
        typeof (body as { message?: unknown })?.message === "string"
          ? (body as { message: string }).message
          : String(body).slice(0, 200)
      }`.slice(0, 400),
    }),
  });
  if (!answer.ok) return answer;
  const id = bodyRecord(answer.body).id;
  return {
    ok: true,
    provider_message_id: typeof id === "string" ? mailgunMessageId(id) : runKey,
    call: answer.call,
  };
}

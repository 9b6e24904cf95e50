// Resend adapter: sends one email with the run's idempotency key and classifies the answer.
import { Resend } from "resend";
import { deadline } from "../http.ts";
import { retryAfterSeconds, type SendResult } from "../result.ts";
import type { EmailMessage } from "./message.ts";

export type { EmailMessage };

/** Where and as whom to call Resend. */
export type ResendAccount = { apiKey: string; baseUrl: string; timeoutMs: number };

const clients = new Map<string, Resend>();

function client(account: ResendAccount): Resend {
  const key = `${account.baseUrl}\u0000${account.apiKey}`;
  let c = clients.get(key);
  if (!c) {
    // baseUrl is passed explicitly: under Deno the SDK cannot be relied on to read RESEND_BASE_URL.
    c = new Resend(account.apiKey, { baseUrl: account.baseUrl });
    clients.set(key, c);
  }
  return c;
}

const PERMANENT_409 = new Set(["invalid_idempotent_request"]);
const SLOW_QUOTAS = new Set(["daily_quota_exceeded", "monthly_quota_exceeded"]);

/**
 * Sends through Resend with `Idempotency-Key` = the run's key, so a retry after an unknown outcome
 * (timeout, reset) returns the original email instead of sending a second one (keys live 24 h).
 */
export async function sendResendEmail(
  account: ResendAccount,
  message: EmailMessage,
  idempotencyKey: string,
): Promise<SendResult> {
  const started = performance.now();
  const timeout = deadline(account.timeoutMs);
  const signal = timeout.signal;
  const { data, error, headers } = await client(account).emails.send({
    from: message.from,
    to: message.to,
    subject: message.subject,
    html: message.html,
    text: message.text,
    replyTo: message.reply_to,
    tags: message.tags,
    headers: message.headers,
  }, { idempotencyKey, signal } as { idempotencyKey: string }).finally(timeout.clear);
  const duration_ms = Math.round(performance.now() - started);
  const status = error ? (typeof error.statusCode === "number" ? error.statusCode : null) : 200;
  const code = error ? String(error.name ?? "error") : null;
  const call = {
    provider: "resend",
    operation: "emails.send",
    http_status: status,
    duration_ms,
    error_code: code,
  };
  if (!error && data?.id) return { ok: true, provider_message_id: data.id, call };

  const err = { provider: "resend", http_status: status ?? undefined, code: code ?? "error" };
  if (status === null) {
    // No HTTP answer: the request may have reached Resend. Replaying with the same key is safe.
    const reason = signal.aborted ? `no answer within ${account.timeoutMs} ms` : "connection failed";
    return { ok: false, failure: "unknown", error: { ...err, code: "no_response", message: reason }, call };
  }
  const error_ = {
    ...err,
    message: `Resend answered ${status} ${code}: ${String(error?.message ?? "").slice(0, 300)}`,
  };
  const retryAfter = retryAfterSeconds(headers?.["retry-after"]);
  if (status === 429) {
    // Quota exhaustion is not cured in seconds: wait an hour at least.
    const floor = code && SLOW_QUOTAS.has(code) ? 3600 : 0;
    return {
      ok: false,
      failure: "transient",
      error: error_,
      retry_after_s: Math.max(floor, retryAfter ?? 1),
      call,
    };
  }
  if (status >= 500 || (status === 409 && !(code && PERMANENT_409.has(code)))) {
    return { ok: false, failure: "transient", error: error_, retry_after_s: retryAfter, call };
  }
  return { ok: false, failure: "permanent", error: error_, call };
}

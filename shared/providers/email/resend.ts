// Resend adapter: sends one email with the run's idempotency key, or several in one batch request with
// the batch's key, and classifies the answer.
import { Resend } from "resend";
import type { IntegrationCall } from "../../runs/types.ts";
import { deadline } from "../http.ts";
import { retryAfterSeconds, type SendResult } from "../result.ts";
import type { EmailMessage } from "./message.ts";

export type { EmailMessage };

/** Where and as whom to call Resend. */
export type ResendAccount = { apiKey: string; baseUrl: string; timeoutMs: number };

/** Emails per `POST /emails/batch` at most (Resend's limit). */
export const RESEND_MAX_BATCH = 100;

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
 * The run key as a Resend tag value (ASCII letters, digits, `_` and `-` only): run keys are UUIDs, visit
 * numbers and words joined by `:`, which becomes `_`. It comes back in Resend's events, which is how an
 * unknown outcome is settled (`runKeyFromTag`).
 */
export const RUN_KEY_TAG = "run_key";
export const runKeyTag = (runKey: string) => runKey.replaceAll(":", "_");
export const runKeyFromTag = (value: string) => value.replaceAll("_", ":");

const payload = (message: EmailMessage, runKey: string) => ({
  from: message.from,
  to: message.to,
  subject: message.subject,
  html: message.html,
  text: message.text,
  replyTo: message.reply_to,
  tags: [...message.tags, { name: RUN_KEY_TAG, value: runKeyTag(runKey) }],
  headers: message.headers,
});

type Answer = {
  error: { statusCode?: number | null; name?: string; message?: string } | null;
  headers?: Record<string, string> | null;
};

/** The result of a call that did not return an email id: no answer (unknown), or a classified error. */
function failure(
  account: ResendAccount,
  answer: Answer,
  aborted: boolean,
  call: IntegrationCall,
): Extract<SendResult, { ok: false }> {
  const { error, headers } = answer;
  const status = call.http_status;
  const err = { provider: "resend", http_status: status ?? undefined, code: call.error_code ?? "error" };
  if (status === null) {
    // No HTTP answer: the request may have reached Resend. Replaying it with the same key is safe.
    const reason = aborted ? `no answer within ${account.timeoutMs} ms` : "connection failed";
    return { ok: false, failure: "unknown", error: { ...err, code: "no_response", message: reason }, call };
  }
  const code = err.code;
  const error_ = {
    ...err,
    message: `Resend answered ${status} ${code}: ${String(error?.message ?? "").slice(0, 300)}`,
  };
  const retryAfter = retryAfterSeconds(headers?.["retry-after"]);
  if (status === 429) {
    // Quota exhaustion is not cured in seconds: wait an hour at least.
    const floor = SLOW_QUOTAS.has(code) ? 3600 : 0;
    return {
      ok: false,
      failure: "transient",
      error: error_,
      retry_after_s: Math.max(floor, retryAfter ?? 1),
      call,
    };
  }
  if (status >= 500 || (status === 409 && !PERMANENT_409.has(code))) {
    return { ok: false, failure: "transient", error: error_, retry_after_s: retryAfter, call };
  }
  return { ok: false, failure: "permanent", error: error_, call };
}

/** Calls Resend once and returns the answer with its audit record. */
async function call<T>(
  account: ResendAccount,
  operation: string,
  send: (signal: AbortSignal) => Promise<Answer & { data: T | null }>,
): Promise<{ data: T | null; answer: Answer; aborted: boolean; call: IntegrationCall }> {
  const started = performance.now();
  const timeout = deadline(account.timeoutMs);
  const answer = await send(timeout.signal).finally(timeout.clear);
  const { error } = answer;
  const status = error ? (typeof error.statusCode === "number" ? error.statusCode : null) : 200;
  return {
    data: answer.data,
    answer,
    aborted: timeout.signal.aborted,
    call: {
      provider: "resend",
      operation,
      http_status: status,
      duration_ms: Math.round(performance.now() - started),
      error_code: error ? String(error.name ?? "error") : null,
    },
  };
}

/**
 * Sends through Resend with `Idempotency-Key` = the run's key, so a retry after an unknown outcome
 * (timeout, reset) returns the original email instead of sending a second one (keys live 24 h).
 */
export async function sendResendEmail(
  account: ResendAccount,
  message: EmailMessage,
  idempotencyKey: string,
): Promise<SendResult> {
  const r = await call(
    account,
    "emails.send",
    (signal) =>
      client(account).emails.send(
        payload(message, idempotencyKey),
        { idempotencyKey, signal } as { idempotencyKey: string },
      ),
  );
  if (!r.answer.error && r.data?.id) return { ok: true, provider_message_id: r.data.id, call: r.call };
  return failure(account, r.answer, r.aborted, r.call);
}

/**
 * Sends up to 100 emails in one `POST /emails/batch` with `Idempotency-Key` = `batchKey` (a repeat of the
 * same request returns the original answer) in permissive validation: an invalid email fails alone
 * (permanent), the others are sent. One result per message, in order; every one carries the request's
 * audit record. Without an answer the request is repeated once, byte for byte; still without one, each
 * result is unknown and not replay-safe (another attempt would be another batch, with another key).
 */
export async function sendResendBatch(
  account: ResendAccount,
  messages: { message: EmailMessage; runKey: string }[],
  batchKey: string,
): Promise<SendResult[]> {
  if (messages.length === 0 || messages.length > RESEND_MAX_BATCH) {
    throw new RangeError(`a Resend batch holds 1 to ${RESEND_MAX_BATCH} emails`);
  }
  const body = messages.map((m) => payload(m.message, m.runKey));
  const once = () =>
    call(
      account,
      "emails.batch",
      (signal) =>
        client(account).batch.send(
          body,
          { idempotencyKey: batchKey, batchValidation: "permissive", signal } as {
            idempotencyKey: string;
            batchValidation: "permissive";
          },
        ),
    );
  let r = await once();
  const repeated = r.call.http_status === null;
  if (repeated) r = await once();
  if (r.answer.error || !r.data) {
    const result = failure(account, r.answer, r.aborted, r.call);
    // A repeat answered "the first request with this key is still running": that one may yet send.
    const unknown = result.failure === "unknown" ||
      (repeated && r.call.http_status === 409 && r.call.error_code === "concurrent_idempotent_requests");
    return messages.map(() => unknown ? { ...result, failure: "unknown", replay_safe: false } : result);
  }
  const invalid = new Map<number, string>();
  for (const e of (r.data as { errors?: { index: number; message: string }[] }).errors ?? []) {
    invalid.set(e.index, String(e.message ?? "").slice(0, 300));
  }
  // In permissive mode `data` lists the emails sent, in input order, skipping the invalid ones.
  const ids = (r.data as { data?: { id: string }[] }).data ?? [];
  let next = 0;
  return messages.map((_, index): SendResult => {
    const why = invalid.get(index);
    if (why !== undefined) {
      return {
        ok: false,
        failure: "permanent",
        error: {
          provider: "resend",
          http_status: 422,
          code: "validation_error",
          message: `Resend refused it: ${why}`,
        },
        call: r.call,
      };
    }
    const id = ids[next++]?.id;
    if (id) return { ok: true, provider_message_id: id, call: r.call };
    // An answer without this email's id: it may have been sent.
    return {
      ok: false,
      failure: "unknown",
      replay_safe: false,
      error: {
        provider: "resend",
        http_status: 200,
        code: "no_email_id",
        message: "Resend's batch answer lacks this email's id",
      },
      call: r.call,
    };
  });
}

// One provider HTTP call with a timeout, its audit record, and the classification of what came back.
import type { IntegrationCall, RunError } from "../runs/types.ts";
import { retryAfterSeconds, type SendResult } from "./result.ts";

/** The answer of a provider call that got an HTTP response. */
export type ProviderAnswer = { status: number; headers: Headers; body: unknown; call: IntegrationCall };

/** Why a provider call got no HTTP answer. */
export type NoAnswer = { failure: "transient" | "unknown"; error: RunError; call: IntegrationCall };

/** A refused connection never reached the provider; anything else may have (timeout, reset). */
function neverSent(error: unknown): boolean {
  const text = `${(error as Error)?.message ?? ""} ${(error as { cause?: Error })?.cause?.message ?? ""}`;
  return /connection refused|ECONNREFUSED|dns error|failed to lookup address/i.test(text);
}

/**
 * Calls a provider: `fetch` with a timeout, the body read as JSON when it is JSON (text otherwise).
 * A call without an HTTP answer is `unknown` (the request may have been acted on) unless the connection
 * was refused, which is `transient`.
 */
export async function providerFetch(
  provider: string,
  operation: string,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<ProviderAnswer | NoAnswer> {
  const started = performance.now();
  const signal = AbortSignal.timeout(timeoutMs);
  const call = (http_status: number | null, error_code: string | null): IntegrationCall => ({
    provider,
    operation,
    http_status,
    duration_ms: Math.round(performance.now() - started),
    error_code,
  });
  try {
    const res = await fetch(url, { ...init, signal });
    const text = await res.text();
    let body: unknown = text;
    if ((res.headers.get("content-type") ?? "").includes("json") && text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: res.status, headers: res.headers, body, call: call(res.status, null) };
  } catch (error) {
    if (neverSent(error)) {
      return {
        failure: "transient",
        error: { provider, code: "connection_refused", message: `${provider} refused the connection` },
        call: call(null, "connection_refused"),
      };
    }
    const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : "connection failed";
    return {
      failure: "unknown",
      error: { provider, code: "no_response", message: `${provider}: ${reason}` },
      call: call(null, "no_response"),
    };
  }
}

/**
 * Classifies a provider's error answer: 429 and 5xx are transient (429 waits for Retry-After, or
 * `retryAfterFallback`), everything else is permanent.
 */
export function classifyError(
  answer: ProviderAnswer,
  code: string,
  message: string,
  retryAfterFallback?: number,
): SendResult {
  const error: RunError = {
    provider: answer.call.provider,
    http_status: answer.status,
    code,
    message: message.slice(0, 400),
  };
  const call = { ...answer.call, error_code: code };
  const retryAfter = retryAfterSeconds(answer.headers.get("retry-after")) ?? retryAfterFallback;
  if (answer.status === 429) {
    return { ok: false, failure: "transient", error, retry_after_s: retryAfter ?? 1, call };
  }
  if (answer.status >= 500 || answer.status === 408) {
    return { ok: false, failure: "transient", error, retry_after_s: retryAfter, call };
  }
  return { ok: false, failure: "permanent", error, call };
}

/** True when `answer` is a provider call that got no HTTP answer. */
export function isNoAnswer(answer: ProviderAnswer | NoAnswer): answer is NoAnswer {
  return "failure" in answer;
}

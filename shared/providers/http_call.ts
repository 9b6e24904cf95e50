// One timed provider HTTP call: the JSON answer with its audit record, or `unknown` when no answer came.
import type { IntegrationCall } from "../runs/types.ts";
import type { SendResult } from "./result.ts";

/** An answered call: status, headers, the JSON body (empty object when not JSON) and its audit record. */
export type Answered = {
  answered: true;
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  /** The audit record of this call, with the provider's error code if any. */
  call: (errorCode: string | null) => IntegrationCall;
};

/**
 * Makes one request with a timeout. A request that got no answer (timeout, reset, refused) may still
 * have been acted on, so it comes back as a ready `unknown` result for the caller to return.
 */
export async function timedCall(
  what: { provider: string; operation: string; label: string; timeoutMs: number },
  url: string,
  init: RequestInit,
  fetchFn: typeof fetch,
): Promise<Answered | { answered: false; result: SendResult }> {
  const started = performance.now();
  const signal = AbortSignal.timeout(what.timeoutMs);
  const call = (http_status: number | null, error_code: string | null): IntegrationCall => ({
    provider: what.provider,
    operation: what.operation,
    http_status,
    duration_ms: Math.round(performance.now() - started),
    error_code,
  });
  try {
    const res = await fetchFn(url, { ...init, signal });
    const body = await res.json().catch(() => ({}));
    return {
      answered: true,
      status: res.status,
      headers: res.headers,
      body: typeof body === "object" && body !== null ? body : {},
      call: (code) => call(res.status, code),
    };
  } catch {
    const reason = signal.aborted ? `no answer within ${what.timeoutMs} ms` : "connection failed";
    return {
      answered: false,
      result: {
        ok: false,
        failure: "unknown",
        error: { provider: what.provider, code: "no_response", message: `${what.label}: ${reason}` },
        call: call(null, null),
      },
    };
  }
}

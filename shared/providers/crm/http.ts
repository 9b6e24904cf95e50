// One HTTP call to a provider with raw fetch: timeout, audit record, and the answer classified.
import type { IntegrationCall, RunError } from "../../runs/types.ts";
import { retryAfterSeconds } from "../result.ts";

/** A provider call that got a 2xx, with its parsed body (JSON, else text). */
export type HttpOk = { ok: true; status: number; body: unknown; call: IntegrationCall };
/** A provider call that failed, classified like every send (see providers/result.ts). */
export type HttpFailure = {
  ok: false;
  failure: "transient" | "permanent" | "unknown";
  error: RunError;
  retry_after_s?: number;
  call: IntegrationCall;
};

/** What {@link providerFetch} sends. */
export type ProviderRequest = {
  provider: string;
  operation: string;
  method: "GET" | "POST" | "PUT";
  url: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /**
   * True when repeating the request cannot do the work twice (GET, PUT, or a receiver that
   * deduplicates): a lost answer is then transient, otherwise its outcome is unknown.
   */
  idempotent: boolean;
  fetch?: typeof fetch;
  /** A short reason from an error answer's body, for the stored error (never secrets or personal data). */
  describe?: (body: unknown) => string | undefined;
};

/** Statuses worth retrying: timeouts, too early, rate limits, and server errors. */
function retryable(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * Makes one request and classifies the answer: 2xx ok; 408, 425, 429 and 5xx transient (honouring
 * `Retry-After`); any other status permanent; no answer transient or unknown (see `idempotent`).
 */
export async function providerFetch(req: ProviderRequest): Promise<HttpOk | HttpFailure> {
  const started = performance.now();
  const signal = AbortSignal.timeout(req.timeoutMs);
  const call = (status: number | null, code: string | null): IntegrationCall => ({
    provider: req.provider,
    operation: req.operation,
    http_status: status,
    duration_ms: Math.round(performance.now() - started),
    error_code: code,
  });
  let res: Response;
  try {
    res = await (req.fetch ?? fetch)(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal,
    });
  } catch {
    const message = signal.aborted ? `no answer within ${req.timeoutMs} ms` : "connection failed";
    return {
      ok: false,
      failure: req.idempotent ? "transient" : "unknown",
      error: { provider: req.provider, code: "no_response", message: `${req.operation}: ${message}` },
      call: call(null, "no_response"),
    };
  }
  const text = await res.text().catch(() => "");
  let body: unknown = text;
  if ((res.headers.get("content-type") ?? "").includes("json")) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (res.ok) return { ok: true, status: res.status, body, call: call(res.status, null) };

  const code = `http_${res.status}`;
  const reason = req.describe?.(body);
  const error: RunError = {
    provider: req.provider,
    http_status: res.status,
    code,
    message: `${req.operation}: ${req.provider} answered ${res.status}${
      reason ? `: ${reason.slice(0, 300)}` : ""
    }`,
  };
  if (retryable(res.status)) {
    const after = retryAfterSeconds(res.headers.get("retry-after"));
    return {
      ok: false,
      failure: "transient",
      error,
      retry_after_s: res.status === 429 ? after ?? 1 : after,
      call: call(res.status, code),
    };
  }
  return { ok: false, failure: "permanent", error, call: call(res.status, code) };
}

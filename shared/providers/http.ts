// One HTTP call to a provider with raw fetch: timeout, integration_calls audit record, and the answer classified.
import type { IntegrationCall, RunError } from "../runs/types.ts";
import { retryAfterSeconds } from "./result.ts";

/** What an adapter reads from a provider's error answer where the contract says more than the status. */
export type ErrorReading = {
  /** The stored error's code (default: the code in the usual error-body shapes, else `http_<status>`). */
  code?: string;
  /** The stored error's message (default: provider, operation, status, code and the body's message). */
  message?: string;
  /** The audit record's error code (default: `code`). */
  auditCode?: string | null;
  /** Whether retrying can help (default: 408, 425, 429 and 5xx can). */
  transient?: boolean;
  /** Seconds to wait when the answer has no Retry-After (default: 1 on 429, else the run's backoff). */
  retryAfterS?: number;
};

/** One request to a provider. */
export type ProviderRequest = {
  provider: string;
  /** Name in the integration_calls audit, e.g. `scheduling_links.create`. */
  operation: string;
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  headers?: Record<string, string>;
  /** Sent as is when a string, as a form when URLSearchParams, as JSON otherwise. */
  body?: unknown;
  timeoutMs: number;
  /**
   * True when repeating the request cannot do the work twice (reads, full replacements, receivers that
   * deduplicate): a lost answer is then transient, otherwise its outcome is unknown.
   */
  idempotent?: boolean;
  fetch?: typeof fetch;
  /** The adapter's reading of an error answer; never echo secrets or request data into it. */
  describeError?: (status: number, body: unknown, headers: Headers) => ErrorReading;
};

/** A provider call that failed, classified like every send (see providers/result.ts). */
export type ProviderFailure = {
  ok: false;
  failure: "transient" | "permanent" | "unknown";
  /** The HTTP status, null when no answer came. */
  status: number | null;
  error: RunError;
  retry_after_s?: number;
  call: IntegrationCall;
};

/** The provider's answer (the body parsed as JSON when it is JSON, else its text), or why there is none. */
export type ProviderAnswer =
  | { ok: true; status: number; headers: Headers; body: unknown; call: IntegrationCall }
  | ProviderFailure;

/** Reads an error code from the usual shapes of provider error bodies. */
function errorCode(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const b = body as Record<string, unknown>;
  if (typeof b.error === "string") return b.error;
  if (typeof b.error === "object" && b.error !== null) {
    const e = b.error as Record<string, unknown>;
    const reason = (e.errors as { reason?: unknown }[] | undefined)?.[0]?.reason;
    if (typeof reason === "string") return reason;
    if (typeof e.status === "string") return e.status;
  }
  if (typeof b.title === "string") return b.title;
  return null;
}

/** A short human reason from an error body, never echoing request data. */
function errorMessage(body: unknown): string {
  // A short one-line text answer (Mailgun's 401 is a bare "Forbidden") is the provider's own words.
  if (typeof body === "string") return /^[^<\n]{1,120}$/.test(body.trim()) ? body.trim() : "";
  if (typeof body !== "object" || body === null) return "";
  const b = body as Record<string, unknown>;
  const nested = typeof b.error === "object" && b.error !== null
    ? (b.error as Record<string, unknown>).message
    : undefined;
  const text = b.message ?? b.error_description ?? nested ?? b.title;
  return typeof text === "string" ? text.slice(0, 300) : "";
}

/** Statuses worth retrying: request timeout, too early, rate limits and server errors. */
function retryable(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** A refused connection never reached the provider; anything else (timeout, reset) may have. */
function neverSent(error: unknown): boolean {
  const text = `${(error as Error)?.message ?? ""} ${(error as { cause?: Error })?.cause?.message ?? ""}`;
  return /connection refused|ECONNREFUSED|dns error|failed to lookup address/i.test(text);
}

/** The body as a record: `{}` unless it is a JSON object. */
export function bodyRecord(body: unknown): Record<string, unknown> {
  return typeof body === "object" && body !== null ? body as Record<string, unknown> : {};
}

/** A failure found in an answer the provider gave (a 2xx without what the contract promises, say). */
export function answerFailure(
  answer: { status: number; call: IntegrationCall },
  failure: "transient" | "permanent",
  code: string,
  message: string,
): ProviderFailure {
  return {
    ok: false,
    failure,
    status: answer.status,
    error: { provider: answer.call.provider, http_status: answer.status, code, message },
    call: { ...answer.call, error_code: code },
  };
}

/**
 * A signal that aborts after `ms`, and `clear()` to disarm it once the call has its answer.
 * (`AbortSignal.timeout()` stays armed for the whole timeout: one live timer per request sent in the last
 * `ms`, thousands at a high send rate, each firing for nothing.)
 */
export function deadline(ms: number): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("Signal timed out.", "TimeoutError")), ms);
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}

/**
 * Calls a provider and classifies the result: 2xx ok; 408, 425, 429 and 5xx transient (honouring
 * Retry-After); other statuses permanent; a refused connection transient; no answer at all unknown (the
 * request may have been acted on), or transient for idempotent requests. `describeError` refines this
 * where the provider's contract says more.
 */
export async function callProvider(req: ProviderRequest): Promise<ProviderAnswer> {
  const started = performance.now();
  const timeout = deadline(req.timeoutMs);
  const signal = timeout.signal;
  const headers: Record<string, string> = { accept: "application/json", ...req.headers };
  const hasType = Object.keys(headers).some((h) => h.toLowerCase() === "content-type");
  let body: string | undefined;
  if (typeof req.body === "string") {
    body = req.body;
  } else if (req.body instanceof URLSearchParams) {
    if (!hasType) headers["content-type"] = "application/x-www-form-urlencoded";
    body = req.body.toString();
  } else if (req.body !== undefined) {
    if (!hasType) headers["content-type"] = "application/json";
    body = JSON.stringify(req.body);
  }
  const audit = (status: number | null, code: string | null): IntegrationCall => ({
    provider: req.provider,
    operation: req.operation,
    http_status: status,
    duration_ms: Math.round(performance.now() - started),
    error_code: code,
  });
  let res: Response;
  let text: string;
  try {
    res = await (req.fetch ?? fetch)(req.url, { method: req.method, headers, body, signal });
    text = await res.text();
  } catch (error) {
    if (neverSent(error)) {
      return {
        ok: false,
        failure: "transient",
        status: null,
        error: {
          provider: req.provider,
          code: "connection_refused",
          message: `${req.provider} refused the connection`,
        },
        call: audit(null, "connection_refused"),
      };
    }
    const reason = signal.aborted ? `no answer within ${req.timeoutMs} ms` : "connection failed";
    return {
      ok: false,
      failure: req.idempotent ? "transient" : "unknown",
      status: null,
      error: {
        provider: req.provider,
        code: "no_response",
        message: `${req.provider} ${req.operation}: ${reason}`,
      },
      call: audit(null, "no_response"),
    };
  } finally {
    timeout.clear();
  }
  let parsed: unknown = text;
  try {
    if (text !== "") parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (res.ok) {
    return {
      ok: true,
      status: res.status,
      headers: res.headers,
      body: parsed,
      call: audit(res.status, null),
    };
  }

  const reading = req.describeError?.(res.status, parsed, res.headers) ?? {};
  const code = reading.code ?? errorCode(parsed) ?? `http_${res.status}`;
  const detail = errorMessage(parsed);
  const error: RunError = {
    provider: req.provider,
    http_status: res.status,
    code,
    message: reading.message ??
      `${req.provider} ${req.operation} answered ${res.status} ${code}${detail ? `: ${detail}` : ""}`,
  };
  const call = audit(res.status, reading.auditCode === undefined ? code : reading.auditCode);
  if (!(reading.transient ?? retryable(res.status))) {
    return { ok: false, failure: "permanent", status: res.status, error, call };
  }
  const retryAfter = retryAfterSeconds(res.headers.get("retry-after")) ?? reading.retryAfterS ??
    (res.status === 429 ? 1 : undefined);
  return { ok: false, failure: "transient", status: res.status, error, retry_after_s: retryAfter, call };
}

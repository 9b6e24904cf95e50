// A JSON call to a provider's REST API with a timeout, classified the way every adapter needs it.
import type { IntegrationCall, RunError } from "../runs/types.ts";
import { retryAfterSeconds } from "./result.ts";

/** One request to a provider. */
export type ProviderRequest = {
  provider: string;
  /** Name in the integration_calls audit, e.g. `scheduling_links.create`. */
  operation: string;
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  headers?: Record<string, string>;
  /** Sent as JSON, or as a form when it is URLSearchParams. */
  body?: unknown;
  timeoutMs: number;
  /** Whether repeating the request cannot do anything twice (reads): a lost answer is then transient. */
  idempotent?: boolean;
  fetch?: typeof fetch;
};

/** The provider's answer, or why there is none. */
export type ProviderAnswer =
  & { call: IntegrationCall }
  & (
    | { ok: true; status: number; body: unknown }
    | {
      ok: false;
      failure: "transient" | "permanent" | "unknown";
      status: number | null;
      body: unknown;
      error: RunError;
      retry_after_s?: number;
    }
  );

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
  if (typeof body !== "object" || body === null) return "";
  const b = body as Record<string, unknown>;
  const nested = typeof b.error === "object" && b.error !== null
    ? (b.error as Record<string, unknown>).message
    : undefined;
  const text = b.message ?? b.error_description ?? nested ?? b.title;
  return typeof text === "string" ? text.slice(0, 300) : "";
}

/**
 * Calls a provider and classifies the result: 2xx ok; 429 and 5xx transient (honouring Retry-After);
 * other 4xx permanent; no answer at all unknown (the request may have been acted on), or transient
 * for idempotent requests. Adapters refine this where the provider's contract says more.
 */
export async function callProvider(req: ProviderRequest): Promise<ProviderAnswer> {
  const started = performance.now();
  const signal = AbortSignal.timeout(req.timeoutMs);
  const headers: Record<string, string> = { accept: "application/json", ...req.headers };
  let body: BodyInit | undefined;
  if (req.body instanceof URLSearchParams) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = req.body.toString();
  } else if (req.body !== undefined) {
    headers["content-type"] = "application/json";
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
  let parsed: unknown = null;
  try {
    res = await (req.fetch ?? fetch)(req.url, { method: req.method, headers, body, signal });
    const text = await res.text();
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
  } catch {
    const reason = signal.aborted ? `no answer within ${req.timeoutMs} ms` : "connection failed";
    return {
      ok: false,
      failure: req.idempotent ? "transient" : "unknown",
      status: null,
      body: null,
      error: {
        provider: req.provider,
        code: "no_response",
        message: `${req.provider} ${req.operation}: ${reason}`,
      },
      call: audit(null, "no_response"),
    };
  }
  if (res.ok) return { ok: true, status: res.status, body: parsed, call: audit(res.status, null) };
  const code = errorCode(parsed) ?? `http_${res.status}`;
  const error: RunError = {
    provider: req.provider,
    http_status: res.status,
    code,
    message: `${req.provider} ${req.operation} answered ${res.status} ${code}${
      errorMessage(parsed) ? `: ${errorMessage(parsed)}` : ""
    }`,
  };
  const transient = res.status === 429 || res.status >= 500;
  return {
    ok: false,
    failure: transient ? "transient" : "permanent",
    status: res.status,
    body: parsed,
    error,
    retry_after_s: transient ? retryAfterSeconds(res.headers.get("retry-after")) : undefined,
    call: audit(res.status, code),
  };
}

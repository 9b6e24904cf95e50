// HTTP errors that know their own response, and JSON responses.

/** An error a handler throws to answer with a 4xx (or 5xx) and a clear reason. */
export class HttpError extends Error {
  /**
   * @param status HTTP status to answer with.
   * @param code a stable machine-readable code, e.g. `invalid_body`.
   * @param message the reason, for a person.
   * @param details optional field-level details (never secrets).
   */
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "HttpError";
  }

  /** The JSON response for this error. */
  toResponse(): Response {
    return json({ error: { code: this.code, message: this.message, details: this.details } }, this.status);
  }
}

/** A JSON response. */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** Largest request body any function accepts. */
export const MAX_BODY_BYTES = 256 * 1024;

/**
 * Reads the raw body once (signatures are computed over the exact bytes), refusing oversized bodies
 * early with 413.
 */
export async function readRawBody(req: Request, limit = MAX_BODY_BYTES): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > limit) throw new HttpError(413, "body_too_large", `Request body exceeds ${limit} bytes`);
  if (!req.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.byteLength;
    if (size > limit) throw new HttpError(413, "body_too_large", `Request body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Parses a JSON body, answering 400 with the reason when it is not JSON. */
export function parseJson(raw: Uint8Array): unknown {
  if (raw.byteLength === 0) return {};
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch (error) {
    throw new HttpError(
      400,
      "invalid_json",
      `Request body is not valid UTF-8 JSON: ${(error as Error).message}`,
    );
  }
}

/**
 * Wraps a handler: HttpErrors become their responses; anything else is logged (message only, no
 * request data) and answered with a generic 500 that leaks nothing.
 */
export function withErrors(
  handler: (req: Request) => Promise<Response>,
  log: (line: string) => void = console.error,
): (req: Request) => Promise<Response> {
  return async (req) => {
    try {
      return await handler(req);
    } catch (error) {
      if (error instanceof HttpError) return error.toResponse();
      log(`unhandled error: ${error instanceof Error ? `${error.name}: ${error.message}` : "unknown"}`);
      return json({ error: { code: "internal_error", message: "Internal error" } }, 500);
    }
  };
}

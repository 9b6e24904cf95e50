/** Calendly webhook signatures: `Calendly-Webhook-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of "t.body">`. */
import { constantTimeEqualText, hmac, prefixed, toHex } from "./hmac.ts";

/** Calendly leaves the replay window to the receiver; its own sample uses three minutes. */
export const CALENDLY_TOLERANCE_SECONDS = 180;

/** Why a Calendly request must not be trusted. */
export class CalendlySignatureError extends Error {
  constructor(readonly reason: string) {
    super(`Cannot verify Calendly webhook: ${reason}`);
    this.name = "CalendlySignatureError";
  }
}

/**
 * Signs a body as Calendly does (for the simulator and tests).
 * @returns the header value `t=<timestamp>,v1=<hex>`.
 */
export async function signCalendly(
  signingKey: string,
  timestamp: number,
  body: Uint8Array | string,
): Promise<string> {
  if (!signingKey) throw new TypeError("Cannot sign Calendly webhook: the signing key is empty");
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(
      `Cannot sign Calendly webhook: timestamp ${timestamp} is not a Unix time in seconds`,
    );
  }
  const raw = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return `t=${timestamp},v1=${toHex(await hmac("SHA-256", signingKey, prefixed(`${timestamp}.`, raw)))}`;
}

/**
 * Verifies `Calendly-Webhook-Signature` on the raw body: the header is split on `,` then `=`; every
 * `v1` is compared in constant time; the timestamp must be within the tolerance of `now` either way.
 * @returns the signed timestamp (Unix seconds).
 * @throws {CalendlySignatureError} when the key is missing, the header is absent or malformed, the
 *   timestamp is out of the window, or no signature matches.
 */
export async function verifyCalendly(opts: {
  signingKey: string | undefined;
  header: string | null;
  rawBody: Uint8Array;
  now?: number;
  toleranceSeconds?: number;
}): Promise<number> {
  if (!opts.signingKey) throw new CalendlySignatureError("no signing key is configured");
  if (!opts.header) throw new CalendlySignatureError("missing Calendly-Webhook-Signature header");
  let t: string | undefined;
  const signatures: string[] = [];
  for (const part of opts.header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const [name, value] = [part.slice(0, eq).trim(), part.slice(eq + 1).trim()];
    if (name === "t") t = value;
    else if (name === "v1") signatures.push(value.toLowerCase());
  }
  if (!t || !/^\d{1,15}$/.test(t)) throw new CalendlySignatureError("invalid timestamp");
  if (signatures.length === 0) throw new CalendlySignatureError("no v1 signature");
  const timestamp = Number(t);
  const nowSeconds = Math.floor((opts.now ?? Date.now()) / 1000);
  const tolerance = opts.toleranceSeconds ?? CALENDLY_TOLERANCE_SECONDS;
  if (Math.abs(nowSeconds - timestamp) > tolerance) {
    throw new CalendlySignatureError("timestamp outside the tolerance");
  }
  // The header's own text is signed, so "0123" cannot be replayed as "123".
  const expected = toHex(await hmac("SHA-256", opts.signingKey, prefixed(`${t}.`, opts.rawBody)));
  let matched = false;
  for (const s of signatures) if (constantTimeEqualText(s, expected)) matched = true;
  if (!matched) throw new CalendlySignatureError("no matching signature");
  return timestamp;
}

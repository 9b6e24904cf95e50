/** Acuity webhook signatures: `X-Acuity-Signature` = base64 HMAC-SHA256 of the raw form body, keyed by the API key. */
import { constantTimeEqualText, hmac, toBase64 } from "./hmac.ts";

/** Why an Acuity request must not be trusted. */
export class AcuitySignatureError extends Error {
  constructor(readonly reason: string) {
    super(`Cannot verify Acuity webhook: ${reason}`);
    this.name = "AcuitySignatureError";
  }
}

/** Signs a raw body as Acuity does (for the simulator and tests). */
export async function signAcuity(apiKey: string, body: Uint8Array | string): Promise<string> {
  if (!apiKey) throw new TypeError("Cannot sign Acuity webhook: the API key is empty");
  return toBase64(await hmac("SHA-256", apiKey, body));
}

/**
 * Verifies `X-Acuity-Signature` over the exact bytes received. Acuity signs no timestamp, so replays
 * are handled by deduplicating on appointment id and action.
 * @throws {AcuitySignatureError} when the key or header is missing or the signature does not match.
 */
export async function verifyAcuity(opts: {
  apiKey: string | undefined;
  header: string | null;
  rawBody: Uint8Array;
}): Promise<void> {
  if (!opts.apiKey) throw new AcuitySignatureError("no API key is configured");
  if (!opts.header) throw new AcuitySignatureError("missing X-Acuity-Signature header");
  const expected = await signAcuity(opts.apiKey, opts.rawBody);
  if (!constantTimeEqualText(opts.header.trim(), expected)) {
    throw new AcuitySignatureError("no matching signature");
  }
}

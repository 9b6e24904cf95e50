/** Typeform's webhook signature: `Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, raw body)>`. */
import { constantTimeEqual, decodeBase64, encodeBase64, hmacSha256 } from "./hmac.ts";
import { WebhookVerificationError } from "./svix.ts";

const PREFIX = "sha256=";

function bytesOf(body: Uint8Array | string): Uint8Array<ArrayBuffer> {
  return typeof body === "string" ? new TextEncoder().encode(body) : new Uint8Array(body);
}

/**
 * Signs a raw body as Typeform does (tests, simulators).
 * @param secret the webhook's secret; its UTF-8 bytes are the HMAC key.
 * @returns the `Typeform-Signature` header value, `sha256=` + standard base64 (not hex).
 */
export async function signTypeform(secret: string, body: Uint8Array | string): Promise<string> {
  if (typeof secret !== "string" || secret === "") throw new TypeError("Cannot sign: the secret is empty");
  return PREFIX + encodeBase64(await hmacSha256(secret, bytesOf(body)));
}

/**
 * Verifies `Typeform-Signature` over the exact bytes received. Typeform sends no timestamp: replays are
 * handled by deduplicating on the event id.
 * @throws {WebhookVerificationError} when the header is missing, malformed or does not match.
 */
export async function verifyTypeform(
  secret: string,
  header: string | null,
  rawBody: Uint8Array,
): Promise<void> {
  if (typeof secret !== "string" || secret === "") throw new WebhookVerificationError("invalid secret");
  if (!header) throw new WebhookVerificationError("missing headers");
  const given = header.startsWith(PREFIX) ? decodeBase64(header.slice(PREFIX.length).trim()) : null;
  const expected = await hmacSha256(secret, bytesOf(rawBody));
  if (!given || !constantTimeEqual(given, expected)) {
    throw new WebhookVerificationError("no matching signature");
  }
}

/** Typeform's webhook signature: `Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, raw body)>`. */
import { constantTimeEqualText, hmac, toBase64 } from "./hmac.ts";
import { WebhookVerificationError } from "./svix.ts";

const PREFIX = "sha256=";

/**
 * Signs a raw body as Typeform does (tests, simulators).
 * @param secret the webhook's secret; its UTF-8 bytes are the HMAC key.
 * @returns the `Typeform-Signature` header value, `sha256=` + standard base64 (not hex).
 */
export async function signTypeform(secret: string, body: Uint8Array | string): Promise<string> {
  if (typeof secret !== "string" || secret === "") throw new TypeError("Cannot sign: the secret is empty");
  return PREFIX + toBase64(await hmac("SHA-256", secret, body));
}

/**
 * Verifies `Typeform-Signature` over the exact bytes received. Typeform sends no timestamp: replays are
 * handled by deduplicating on the event id.
 * @throws {WebhookVerificationError} when the header is missing or does not match.
 */
export async function verifyTypeform(
  secret: string,
  header: string | null,
  rawBody: Uint8Array,
): Promise<void> {
  if (typeof secret !== "string" || secret === "") throw new WebhookVerificationError("invalid secret");
  if (!header) throw new WebhookVerificationError("missing headers");
  if (!constantTimeEqualText(header.trim(), await signTypeform(secret, rawBody))) {
    throw new WebhookVerificationError("no matching signature");
  }
}

// Meta's X-Hub-Signature-256 scheme (WhatsApp Cloud API webhooks): hex HMAC-SHA256 of the raw body with the app secret.
import { constantTimeEqualText, hmac, toHex } from "./hmac.ts";

/** The `X-Hub-Signature-256` header value for a body: `sha256=<lower-case hex>`. */
export async function signMeta(appSecret: string, rawBody: string | Uint8Array): Promise<string> {
  return `sha256=${toHex(await hmac("SHA-256", appSecret, rawBody))}`;
}

/**
 * Verifies `X-Hub-Signature-256` over the bytes received (re-serialised JSON would not match: Meta
 * escapes unicode). The key is the App Secret, not the access or verify token.
 */
export async function verifyMeta(
  appSecret: string,
  rawBody: Uint8Array,
  header: string | null,
): Promise<boolean> {
  if (!appSecret || !header || !header.startsWith("sha256=")) return false;
  return constantTimeEqualText(await signMeta(appSecret, rawBody), header.trim().toLowerCase());
}

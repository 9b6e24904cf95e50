// HMAC, digests, encodings and constant-time comparison for webhook signature schemes (WebCrypto only).

const encoder = new TextEncoder();

/** Imported HMAC keys per (hash, secret): a hot webhook endpoint does not re-import on every request. */
const keys = new Map<string, Promise<CryptoKey>>();
const KEY_CACHE_LIMIT = 64;

function bytes(data: string | Uint8Array): Uint8Array<ArrayBuffer> {
  return typeof data === "string" ? encoder.encode(data) : new Uint8Array(data);
}

/** HMAC of `data` with the UTF-8 bytes of `secret`. */
export async function hmac(
  hash: "SHA-1" | "SHA-256",
  secret: string,
  data: string | Uint8Array,
): Promise<Uint8Array> {
  const cacheKey = `${hash}\u0000${secret}`;
  let key = keys.get(cacheKey);
  if (!key) {
    if (keys.size >= KEY_CACHE_LIMIT) keys.clear();
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash }, false, ["sign"]);
    keys.set(cacheKey, key);
  }
  return new Uint8Array(await crypto.subtle.sign("HMAC", await key, bytes(data)));
}

/** SHA-256 of `data`. */
export async function sha256(data: string | Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes(data)));
}

/** Lower-case hex. */
export function toHex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Standard base64 with padding. */
export function toBase64(data: Uint8Array): string {
  let binary = "";
  for (const b of data) binary += String.fromCharCode(b);
  return btoa(binary);
}

/**
 * Compares two strings in time independent of where they differ (signatures are ASCII); strings of
 * unequal length never match.
 */
export function constantTimeEqualText(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  if (x.length !== y.length) return false;
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

/** Joins `prefix` and the raw body into one buffer, for schemes that sign `<something>.<body>`. */
export function prefixed(prefix: string, body: Uint8Array): Uint8Array {
  const head = encoder.encode(prefix);
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

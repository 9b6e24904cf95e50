/** The byte-level pieces of webhook signature schemes: HMAC-SHA256, base64, constant-time comparison. */

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Decodes standard base64 (padding optional); returns null if `s` is not valid base64. */
export function decodeBase64(s: string): Uint8Array<ArrayBuffer> | null {
  if (!BASE64.test(s) || s.length % 4 === 1) return null;
  let binary: string;
  try {
    binary = atob(s);
  } catch {
    return null;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Encodes bytes as standard base64 with padding. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Compares two byte arrays in time independent of where they differ; arrays of unequal length never match. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** HMAC-SHA256 of `data` with the UTF-8 bytes of `secret` as the key (Typeform, Meta, Calendly...). */
export async function hmacSha256(secret: string, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
}

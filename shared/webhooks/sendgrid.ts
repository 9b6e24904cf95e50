// SendGrid's signed Event Webhook: ECDSA P-256 / SHA-256 over timestamp + raw body, verified with the
// account's public key (base64 DER SubjectPublicKeyInfo); signatures are DER, WebCrypto wants raw r‖s.
import { toBase64 } from "./hmac.ts";

/** The headers carrying SendGrid's signature and its timestamp. */
export const SENDGRID_SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature";
export const SENDGRID_TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp";

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function fromBase64(s: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return null;
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** Reads one DER INTEGER at `at`; returns its unsigned big-endian bytes and where the next element starts. */
function derInteger(der: Uint8Array, at: number): { value: Uint8Array; next: number } | null {
  if (der[at] !== 0x02) return null;
  const length = der[at + 1];
  if (length === undefined || length > 33 || at + 2 + length > der.length) return null;
  let value = der.subarray(at + 2, at + 2 + length);
  while (value.length > 1 && value[0] === 0) value = value.subarray(1);
  return value.length > 32 ? null : { value, next: at + 2 + length };
}

/**
 * Converts an ASN.1 DER ECDSA signature (`SEQUENCE { INTEGER r, INTEGER s }`) to the raw 64-byte r‖s
 * WebCrypto verifies, left-padding each half to 32 bytes. Null when it is not a P-256 DER signature.
 */
export function derToRawSignature(der: Uint8Array): Uint8Array<ArrayBuffer> | null {
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2) return null;
  const r = derInteger(der, 2);
  const s = r && derInteger(der, r.next);
  if (!r || !s || s.next !== der.length) return null;
  const raw = new Uint8Array(64);
  raw.set(r.value, 32 - r.value.length);
  raw.set(s.value, 64 - s.value.length);
  return raw;
}

/** Converts a raw r‖s signature to DER (what SendGrid sends; the simulator signs with it). */
export function rawToDerSignature(raw: Uint8Array): Uint8Array {
  if (raw.length !== 64) {
    throw new RangeError(`Cannot encode signature: expected 64 bytes, got ${raw.length}`);
  }
  const integer = (half: Uint8Array) => {
    let i = 0;
    while (i < half.length - 1 && half[i] === 0) i++;
    const trimmed = half.subarray(i);
    const body = trimmed[0] & 0x80 ? [0, ...trimmed] : [...trimmed];
    return [0x02, body.length, ...body];
  };
  const content = [...integer(raw.subarray(0, 32)), ...integer(raw.subarray(32))];
  return new Uint8Array([0x30, content.length, ...content]);
}

function publicKey(base64Der: string): Promise<CryptoKey> {
  let key = keys.get(base64Der);
  if (!key) {
    const der = fromBase64(base64Der);
    key = der
      ? crypto.subtle.importKey("spki", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"])
      : Promise.reject(new TypeError("the public key is not base64"));
    if (keys.size >= 64) keys.clear();
    keys.set(base64Der, key);
    key.catch(() => keys.delete(base64Der));
  }
  return key;
}

function signedBytes(timestamp: string, rawBody: Uint8Array): Uint8Array<ArrayBuffer> {
  const prefix = encoder.encode(timestamp);
  const data = new Uint8Array(prefix.length + rawBody.length);
  data.set(prefix);
  data.set(rawBody, prefix.length);
  return data;
}

/**
 * Verifies a SendGrid Event Webhook signature over `timestamp + rawBody` (the exact bytes, trailing CRLF
 * included). False for a wrong key, body, timestamp or signature, and for malformed keys or signatures.
 */
export async function verifySendGrid(
  publicKeyBase64: string,
  signatureBase64: string,
  timestamp: string,
  rawBody: Uint8Array,
): Promise<boolean> {
  const der = fromBase64(signatureBase64);
  const raw = der && derToRawSignature(der);
  if (!raw) return false;
  let key: CryptoKey;
  try {
    key = await publicKey(publicKeyBase64);
  } catch {
    return false;
  }
  return await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" },
    key,
    raw,
    signedBytes(timestamp, rawBody),
  );
}

/** Signs like SendGrid (the simulator's own key pair): base64 DER over `timestamp + rawBody`. */
export async function signSendGrid(
  privateKey: CryptoKey,
  timestamp: string,
  rawBody: Uint8Array,
): Promise<string> {
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, privateKey, signedBytes(timestamp, rawBody)),
  );
  return toBase64(rawToDerSignature(raw));
}

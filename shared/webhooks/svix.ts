/** Svix / Standard Webhooks signing and verification (the scheme Resend uses to sign its webhooks). */

/** Reasons a webhook request can fail verification; stable strings callers may log or branch on. */
export type WebhookVerificationReason =
  | "missing headers"
  | "invalid timestamp"
  | "timestamp too old"
  | "timestamp too new"
  | "no matching signature"
  | "invalid secret";

/**
 * Thrown by {@link verifySvix} when a request must not be trusted.
 * Callers catch it and answer 400/401; `reason` says why, without echoing secrets or signatures.
 */
export class WebhookVerificationError extends Error {
  /** Why verification failed. */
  readonly reason: WebhookVerificationReason;

  /** @param reason Why verification failed; it is also used as the message. */
  constructor(reason: WebhookVerificationReason) {
    super(`Cannot verify webhook: ${reason}`);
    this.name = "WebhookVerificationError";
    this.reason = reason;
  }
}

const SECRET_PREFIX = "whsec_";
const DEFAULT_TOLERANCE_SECONDS = 300;
const KEY_CACHE_LIMIT = 32;
const encoder = new TextEncoder();
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Imported HMAC keys, per secret string, so a hot webhook endpoint does not re-import on every request. */
const keyCache = new Map<string, Promise<CryptoKey>>();

/** Decodes standard base64 (padding optional); returns null if `s` is not valid base64. */
function decodeBase64(s: string): Uint8Array<ArrayBuffer> | null {
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
function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Returns the HMAC key bytes of a `whsec_...` secret, or null if the secret is empty or not base64. */
function secretKeyBytes(secret: unknown): Uint8Array<ArrayBuffer> | null {
  if (typeof secret !== "string") return null;
  const body = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const bytes = decodeBase64(body);
  return bytes && bytes.length > 0 ? bytes : null;
}

/** Returns the (cached) WebCrypto HMAC-SHA256 key for already-validated key bytes. */
function hmacKey(secret: string, keyBytes: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    key = crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keyCache.set(secret, key);
  }
  return key;
}

/** Computes the raw HMAC-SHA256 bytes over `${msgId}.${timestamp}.${body}`. */
async function computeSignature(
  secret: string,
  keyBytes: Uint8Array<ArrayBuffer>,
  msgId: string,
  timestamp: string,
  body: Uint8Array,
): Promise<Uint8Array> {
  const prefix = encoder.encode(`${msgId}.${timestamp}.`);
  const content = new Uint8Array(prefix.length + body.length);
  content.set(prefix, 0);
  content.set(body, prefix.length);
  const key = await hmacKey(secret, keyBytes);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, content));
}

/** Compares two byte arrays in time independent of where they differ; arrays of unequal length never match. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Signs a payload the way Svix does, e.g. to build test requests or a provider simulator.
 *
 * @param secret `whsec_<base64>` (the prefix is optional); the base64-decoded bytes are the HMAC key.
 * @param msgId The message id sent as `svix-id`.
 * @param timestamp Unix time in seconds, sent as `svix-timestamp`.
 * @param payload The raw body; a string is encoded as UTF-8.
 * @returns `"v1,<standard base64 HMAC-SHA256>"`, one entry of a `svix-signature` header.
 * @throws {TypeError} If the secret is empty or not base64, or msgId is not a non-empty string.
 * @throws {RangeError} If timestamp is not a non-negative safe integer.
 */
export async function signSvix(
  secret: string,
  msgId: string,
  timestamp: number,
  payload: string | Uint8Array,
): Promise<string> {
  const keyBytes = secretKeyBytes(secret);
  if (!keyBytes) throw new TypeError("Cannot sign webhook: the secret is empty or not base64");
  if (typeof msgId !== "string" || msgId === "") {
    throw new TypeError("Cannot sign webhook: msgId must be a non-empty string");
  }
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`Cannot sign webhook: timestamp ${timestamp} is not a Unix time in seconds`);
  }
  const body = typeof payload === "string" ? encoder.encode(payload) : payload;
  const mac = await computeSignature(secret, keyBytes, msgId, String(timestamp), body);
  return `v1,${encodeBase64(mac)}`;
}

/** Options of {@link verifySvix}. */
export type VerifySvixOptions = {
  /** The endpoint's `whsec_...` signing secret. */
  secret: string;
  /** The request headers (`svix-*`, or the unbranded `webhook-*`). */
  headers: Headers;
  /** The request body exactly as received, before any decoding or JSON parsing. */
  rawBody: Uint8Array;
  /** The current time in milliseconds since the epoch; defaults to `Date.now()`. */
  now?: number;
  /** How far the timestamp may be from `now`, in either direction; defaults to 300 seconds. */
  toleranceSeconds?: number;
};

/** Reads the id/timestamp/signature triple, preferring `svix-*` and falling back to `webhook-*`. */
function readHeaders(headers: Headers): { id: string; timestamp: string; signature: string } | null {
  for (const brand of ["svix", "webhook"]) {
    const id = headers.get(`${brand}-id`);
    const timestamp = headers.get(`${brand}-timestamp`);
    const signature = headers.get(`${brand}-signature`);
    if (id && timestamp && signature) return { id, timestamp, signature };
  }
  return null;
}

/**
 * Verifies a Svix-signed webhook request (Resend's webhooks) against the raw body.
 *
 * Accepts if any `v1` entry of the space-separated signature header matches (several appear during
 * secret rotation); entries of other versions are ignored. The timestamp must be within the tolerance
 * of `now` in both directions, which limits replays.
 *
 * @returns The message id (deduplicate deliveries on it) and the timestamp in Unix seconds.
 * @throws {WebhookVerificationError} If the request must not be trusted, including when the secret
 *   is missing, empty or not base64 (unsigned input is never accepted).
 * @throws {RangeError} If `now` or `toleranceSeconds` is not a finite non-negative number.
 */
export async function verifySvix(opts: VerifySvixOptions): Promise<{ id: string; timestamp: number }> {
  const now = opts.now ?? Date.now();
  const tolerance = opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isFinite(now)) throw new RangeError(`Cannot verify webhook: now ${now} is not a time`);
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new RangeError(
      `Cannot verify webhook: toleranceSeconds ${tolerance} must be a non-negative number`,
    );
  }

  const keyBytes = secretKeyBytes(opts.secret);
  if (!keyBytes) throw new WebhookVerificationError("invalid secret");

  const found = readHeaders(opts.headers);
  if (!found) throw new WebhookVerificationError("missing headers");

  if (!/^\d{1,15}$/.test(found.timestamp)) throw new WebhookVerificationError("invalid timestamp");
  const timestamp = Number(found.timestamp);
  const nowSeconds = Math.floor(now / 1000);
  if (nowSeconds - timestamp > tolerance) throw new WebhookVerificationError("timestamp too old");
  if (timestamp - nowSeconds > tolerance) throw new WebhookVerificationError("timestamp too new");

  // Sign the parsed number (as Svix does), not the header text, so `0123` and `123` cannot differ.
  const expected = await computeSignature(opts.secret, keyBytes, found.id, String(timestamp), opts.rawBody);
  let matched = false;
  for (const entry of found.signature.split(" ")) {
    const comma = entry.indexOf(",");
    if (comma < 0 || entry.slice(0, comma) !== "v1") continue;
    const text = entry.slice(comma + 1);
    const given = decodeBase64(text);
    // Only the canonical encoding counts (the official libraries compare the base64 text): a flipped
    // padding bit decodes to the same bytes but is not the signature Svix sent.
    // Keep checking the remaining entries even after a match, so timing does not reveal which one matched.
    if (given && constantTimeEqual(given, expected) && encodeBase64(given) === text) matched = true;
  }
  if (!matched) throw new WebhookVerificationError("no matching signature");
  return { id: found.id, timestamp };
}

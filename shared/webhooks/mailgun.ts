// Mailgun's webhook signature: hex HMAC-SHA256 of timestamp + token with the HTTP webhook signing key.
import { constantTimeEqualText, hmac, toHex } from "./hmac.ts";

/** Mailgun's `signature` object, read from the JSON body of a webhook. */
export type MailgunSignature = { timestamp: string; token: string; signature: string };

/** Computes the signature Mailgun sends for a timestamp and token (tests, the simulator). */
export async function signMailgun(signingKey: string, timestamp: string, token: string): Promise<string> {
  if (typeof signingKey !== "string" || signingKey === "") {
    throw new TypeError("Cannot sign Mailgun webhook: the signing key is empty");
  }
  return toHex(await hmac("SHA-256", signingKey, `${timestamp}${token}`));
}

/** Why a Mailgun webhook was refused. */
export type MailgunRejection =
  | "invalid timestamp"
  | "timestamp too old"
  | "timestamp too new"
  | "bad signature";

/**
 * Verifies a Mailgun webhook signature and its timestamp (within `toleranceSeconds` of `now` either way).
 * Token reuse (replays inside the window) is the caller's check: it needs shared state.
 * @returns null when valid, else why not.
 */
export async function verifyMailgun(
  signingKey: string,
  sig: MailgunSignature,
  now = Date.now(),
  toleranceSeconds = 300,
): Promise<MailgunRejection | null> {
  if (!/^\d{1,15}$/.test(sig.timestamp)) return "invalid timestamp";
  const age = now / 1000 - Number(sig.timestamp);
  if (age > toleranceSeconds) return "timestamp too old";
  if (-age > toleranceSeconds) return "timestamp too new";
  const expected = await signMailgun(signingKey, sig.timestamp, sig.token);
  return constantTimeEqualText(expected, sig.signature.toLowerCase()) ? null : "bad signature";
}

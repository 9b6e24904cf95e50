// Signed one-click unsubscribe tokens (jose, HS256): they name the run whose email carried them, so the
// URL holds no address, and cannot be forged or pointed at another supplier.
import { jwtVerify, SignJWT } from "jose";
import { hmac } from "../../webhooks/hmac.ts";

const TOKEN = { issuer: "journeys-email", audience: "email-unsubscribe" } as const;

let derived: { secret: string; key: Promise<CryptoKey> } | null = null;

/**
 * The signing key, derived from the Vault secret `functions_invoke_secret` (HMAC with a purpose label),
 * so no second secret needs provisioning and an unsubscribe token can never pass as an invoke token.
 * Derived once per secret value (every email signs a token; a rotated secret derives a new key).
 */
export function unsubscribeKey(invokeSecret: string): Promise<CryptoKey> {
  if (derived?.secret !== invokeSecret) {
    const key = hmac("SHA-256", invokeSecret, "email-unsubscribe-v1").then((raw) =>
      crypto.subtle.importKey("raw", new Uint8Array(raw), { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
        "verify",
      ])
    );
    key.catch(() => (derived = null));
    derived = { secret: invokeSecret, key };
  }
  return derived.key;
}

/**
 * Signs the token for the email of `runId`. No expiry: RFC 8058 links must keep working. No `iat`
 * either: the token is part of the email, and a replay with the run's idempotency key must send the
 * same bytes (Resend answers 409 invalid_idempotent_request to a changed body).
 */
export async function signUnsubscribeToken(key: CryptoKey, supplierId: string, runId: number) {
  return await new SignJWT({ sup: supplierId })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(String(runId))
    .setIssuer(TOKEN.issuer)
    .setAudience(TOKEN.audience)
    .sign(key);
}

/** The run and supplier a token names, or null when it is not a valid token of ours. */
export async function verifyUnsubscribeToken(
  key: CryptoKey,
  token: string,
): Promise<{ supplierId: string; runId: number } | null> {
  try {
    const { payload } = await jwtVerify(token, key, { ...TOKEN, algorithms: ["HS256"] });
    const runId = Number(payload.sub);
    if (!Number.isSafeInteger(runId) || runId <= 0 || typeof payload.sup !== "string") return null;
    return { supplierId: payload.sup, runId };
  } catch {
    return null;
  }
}

/** The one-click unsubscribe URL of a token. */
export function unsubscribeUrl(functionsUrl: string, token: string): string {
  return `${functionsUrl}/email-unsubscribe?token=${encodeURIComponent(token)}`;
}

// The signed OAuth `state` of the Google connect flow: who asked, for which supplier, valid 10 minutes.
import { jwtVerify, SignJWT } from "jose";

const STATE = { issuer: "meeting-setup", audience: "google-oauth-callback" } as const;

/** What the state carries through Google's consent screen. */
export type OAuthState = { supplier_id: string; user_id: string };

/** Signs a state with the Vault secret `oauth_state_secret` (HS256, 10 minutes, a random jti). */
export function signOAuthState(state: OAuthState, secret: string): Promise<string> {
  return new SignJWT({ supplier_id: state.supplier_id })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(state.user_id)
    .setIssuer(STATE.issuer)
    .setAudience(STATE.audience)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(secret));
}

/**
 * Verifies a state that came back from Google: signature, issuer, audience and expiry. A forged or
 * stale state is how a CSRF on the callback would show, so anything wrong answers null.
 */
export async function verifyOAuthState(token: string, secret: string): Promise<OAuthState | null> {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      ...STATE,
      algorithms: ["HS256"],
    });
    if (typeof payload.supplier_id !== "string" || typeof payload.sub !== "string") return null;
    return { supplier_id: payload.supplier_id, user_id: payload.sub };
  } catch {
    return null;
  }
}

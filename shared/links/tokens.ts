// Signed, expiring tokens for the links in couples' messages (HS256 JWTs): they name rows by random ids
// only, never personal data; a tampered, foreign or expired token is a clear 4xx.
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { HttpError } from "../http/errors.ts";
import { UUID_PATTERN } from "../http/validate.ts";

/** What a link token is for; a token made for one purpose is refused for any other. */
export type LinkPurpose = "form" | "review_click" | "review_rating" | "referral" | "referral_signup";

/** A token's claims: `sub` names the row (a form request, review request, code...). */
export type LinkClaims = { sub: string } & Record<string, string | number>;

const ISSUER = "journey-links";
/** What `sub` names for each purpose: a row id, or (referral) the referral code. */
const SUBJECTS: Record<LinkPurpose, RegExp> = {
  form: UUID_PATTERN,
  review_click: UUID_PATTERN,
  review_rating: UUID_PATTERN,
  referral: /^[0-9A-Z]{12}$/,
  referral_signup: UUID_PATTERN,
};
const MAX_TOKEN_LENGTH = 2048;
const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

function keyOf(secret: string): Uint8Array {
  if (typeof secret !== "string" || secret.length < 32) {
    throw new TypeError("Cannot sign links: the links signing secret must have at least 32 characters");
  }
  return new TextEncoder().encode(secret);
}

/**
 * Signs a link token. The same inputs give the same token, so a retried send (same idempotency key)
 * carries the same link and the provider sees the same payload.
 */
export async function signLinkToken(
  secret: string,
  purpose: LinkPurpose,
  claims: LinkClaims,
  issuedAt: Date,
  expiresAt: Date,
): Promise<string> {
  const { sub, ...rest } = claims;
  return await new SignJWT(rest)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(ISSUER)
    .setAudience(purpose)
    .setSubject(sub)
    .setIssuedAt(seconds(issuedAt))
    .setExpirationTime(seconds(expiresAt))
    .sign(keyOf(secret));
}

/**
 * Verifies a link token for `purpose`: malformed, tampered or made for another purpose → 400
 * `invalid_link`; expired → 410 `link_expired`.
 */
export async function verifyLinkToken(
  secret: string,
  purpose: LinkPurpose,
  token: unknown,
  now: Date = new Date(),
): Promise<LinkClaims> {
  if (typeof token !== "string" || token === "" || token.length > MAX_TOKEN_LENGTH) {
    throw new HttpError(400, "invalid_link", "The link is missing its token or the token is malformed");
  }
  try {
    const { payload } = await jwtVerify(token, keyOf(secret), {
      issuer: ISSUER,
      audience: purpose,
      algorithms: ["HS256"],
      currentDate: now,
      requiredClaims: ["sub", "exp"],
    });
    // Only we sign tokens, but a subject of the wrong form must be a 400 (not a failed cast, a 500).
    if (typeof payload.sub !== "string" || !SUBJECTS[purpose].test(payload.sub)) {
      throw new HttpError(400, "invalid_link", "The link's token does not name a valid record");
    }
    return payload as LinkClaims;
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) {
      throw new HttpError(410, "link_expired", "This link has expired");
    }
    throw new HttpError(
      400,
      "invalid_link",
      "The link is not valid (it was changed or is not for this page)",
    );
  }
}

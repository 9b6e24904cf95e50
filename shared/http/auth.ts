// Verifies the credential that database kicks (pg_net) carry when they invoke a module function.
import { errors as joseErrors, jwtVerify } from "jose";
import { HttpError } from "./errors.ts";

/** Issuer and audience of the tokens `public.invoke_token()` mints in SQL. */
export const INVOKE_TOKEN = { issuer: "journeys-db", audience: "module-functions" } as const;

/**
 * Requires `Authorization: Bearer <jwt>` signed (HS256) with the Vault secret
 * `functions_invoke_secret`, with the right issuer and audience, not expired. Anything else, and an empty
 * secret (none configured), is a 401.
 */
export async function requireInvokeToken(req: Request, secret: string): Promise<void> {
  const header = req.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw new HttpError(401, "unauthorized", "Missing bearer token");
  if (typeof secret !== "string" || secret === "") {
    throw new HttpError(
      401,
      "unauthorized",
      "Cannot verify the invoke token: no invoke secret is configured",
    );
  }
  try {
    await jwtVerify(match[1], new TextEncoder().encode(secret), {
      ...INVOKE_TOKEN,
      algorithms: ["HS256"],
    });
  } catch (error) {
    const reason = error instanceof joseErrors.JWTExpired
      ? "token expired"
      : error instanceof joseErrors.JWTClaimValidationFailed
      ? `claim "${error.claim}" rejected`
      : "invalid token";
    throw new HttpError(401, "unauthorized", `Invalid invoke token: ${reason}`);
  }
}

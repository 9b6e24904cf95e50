// The signed-in user of a request, and running SQL as that user so Row Level Security applies.
import { decodeJwt } from "jose";
import type { Sql } from "../db/client.ts";
import { HttpError } from "./errors.ts";
import { UUID_PATTERN } from "./validate.ts";

/** Claims of a Supabase user JWT. */
export type UserClaims = { sub: string; role: string; [claim: string]: unknown };

/**
 * The user's claims. The gateway (verify_jwt = true) has already checked the signature; this only
 * refuses tokens that are not a signed-in user's.
 */
export function userClaims(req: Request): UserClaims {
  const token = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "")?.[1];
  if (!token) throw new HttpError(401, "unauthorized", "Missing bearer token");
  let claims;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new HttpError(401, "unauthorized", "Malformed bearer token");
  }
  // Supabase user ids are uuids; any other subject would fail the casts behind auth.uid() (a 500).
  if (claims.role !== "authenticated" || typeof claims.sub !== "string" || !UUID_PATTERN.test(claims.sub)) {
    throw new HttpError(403, "forbidden", "A signed-in user is required");
  }
  return claims as UserClaims;
}

/** Runs `work` in a transaction as role `authenticated` with the user's claims, as PostgREST does. */
export function asUser<T>(sql: Sql, claims: UserClaims, work: (tx: Sql) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true),
      set_config('role', 'authenticated', true)`;
    return work(tx as unknown as Sql);
  }) as Promise<T>;
}

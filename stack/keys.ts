/** The local anon and service_role API keys: HS256 JWTs signed with the local jwtSecret, as `supabase start` issues. */
import { SignJWT } from "jose";
import { jwtSecret } from "./config.ts";

/** The two API keys the local stack hands to functions and tests. */
export interface LocalKeys {
  /** JWT with `role: "anon"`. */
  anonKey: string;
  /** JWT with `role: "service_role"`; bypasses RLS. */
  serviceRoleKey: string;
}

// Fixed claims (no iat) make the keys identical on every machine and run, like Supabase's demo keys.
const expiresAt = 1983812996;
let cached: Promise<LocalKeys> | undefined;

/** Signs one local key for `role`. */
export async function signLocalKey(role: string, secret = jwtSecret): Promise<string> {
  return await new SignJWT({ iss: "supabase-demo", role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setExpirationTime(expiresAt)
    .sign(new TextEncoder().encode(secret));
}

/** The local anon and service_role keys (computed once per process). */
export function localKeys(): Promise<LocalKeys> {
  cached ??= Promise.all([signLocalKey("anon"), signLocalKey("service_role")])
    .then(([anonKey, serviceRoleKey]) => ({ anonKey, serviceRoleKey }));
  return cached;
}

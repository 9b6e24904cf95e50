// Helpers for end-to-end tests against the running local stack: clients, tokens, polling, simulator.
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { SignJWT } from "jose";
import postgres from "postgres";
import { dbUrl, gatewayUrl, jwtSecret, simulatorUrl } from "../../stack/config.ts";
import { localKeys } from "../../stack/keys.ts";
import type { Sql } from "./db.ts";

/** A client on the stack's main database (service level: the tests' own view of the state). */
export function stackDb(): Sql {
  return postgres(dbUrl(), { max: 4, onnotice: () => {}, idle_timeout: 5 });
}

/** supabase-js for the local gateway, as app code would create it, optionally as a signed-in user. */
export async function supabase(userJwt?: string): Promise<SupabaseClient> {
  const { anonKey } = await localKeys();
  return createClient(gatewayUrl, anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    global: userJwt ? { headers: { Authorization: `Bearer ${userJwt}` } } : {},
  });
}

/** A Supabase user JWT for `userId`, signed with the local JWT secret. */
export async function userJwt(userId: string): Promise<string> {
  return await new SignJWT({ sub: userId, role: "authenticated", aud: "authenticated" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(jwtSecret));
}

/** The credential the database gives module functions (public.invoke_token()). */
export async function invokeToken(sql: Sql): Promise<string> {
  const [row] = await sql<{ t: string }[]>`select public.invoke_token() as t`;
  return row.t;
}

/** Polls `probe` until it returns a value other than undefined/false, or fails naming `what`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Calls the simulator's control API. */
export async function sim<T = unknown>(
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
  const res = await fetch(`${simulatorUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: init.body === undefined ? {} : { "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`simulator ${path} answered ${res.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A random Svix secret (`whsec_` + base64 of 24 random bytes). */
export function newSvixSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

// Credentials of the meeting module from Vault (a supplier integration's JSON secret, our Google OAuth
// client), and what a refused Google credential means for the integration and the run.
import type { Sql } from "../../db/client.ts";
import { heldAttempt, rejectCredentials } from "../../providers/credentials.ts";
import { type RateBucket, rateLimitedAttempt } from "../../providers/rate.ts";
import { failureOutcome } from "../../providers/result.ts";
import type { CalendarAnswer, GoogleClient } from "../../providers/scheduling/google_calendar.ts";
import type { Attempt } from "../../runs/types.ts";
import type { SecretStore } from "../../secrets.ts";

/** The reason a run gives when the vendor must connect Google Calendar again. */
export const RECONNECT_GOOGLE = "reconnect Google Calendar";

/**
 * Reads a JSON credential from Vault by id; undefined when it is missing or not a JSON object. `version`
 * is when the integration last changed: a vendor who just reconnected is not served their old token.
 */
export async function vaultJson(
  secrets: SecretStore,
  id: string | null,
  version?: string,
): Promise<Record<string, unknown> | undefined> {
  if (!id) return undefined;
  try {
    const value = JSON.parse(await secrets.byId(id, version));
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Our Google OAuth client: the Vault secret `google_oauth_client` (`{"client_id", "client_secret"}`). */
export async function googleClientFromVault(
  secrets: SecretStore,
  endpoints: Omit<GoogleClient, "clientId" | "clientSecret" | "fetch">,
  fetchFn?: typeof fetch,
): Promise<GoogleClient | undefined> {
  let parsed: { client_id?: unknown; client_secret?: unknown };
  try {
    parsed = JSON.parse(await secrets.byName("google_oauth_client"));
  } catch {
    return undefined;
  }
  if (typeof parsed?.client_id !== "string" || typeof parsed?.client_secret !== "string") return undefined;
  return { ...endpoints, clientId: parsed.client_id, clientSecret: parsed.client_secret, fetch: fetchFn };
}

/** The permanent attempt of a run that needs Google while the vendor's Google Calendar is not connected. */
export function googleNotConnected(calls: Attempt["calls"] = []): Attempt {
  return {
    outcome: {
      kind: "permanent",
      error: {
        code: "google_disconnected",
        message: `Google Calendar is not connected: ${RECONNECT_GOOGLE}`,
      },
    },
    calls,
  };
}

/**
 * The attempt of a run whose Google call failed. `invalid_grant` (the vendor revoked access, or the
 * refresh token expired) marks the integration disconnected (unless it changed since `version`, when the
 * token was read) and holds the run until they reconnect; anything else is classified as Google answered.
 * A usage limit (429, 403 rate reasons) puts the account's `bucket` in debt and defers the run.
 * Google writes are keyed by our event ids, so replaying one whose answer was lost is safe.
 */
export async function googleFailure(
  deps: { sql: Sql; now?: () => Date },
  supplierId: string,
  result: CalendarAnswer,
  version: string | null | undefined,
  bucket: RateBucket,
): Promise<Attempt> {
  const sql = deps.sql;
  const answer = result.answer as Extract<CalendarAnswer["answer"], { ok: false }>;
  if (answer.error.code === "invalid_grant") {
    // Only the integration whose token was refused: a vendor who reconnected meanwhile stays connected.
    const [row] = await sql<{ id: string }[]>`
      select id::text from public.supplier_integrations
      where supplier_id = ${supplierId}::uuid and provider = 'google_calendar'
        and (${version ?? null}::text is null or updated_at::text = ${version ?? null}::text)`;
    if (!row) {
      return { outcome: { kind: "transient", error: answer.error, retry_after_s: 1 }, calls: result.calls };
    }
    const reason = `Google refused the refresh token (invalid_grant): ${RECONNECT_GOOGLE}`;
    await rejectCredentials(sql, row.id, { ...answer.error, message: reason });
    return heldAttempt([{ id: row.id, provider: "google_calendar", status_reason: reason }], result.calls);
  }
  return await rateLimitedAttempt(deps, [bucket], answer, result.calls) ??
    { outcome: failureOutcome(answer, true), calls: result.calls };
}

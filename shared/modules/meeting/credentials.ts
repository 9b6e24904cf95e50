// Credentials of the meeting module from Vault: a supplier integration's JSON secret, and our Google OAuth client.
import type { GoogleClient } from "../../providers/scheduling/google_calendar.ts";
import type { SecretStore } from "../../secrets.ts";

/** Reads a JSON credential from Vault by id; undefined when it is missing or not a JSON object. */
export async function vaultJson(
  secrets: SecretStore,
  id: string | null,
): Promise<Record<string, unknown> | undefined> {
  if (!id) return undefined;
  try {
    const value = JSON.parse(await secrets.byId(id));
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

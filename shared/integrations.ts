// A supplier's connected integration with a provider: its settings and its Vault credentials (JSON).
import type { Sql } from "./db/client.ts";
import type { SecretStore } from "./secrets.ts";

/** An integration's settings and decrypted credentials. */
export type Integration = { settings: Record<string, unknown>; secret: Record<string, unknown> };

/**
 * The supplier's integration with `provider` whatever its health (a provider's webhooks still verify while
 * its API key is rejected), or null when there is none or no readable secret.
 */
export async function connectedIntegration(
  sql: Sql,
  secrets: SecretStore,
  supplierId: string,
  provider: string,
): Promise<Integration | null> {
  const [row] = await sql<
    { settings: Record<string, unknown>; secret_id: string | null; updated_at: string }[]
  >`
    select settings, secret_id::text as secret_id, updated_at::text as updated_at from public.supplier_integrations
    where supplier_id = ${supplierId}::uuid and provider = ${provider}`;
  if (!row?.secret_id) return null;
  try {
    const secret = JSON.parse(await secrets.byId(row.secret_id, row.updated_at));
    return secret && typeof secret === "object" ? { settings: row.settings, secret } : null;
  } catch {
    return null;
  }
}

/** A string credential of an integration, or undefined. */
export function credential(integration: Integration | null, name: string): string | undefined {
  const value = integration?.secret[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

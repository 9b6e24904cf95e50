// A supplier's messaging integration for the webhook receivers: its settings and its Vault secret JSON.
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError } from "../../http/errors.ts";
import type { SecretStore } from "../../secrets.ts";

/** Settings and decrypted credentials of one integration; empty objects when missing or unreadable. */
export type Integration = { settings: Record<string, unknown>; secret: Record<string, unknown> };

/** Loads a supplier's integration with `provider` (e.g. `twilio`, `whatsapp`). */
export async function loadIntegration(
  sql: Sql,
  secrets: SecretStore,
  supplierId: string,
  provider: string,
): Promise<Integration> {
  const [row] = await sql<
    { settings: Record<string, unknown>; secret_id: string | null; updated_at: string }[]
  >`
    select settings, secret_id::text as secret_id, updated_at::text as updated_at from public.supplier_integrations
    where supplier_id = ${supplierId}::uuid and provider = ${provider}`;
  let secret: Record<string, unknown> = {};
  if (row?.secret_id) {
    try {
      const parsed = JSON.parse(await secrets.byId(row.secret_id, row.updated_at));
      if (typeof parsed === "object" && parsed !== null) secret = parsed;
    } catch {
      secret = {};
    }
  }
  return { settings: row?.settings ?? {}, secret };
}

const uuid = z.uuid();

/** The `supplier` query parameter of a webhook URL; 400 when it is not a uuid. */
export function supplierParam(query: URLSearchParams): string {
  const parsed = uuid.safeParse(query.get("supplier"));
  if (!parsed.success) {
    throw new HttpError(400, "invalid_supplier", "Query parameter supplier must be the supplier's uuid");
  }
  return parsed.data;
}

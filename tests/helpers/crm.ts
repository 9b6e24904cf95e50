// Fixtures for the CRM sync: a supplier's Tave and webhooks integrations, and reading its delivery log.
import type { Sql } from "./db.ts";

/** Tave credentials of one simulated studio. */
export type TaveStudio = { studio_id: string; secret_key: string; api_key: string };

/** A fresh studio's credentials (unique per test, so studios never share contacts). */
export function newTaveStudio(): TaveStudio {
  const id = crypto.randomUUID().replaceAll("-", "");
  return { studio_id: `studio${id.slice(0, 12)}`, secret_key: `sk_${id}`, api_key: `key_${id}` };
}

/** Stores an integration's credentials in Vault and connects it (provider `tave` or `crm_webhooks`). */
export async function connectIntegration(
  sql: Sql,
  supplierId: string,
  provider: "tave" | "crm_webhooks",
  settings: Record<string, unknown>,
  secret: Record<string, unknown>,
): Promise<void> {
  await sql`
    insert into public.supplier_integrations (supplier_id, provider, settings, secret_id)
    values (${supplierId}::uuid, ${provider}, ${JSON.stringify(settings)}::text::jsonb,
      vault.create_secret(${JSON.stringify(secret)}, ${`${provider}:${supplierId}`}))`;
}

/** A row of public.crm_delivery_log. */
export type CrmDelivery = {
  run_id: number;
  event_type: string;
  target: string;
  status: string;
  attempts: number;
  origin: string | null;
  run_at: Date;
  last_error: { code: string; message: string } | null;
  calls: { http_status: number | null; operation: string; outcome: string }[];
};

/** The delivery log of a couple, oldest first. */
export async function crmDeliveries(sql: Sql, clientId: string): Promise<CrmDelivery[]> {
  return await sql<CrmDelivery[]>`
    select run_id::int, event_type, target, status::text, attempts, origin, run_at, last_error, calls
    from public.crm_delivery_log where client_id = ${clientId}::uuid order by run_id`;
}

// What every email provider's webhook receiver shares: the supplier the URL names, the supplier's webhook
// credential from Vault, and handing a verified event to the inbox (deduplicated, applied in order).
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, readRawBody } from "../../http/errors.ts";
import type { SecretStore } from "../../secrets.ts";

const supplierId = z.uuid();

/** The supplier of `?supplier=<uuid>`, the URL a supplier registers at the provider. */
function webhookSupplier(req: Request): string {
  const supplier = supplierId.safeParse(new URL(req.url).searchParams.get("supplier"));
  if (!supplier.success) {
    throw new HttpError(400, "invalid_supplier", "Query parameter supplier must be the supplier's uuid");
  }
  return supplier.data;
}

/**
 * The field `field` of the supplier's `provider` integration secret (e.g. Resend's `webhook_secret`).
 * Without one nothing is accepted: 401. The row's `updated_at` keys the secret cache, so the secret of a
 * reconnect (a new registration, a new signing secret) is read at once.
 */
async function webhookCredential(
  sql: Sql,
  secrets: SecretStore,
  supplier: string,
  provider: string,
  field: string,
  label: string,
): Promise<string> {
  const [integration] = await sql<{ secret_id: string | null; updated_at: string }[]>`
    select secret_id::text as secret_id, updated_at::text as updated_at from public.supplier_integrations
    where supplier_id = ${supplier}::uuid and provider = ${provider}`;
  let value: unknown;
  if (integration?.secret_id) {
    try {
      value = JSON.parse(await secrets.byId(integration.secret_id, integration.updated_at))[field];
    } catch {
      value = undefined;
    }
  }
  if (typeof value !== "string" || value === "") {
    throw new HttpError(401, "webhook_not_configured", `No ${label} is configured for this supplier`);
  }
  return value;
}

/**
 * Where every receiver starts: POST only, the supplier of the URL, the raw body (signatures cover its
 * exact bytes) and the supplier's webhook credential (`field` of its `provider` Vault secret).
 */
export async function webhookRequest(
  req: Request,
  deps: { sql: Sql; secrets: SecretStore },
  provider: string,
  field: string,
  label: string,
): Promise<{ supplier: string; raw: Uint8Array; credential: string }> {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
  const supplier = webhookSupplier(req);
  const raw = await readRawBody(req);
  const credential = await webhookCredential(deps.sql, deps.secrets, supplier, provider, field, label);
  return { supplier, raw, credential };
}

/** A verified provider event, reduced to what the pipeline needs (no addresses, subjects or links). */
export type InboxEvent = {
  provider: string;
  eventId: string;
  type: string;
  supplierId: string;
  messageId: string | null;
  status: string | null;
  occurredAt: string;
  payload: Record<string, unknown>;
};

/** Hands an event to the inbox (public.receive_delivery_event); returns applied, stale, duplicate... */
export async function receiveEvent(sql: Sql, e: InboxEvent): Promise<string> {
  const [row] = await sql<{ result: string }[]>`
    select public.receive_delivery_event(
      ${e.provider}, ${e.eventId}, ${e.type}, ${e.supplierId}::uuid, ${e.messageId},
      ${e.status}::public.delivery_status, ${e.occurredAt}::timestamptz, ${
    JSON.stringify(e.payload)
  }::text::jsonb
    ) as result`;
  return row.result;
}

/** Puts an address on the supplier's email suppression list (e.g. a provider's unsubscribe event). */
export async function suppressEmail(
  sql: Sql,
  supplier: string,
  address: string,
  reason: string,
): Promise<void> {
  await sql`select public.suppress_address(${supplier}::uuid, 'email', ${address}, ${reason})`;
}

/** Zod issues as one line. */
export function issuesLine(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
}

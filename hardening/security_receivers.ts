// The running receivers against misconfigured secrets: for each webhook function and each broken
// credential (none, not JSON, wrong field, wrong type, empty), unsigned and wrongly signed requests must be
// refused with a 4xx and must write nothing.
import { gatewayUrl } from "../stack/config.ts";
import type { Sql } from "../tests/helpers/db.ts";
import { createSupplier } from "../tests/helpers/fixtures.ts";

/** A receiver: its function, the integration provider and the credential field it reads. */
type Receiver = {
  fn: string;
  provider: string;
  field: string;
  /** A body the receiver would act on if it skipped verification. */
  body: string;
  contentType: string;
  /** Headers of a wrong signature in the receiver's own scheme. */
  forged: Record<string, string>;
  query?: string;
};

const now = () => Math.floor(Date.now() / 1000);
const JSON_TYPE = "application/json";

/** Every receiver that trusts a per-supplier credential. */
export const RECEIVERS: Receiver[] = [
  {
    fn: "webhook-resend",
    provider: "resend",
    field: "webhook_secret",
    body: JSON.stringify({
      type: "email.bounced",
      created_at: new Date().toISOString(),
      data: { email_id: "x" },
    }),
    contentType: JSON_TYPE,
    forged: { "svix-id": "msg_forged", "svix-timestamp": String(now()), "svix-signature": "v1,Zm9yZ2Vk" },
  },
  {
    fn: "webhook-sendgrid",
    provider: "sendgrid",
    field: "webhook_public_key",
    body: JSON.stringify([{ email: "a@example.com", event: "bounce", sg_event_id: "e1", timestamp: now() }]),
    contentType: JSON_TYPE,
    forged: {
      "x-twilio-email-event-webhook-signature": "MEUCIQDforged",
      "x-twilio-email-event-webhook-timestamp": String(now()),
    },
  },
  {
    fn: "webhook-mailgun",
    provider: "mailgun",
    field: "webhook_signing_key",
    body: JSON.stringify({
      signature: { timestamp: String(now()), token: crypto.randomUUID(), signature: "0".repeat(64) },
      "event-data": {
        event: "failed",
        id: "e1",
        timestamp: now(),
        recipient: "a@example.com",
        severity: "permanent",
      },
    }),
    contentType: JSON_TYPE,
    forged: {},
  },
  {
    fn: "webhook-twilio",
    provider: "twilio",
    field: "auth_token",
    body: "MessageSid=SM0000&MessageStatus=delivered&From=%2B15005550006",
    contentType: "application/x-www-form-urlencoded",
    forged: { "x-twilio-signature": "Zm9yZ2VkZm9yZ2VkZm9yZ2VkZm8=" },
  },
  {
    fn: "webhook-whatsapp",
    provider: "whatsapp",
    field: "app_secret",
    body: JSON.stringify({ object: "whatsapp_business_account", entry: [] }),
    contentType: JSON_TYPE,
    forged: { "x-hub-signature-256": `sha256=${"0".repeat(64)}` },
  },
  {
    fn: "webhook-calendly",
    provider: "calendly",
    field: "signing_key",
    body: JSON.stringify({ event: "invitee.canceled", created_at: new Date().toISOString(), payload: {} }),
    contentType: JSON_TYPE,
    forged: { "calendly-webhook-signature": `t=${now()},v1=${"0".repeat(64)}` },
  },
  {
    fn: "webhook-acuity",
    provider: "acuity",
    field: "api_key",
    body: "action=canceled&id=1&calendarID=1&appointmentTypeID=1",
    contentType: "application/x-www-form-urlencoded",
    forged: { "x-acuity-signature": "Zm9yZ2Vk" },
  },
  {
    fn: "webhook-typeform",
    provider: "typeform",
    field: "webhook_secret",
    body: JSON.stringify({ event_id: "e1", event_type: "form_response", form_response: {} }),
    contentType: JSON_TYPE,
    forged: { "typeform-signature": "sha256=Zm9yZ2Vk" },
  },
  {
    fn: "webhook-jotform",
    provider: "jotform",
    field: "webhook_token",
    body: "submissionID=1&formID=1",
    contentType: "application/x-www-form-urlencoded",
    forged: {},
    query: "token=forged",
  },
  {
    fn: "crm-inbound",
    provider: "crm_webhooks",
    field: "inbound_secret",
    body: JSON.stringify({ type: "wedding_date.changed", id: "e1", couple: { id: crypto.randomUUID() } }),
    contentType: JSON_TYPE,
    forged: {},
    query: "token=forged",
  },
];

/** Broken credentials (and one sound canary): `null` is no integration at all; others are the Vault secret's text. */
export const BROKEN_SECRETS: { what: string; secret: (field: string) => string | null }[] = [
  { what: "no integration", secret: () => null },
  { what: "secret is not JSON", secret: () => "not json at all" },
  { what: "secret is JSON null", secret: () => "null" },
  { what: "secret is an array", secret: () => "[]" },
  { what: "field missing", secret: () => JSON.stringify({ unrelated: "x" }) },
  { what: "field empty", secret: (f) => JSON.stringify({ [f]: "" }) },
  { what: "field a number", secret: (f) => JSON.stringify({ [f]: 12345 }) },
  { what: "field an object", secret: (f) => JSON.stringify({ [f]: { value: "x" } }) },
  // A well-formed, distinctive secret (a canary for the hygiene scan): forged requests are still refused.
  {
    what: "canary secret, forged request",
    secret: (f) => JSON.stringify({ [f]: `canary_${f}_${crypto.randomUUID()}` }),
  },
];

/** One refused (or wrongly accepted) request. */
export type ReceiverCase = {
  fn: string;
  config: string;
  request: "unsigned" | "forged";
  status: number;
  wrote: number;
};

/** Rows in every public table that has a supplier_id, for one supplier (catalog-driven: new tables count). */
export async function supplierRows(sql: Sql, supplier: string): Promise<number> {
  const tables = await sql<{ t: string }[]>`
    select c.table_name as t from information_schema.columns c
    join information_schema.tables t using (table_schema, table_name)
    where c.table_schema = 'public' and c.column_name = 'supplier_id' and t.table_type = 'BASE TABLE'
      and c.table_name <> 'supplier_integrations'`;
  let total = 0;
  for (const { t } of tables) {
    const [row] = await sql.unsafe<{ n: number }[]>(
      `select count(*)::int as n from public."${t.replaceAll('"', '""')}" where supplier_id = $1`,
      [supplier],
    );
    total += row.n;
  }
  return total;
}

/** Sends every receiver × broken secret × (unsigned, forged) request; returns each answer. */
export async function checkReceivers(sql: Sql): Promise<ReceiverCase[]> {
  const cases: ReceiverCase[] = [];
  for (const config of BROKEN_SECRETS) {
    const supplier = await createSupplier(sql, { name: `Security ${config.what}` });
    for (const r of RECEIVERS) {
      const secret = config.secret(r.field);
      if (secret !== null) {
        await sql`
          insert into public.supplier_integrations (supplier_id, provider, settings, secret_id, status)
          values (${supplier}::uuid, ${r.provider}, '{}'::jsonb,
            vault.create_secret(${secret}, ${`${r.provider}:${supplier}`}), 'connected')`;
      }
    }
    const before = await supplierRows(sql, supplier);
    for (const r of RECEIVERS) {
      for (const request of ["unsigned", "forged"] as const) {
        const query = `supplier=${supplier}${r.query ? `&${r.query}` : ""}`;
        const res = await fetch(`${gatewayUrl}/functions/v1/${r.fn}?${query}`, {
          method: "POST",
          headers: { "content-type": r.contentType, ...(request === "forged" ? r.forged : {}) },
          body: r.body,
        });
        await res.body?.cancel();
        const after = await supplierRows(sql, supplier);
        cases.push({ fn: r.fn, config: config.what, request, status: res.status, wrote: after - before });
      }
    }
  }
  return cases;
}

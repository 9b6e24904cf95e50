// Resend's webhook receiver: verify the Svix signature on the raw body, deduplicate on svix-id, and
// move the delivery's status forward (bounces and complaints suppress the address).
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../../http/errors.ts";
import type { SecretStore } from "../../secrets.ts";
import { verifySvix, WebhookVerificationError } from "../../webhooks/svix.ts";

/** Resend event types and the delivery status each one means. */
export const RESEND_STATUS: Record<string, string> = {
  "email.sent": "sent",
  "email.delivered": "delivered",
  "email.delivery_delayed": "delivery_delayed",
  "email.opened": "opened",
  "email.clicked": "clicked",
  "email.failed": "failed",
  "email.bounced": "bounced",
  "email.complained": "complained",
};

const event = z.object({
  type: z.string().min(1).max(100),
  created_at: z.string().datetime({ offset: true }),
  data: z.object({
    email_id: z.string().min(1).max(200).optional(),
    bounce: z.object({ type: z.string().max(100).optional(), subType: z.string().max(100).optional() })
      .optional(),
  }).loose(),
});

const supplierId = z.uuid();

/** What the receiver needs. */
export type ResendWebhookDeps = {
  sql: Sql;
  secrets: SecretStore;
  now?: () => number;
  log?: (line: string) => void;
};

/**
 * Handles `POST /webhook-resend?supplier=<uuid>`: the URL a supplier registers in Resend. The
 * supplier's signing secret (`webhook_secret` in its Resend Vault secret) verifies the request;
 * without a configured secret nothing is accepted.
 */
export function resendWebhookHandler(deps: ResendWebhookDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const supplier = supplierId.safeParse(new URL(req.url).searchParams.get("supplier"));
    if (!supplier.success) {
      throw new HttpError(400, "invalid_supplier", "Query parameter supplier must be the supplier's uuid");
    }
    const raw = await readRawBody(req);

    const [integration] = await deps.sql<{ secret_id: string | null }[]>`
      select secret_id::text as secret_id from public.supplier_integrations
      where supplier_id = ${supplier.data}::uuid and provider = 'resend'`;
    let secret: string | undefined;
    if (integration?.secret_id) {
      try {
        secret = JSON.parse(await deps.secrets.byId(integration.secret_id)).webhook_secret;
      } catch {
        secret = undefined;
      }
    }
    if (typeof secret !== "string" || secret === "") {
      throw new HttpError(
        401,
        "webhook_not_configured",
        "No Resend webhook secret is configured for this supplier",
      );
    }
    let verified;
    try {
      verified = await verifySvix({ secret, headers: req.headers, rawBody: raw, now: deps.now?.() });
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        throw new HttpError(401, "invalid_signature", error.message);
      }
      throw error;
    }

    const parsed = event.safeParse(parseJson(raw));
    if (!parsed.success) {
      throw new HttpError(
        400,
        "invalid_event",
        `Not a Resend event: ${
          parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")
        }`,
      );
    }
    const e = parsed.data;
    const status = RESEND_STATUS[e.type] ?? null;
    // Only what the pipeline needs is stored: no addresses, subjects or links.
    const payload = {
      type: e.type,
      email_id: e.data.email_id ?? null,
      bounce_type: e.data.bounce?.type ?? null,
      bounce_sub_type: e.data.bounce?.subType ?? null,
    };
    const [row] = await deps.sql<{ result: string }[]>`
      select public.receive_delivery_event(
        'resend', ${verified.id}, ${e.type}, ${supplier.data}::uuid, ${e.data.email_id ?? null},
        ${status}::public.delivery_status, ${e.created_at}::timestamptz, ${
      JSON.stringify(payload)
    }::text::jsonb
      ) as result`;
    return json({ received: true, result: row.result });
  }, deps.log);
}

// WhatsApp Cloud API webhooks for one supplier: the GET verification handshake, and signed POSTs with
// message statuses (highest wins, unknown sends reconciled by run key) and inbound messages (the 24-hour
// window, opt-out and opt-in keywords).
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../../http/errors.ts";
import type { SecretStore } from "../../secrets.ts";
import { constantTimeEqualText } from "../../webhooks/hmac.ts";
import { verifyMeta } from "../../webhooks/meta.ts";
import { connectedIntegration } from "../../integrations.ts";
import { supplierParam } from "./integration.ts";
import { keywordIntent } from "./keywords.ts";

/** WhatsApp statuses and the delivery status each means. */
export const WHATSAPP_STATUS: Record<string, string> = {
  sent: "sent",
  delivered: "delivered",
  read: "opened",
  failed: "failed",
};

const unixSeconds = z.string().regex(/^[0-9]{1,12}$/);
const waId = z.string().regex(/^[1-9][0-9]{6,14}$/, "must be a WhatsApp id (E.164 digits)");
const statusEvent = z.object({
  id: z.string().min(1).max(200),
  status: z.string().min(1).max(40),
  timestamp: unixSeconds,
  recipient_id: z.string().max(40).optional(),
  biz_opaque_callback_data: z.string().max(512).optional(),
  errors: z.array(z.object({ code: z.number().int() }).loose()).optional(),
});
const messageEvent = z.object({
  id: z.string().min(1).max(200),
  from: waId,
  timestamp: unixSeconds,
  type: z.string().max(40),
  text: z.object({ body: z.string().max(4096) }).optional(),
  button: z.object({ text: z.string().max(256) }).loose().optional(),
});
/** Request schema, exported for the fuzz suite's generators. */
export const notification = z.object({
  object: z.literal("whatsapp_business_account"),
  entry: z.array(z.object({
    changes: z.array(z.object({
      field: z.string(),
      value: z.object({
        metadata: z.object({ phone_number_id: z.string() }).loose().optional(),
        statuses: z.array(statusEvent).optional(),
        messages: z.array(messageEvent).optional(),
      }).loose(),
    })),
  })).max(100),
});

/** What the receiver needs. */
export type WhatsAppWebhookDeps = { sql: Sql; secrets: SecretStore; log?: (line: string) => void };

const at = (seconds: string) => new Date(Number(seconds) * 1000).toISOString();

/**
 * Handles `/webhook-whatsapp?supplier=<uuid>`, the callback URL set for the supplier's WhatsApp
 * Business Account: `GET` answers Meta's verification with the challenge when `hub.verify_token` is the
 * supplier's, else 403; `POST` must carry `X-Hub-Signature-256` made with the supplier's App Secret.
 */
export function whatsappWebhookHandler(deps: WhatsAppWebhookDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    const query = new URL(req.url).searchParams;
    const supplierId = supplierParam(query);
    if (req.method !== "GET" && req.method !== "POST") {
      throw new HttpError(405, "method_not_allowed", "Use GET or POST");
    }
    const raw = req.method === "POST" ? await readRawBody(req) : new Uint8Array();
    const { settings, secret } =
      (await connectedIntegration(deps.sql, deps.secrets, supplierId, "whatsapp")) ??
        { settings: {}, secret: {} };

    if (req.method === "GET") {
      const token = typeof secret.verify_token === "string" ? secret.verify_token : "";
      const given = query.get("hub.verify_token") ?? "";
      const challenge = query.get("hub.challenge") ?? "";
      if (
        query.get("hub.mode") !== "subscribe" || !token || !constantTimeEqualText(given, token) || !challenge
      ) {
        throw new HttpError(403, "verification_failed", "hub.mode or hub.verify_token does not match");
      }
      return new Response(challenge, { headers: { "content-type": "text/plain; charset=utf-8" } });
    }

    const appSecret = typeof secret.app_secret === "string" ? secret.app_secret : "";
    if (!appSecret) {
      throw new HttpError(
        401,
        "webhook_not_configured",
        "No WhatsApp App Secret is configured for this supplier",
      );
    }
    if (!(await verifyMeta(appSecret, raw, req.headers.get("x-hub-signature-256")))) {
      throw new HttpError(
        401,
        "invalid_signature",
        "Cannot verify webhook: X-Hub-Signature-256 does not match",
      );
    }
    const parsed = notification.safeParse(parseJson(raw));
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      throw new HttpError(400, "invalid_event", `Not a WhatsApp notification: ${why}`);
    }
    const phoneNumberId = typeof settings.phone_number_id === "string" ? settings.phone_number_id : null;
    const results: string[] = [];
    for (const entry of parsed.data.entry) {
      for (const change of entry.changes) {
        const value = change.value;
        // A WABA can hold several numbers: only the supplier's own number is this supplier's business.
        if (change.field !== "messages" || value.metadata?.phone_number_id !== phoneNumberId) {
          results.push("ignored");
          continue;
        }
        for (const s of value.statuses ?? []) {
          const recipient = s.recipient_id && waId.safeParse(s.recipient_id).success
            ? `+${s.recipient_id}`
            : null;
          const payload = { status: s.status, error_codes: (s.errors ?? []).map((e) => e.code) };
          const [row] = await deps.sql<{ result: string }[]>`
            select public.receive_message_status(
              'whatsapp', ${`${s.id}:${s.status}`}, ${s.status}, ${supplierId}::uuid, ${s.id},
              ${WHATSAPP_STATUS[s.status] ?? null}::public.delivery_status, ${at(s.timestamp)}::timestamptz,
              ${JSON.stringify(payload)}::text::jsonb, ${
            s.biz_opaque_callback_data ?? null
          }, 'whatsapp', ${recipient}
            ) as result`;
          results.push(row.result);
        }
        for (const m of value.messages ?? []) {
          const from = `+${m.from}`;
          const intent = keywordIntent(m.text?.body ?? m.button?.text);
          const [row] = await deps.sql<{ result: string }[]>`
            select public.receive_delivery_event(
              'whatsapp', ${`inbound:${m.id}`}, 'inbound', ${supplierId}::uuid, null, null,
              ${at(m.timestamp)}::timestamptz, ${JSON.stringify({ type: m.type, intent })}::text::jsonb
            ) as result`;
          results.push(row.result);
          if (row.result === "duplicate") continue;
          await deps.sql`select public.record_inbound_message(${supplierId}::uuid, 'whatsapp', ${from}, ${
            at(m.timestamp)
          }::timestamptz)`;
          if (intent === "opt_out" || intent === "opt_in") {
            await deps.sql`select public.record_messaging_consent(
              ${supplierId}::uuid, 'whatsapp', ${from}, ${intent === "opt_in"}, ${
              at(m.timestamp)
            }::timestamptz)`;
          }
        }
      }
    }
    return json({ received: true, results });
  }, deps.log);
}

// SendGrid's Event Webhook receiver: verify the ECDSA signature over timestamp + raw body with the
// supplier's public key, then each event: deduplicate on sg_event_id, move the delivery's status forward,
// suppress bounces, spam reports and unsubscribes.
import { z } from "zod";
import { HttpError, json, parseJson, withErrors } from "../../http/errors.ts";
import {
  SENDGRID_SIGNATURE_HEADER,
  SENDGRID_TIMESTAMP_HEADER,
  verifySendGrid,
} from "../../webhooks/sendgrid.ts";
import type { WebhookDeps } from "./resend_webhook.ts";
import { issuesLine, receiveEvent, suppressEmail, webhookRequest } from "./webhook_inbox.ts";

/** SendGrid documents no replay window; its signed timestamp older or newer than this is refused. */
export const SENDGRID_TOLERANCE_S = 600;

/** SendGrid event types and the delivery status each one means. */
export const SENDGRID_STATUS: Record<string, string> = {
  processed: "sent",
  deferred: "delivery_delayed",
  delivered: "delivered",
  open: "opened",
  click: "clicked",
  dropped: "failed",
  bounce: "bounced",
  spamreport: "complained",
};

const UNSUBSCRIBES = new Set(["unsubscribe", "group_unsubscribe"]);

/** Request schema, exported for the fuzz suite's generators. */
export const events = z.array(
  z.object({
    event: z.string().min(1).max(100),
    email: z.string().max(320).optional(),
    timestamp: z.number().int().nonnegative(),
    sg_event_id: z.string().min(1).max(200),
    sg_message_id: z.string().min(1).max(300).optional(),
    type: z.string().max(50).optional(),
    run_key: z.string().max(300).optional(),
  }).loose(),
).min(1).max(1000);

/**
 * Handles `POST /webhook-sendgrid?supplier=<uuid>`. The supplier's verification key
 * (`webhook_public_key` in its SendGrid Vault secret, base64 DER as SendGrid shows it) must verify the
 * request; then every event of the batch is applied once.
 */
export function sendGridWebhookHandler(deps: WebhookDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    const { supplier, raw, credential: publicKey } = await webhookRequest(
      req,
      deps,
      "sendgrid",
      "webhook_public_key",
      "SendGrid webhook verification key",
    );
    const signature = req.headers.get(SENDGRID_SIGNATURE_HEADER);
    const timestamp = req.headers.get(SENDGRID_TIMESTAMP_HEADER);
    if (!signature || !timestamp) {
      throw new HttpError(401, "invalid_signature", "Cannot verify webhook: missing signature headers");
    }
    if (!/^\d{1,15}$/.test(timestamp)) {
      throw new HttpError(401, "invalid_signature", "Cannot verify webhook: invalid timestamp");
    }
    if (!(await verifySendGrid(publicKey, signature, timestamp, raw))) {
      throw new HttpError(401, "invalid_signature", "Cannot verify webhook: no matching signature");
    }
    const age = (deps.now?.() ?? Date.now()) / 1000 - Number(timestamp);
    if (Math.abs(age) > SENDGRID_TOLERANCE_S) {
      throw new HttpError(
        401,
        "invalid_signature",
        `Cannot verify webhook: timestamp too ${age > 0 ? "old" : "new"}`,
      );
    }

    const parsed = events.safeParse(parseJson(raw));
    if (!parsed.success) {
      throw new HttpError(400, "invalid_event", `Not a SendGrid event batch: ${issuesLine(parsed.error)}`);
    }
    const results: string[] = [];
    for (const e of parsed.data) {
      if (UNSUBSCRIBES.has(e.event) && e.email) {
        await suppressEmail(deps.sql, supplier, e.email, "unsubscribed");
      }
      // sg_message_id is the X-Message-Id of the send followed by ".filter…".
      const messageId = e.sg_message_id ? e.sg_message_id.split(".")[0] : null;
      results.push(
        await receiveEvent(deps.sql, {
          provider: "sendgrid",
          eventId: e.sg_event_id,
          type: e.event,
          supplierId: supplier,
          messageId,
          status: SENDGRID_STATUS[e.event] ?? null,
          occurredAt: new Date(e.timestamp * 1000).toISOString(),
          payload: {
            event: e.event,
            sg_message_id: e.sg_message_id ?? null,
            run_key: e.run_key ?? null,
            // A "blocked" bounce is the receiving server refusing for now: it must not suppress.
            bounce_type: e.event === "bounce" ? (e.type === "blocked" ? "Transient" : "Permanent") : null,
          },
        }),
      );
    }
    return json({ received: results.length, results });
  }, deps.log);
}

// Mailgun's webhook receiver: verify the HMAC signature carried in the JSON body with the supplier's
// webhook signing key, refuse a token seen before (replays), then deduplicate on the event id and move
// the delivery's status forward (permanent failures, complaints and unsubscribes suppress).
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, withErrors } from "../../http/errors.ts";
import { verifyMailgun } from "../../webhooks/mailgun.ts";
import type { WebhookDeps } from "./resend_webhook.ts";
import { issuesLine, receiveEvent, suppressEmail, webhookRequest } from "./webhook_inbox.ts";

/** Mailgun event types and the delivery status each one means (failed depends on its severity). */
export const MAILGUN_STATUS: Record<string, string> = {
  accepted: "queued",
  delivered: "delivered",
  opened: "opened",
  clicked: "clicked",
  complained: "complained",
};

/** Request schema, exported for the fuzz suite's generators. */
export const body = z.object({
  signature: z.object({
    timestamp: z.string().min(1).max(20),
    token: z.string().min(1).max(200),
    signature: z.string().regex(/^[0-9a-fA-F]{64}$/, "must be a hex SHA-256 HMAC"),
  }),
  "event-data": z.object({
    event: z.string().min(1).max(100),
    id: z.string().min(1).max(200),
    timestamp: z.number().nonnegative(),
    recipient: z.string().max(320).optional(),
    severity: z.string().max(50).optional(),
    message: z.object({ headers: z.object({ "message-id": z.string().max(300).optional() }).loose() }).loose()
      .optional(),
    "user-variables": z.record(z.string(), z.unknown()).optional(),
  }).loose(),
});

/**
 * Handles `POST /webhook-mailgun?supplier=<uuid>`. The supplier's HTTP webhook signing key
 * (`webhook_signing_key` in its Mailgun Vault secret) must verify the body's signature, and its token
 * must be new: a replay is answered 406, which Mailgun treats as "do not retry".
 */
export function mailgunWebhookHandler(deps: WebhookDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    const { supplier, raw, credential: signingKey } = await webhookRequest(
      req,
      deps,
      "mailgun",
      "webhook_signing_key",
      "Mailgun webhook signing key",
    );
    // The signature lives in the body: it has to be parsed before it can be verified.
    const parsed = body.safeParse(parseJson(raw));
    if (!parsed.success) {
      throw new HttpError(400, "invalid_event", `Not a Mailgun webhook: ${issuesLine(parsed.error)}`);
    }
    const { signature, "event-data": e } = parsed.data;
    const rejected = await verifyMailgun(signingKey, signature, deps.now?.() ?? Date.now());
    if (rejected) throw new HttpError(401, "invalid_signature", `Cannot verify webhook: ${rejected}`);

    const messageId = e.message?.headers["message-id"]?.replace(/^<|>$/g, "") ?? null;
    const failedStatus = e.severity === "temporary" ? "delivery_delayed" : "bounced";
    const runKey = e["user-variables"]?.run_key;
    // The token and the event are taken in one transaction: a failure keeps neither, so a retry works.
    const result = await deps.sql.begin(async (tx) => {
      const [claim] = await tx<{ fresh: boolean | null }[]>`
        select public.claim_webhook_token('mailgun', ${signature.token},
          to_timestamp(${Number(signature.timestamp)})) as fresh`;
      if (!claim.fresh) return null;
      if (e.event === "unsubscribed" && e.recipient) {
        await suppressEmail(tx as unknown as Sql, supplier, e.recipient, "unsubscribed");
      }
      return await receiveEvent(tx as unknown as Sql, {
        provider: "mailgun",
        eventId: e.id,
        type: e.event,
        supplierId: supplier,
        messageId,
        status: e.event === "failed" ? failedStatus : MAILGUN_STATUS[e.event] ?? null,
        occurredAt: new Date(e.timestamp * 1000).toISOString(),
        payload: {
          event: e.event,
          severity: e.severity ?? null,
          message_id: messageId,
          run_key: typeof runKey === "string" ? runKey : null,
          bounce_type: e.event === "failed" ? (e.severity === "temporary" ? "Transient" : "Permanent") : null,
        },
      });
    });
    if (result === null) {
      throw new HttpError(
        406,
        "replayed_token",
        "Cannot accept webhook: its signature token was already used",
      );
    }
    return json({ received: true, result });
  }, deps.log);
}

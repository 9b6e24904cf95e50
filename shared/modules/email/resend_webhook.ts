// Resend's webhook receiver: verify the Svix signature on the raw body, deduplicate on svix-id, and
// move the delivery's status forward (bounces and complaints suppress the address).
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, withErrors } from "../../http/errors.ts";
import type { SecretStore } from "../../secrets.ts";
import { RUN_KEY_TAG, runKeyFromTag } from "../../providers/email/resend.ts";
import { verifySvix, WebhookVerificationError } from "../../webhooks/svix.ts";
import { issuesLine, receiveEvent, webhookRequest } from "./webhook_inbox.ts";

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

/** Request schema, exported for the fuzz suite's generators. */
export const event = z.object({
  type: z.string().min(1).max(100),
  created_at: z.string().datetime({ offset: true }),
  data: z.object({
    email_id: z.string().min(1).max(200).optional(),
    // `[{name, value}]` as sent, or a `{name: value}` map: either way the run key tag is read.
    tags: z.union([
      z.array(z.object({ name: z.string(), value: z.string() }).loose()),
      z.record(z.string(), z.unknown()),
    ]).optional(),
    bounce: z.object({ type: z.string().max(100).optional(), subType: z.string().max(100).optional() })
      .optional(),
  }).loose(),
});

/** The run key an email was sent with, from its tags, or null. */
function runKeyOf(tags: z.infer<typeof event>["data"]["tags"]): string | null {
  const value = Array.isArray(tags) ? tags.find((t) => t.name === RUN_KEY_TAG)?.value : tags?.[RUN_KEY_TAG];
  return typeof value === "string" && value !== "" ? runKeyFromTag(value).slice(0, 300) : null;
}

/** What a webhook receiver needs. */
export type WebhookDeps = {
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
export function resendWebhookHandler(deps: WebhookDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    const { supplier, raw, credential: secret } = await webhookRequest(
      req,
      deps,
      "resend",
      "webhook_secret",
      "Resend webhook secret",
    );
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
      throw new HttpError(400, "invalid_event", `Not a Resend event: ${issuesLine(parsed.error)}`);
    }
    const e = parsed.data;
    const result = await receiveEvent(deps.sql, {
      provider: "resend",
      eventId: verified.id,
      type: e.type,
      supplierId: supplier,
      messageId: e.data.email_id ?? null,
      status: RESEND_STATUS[e.type] ?? null,
      occurredAt: e.created_at,
      payload: {
        type: e.type,
        email_id: e.data.email_id ?? null,
        // Settles a run whose send had an unknown outcome (a batch request without an answer).
        run_key: runKeyOf(e.data.tags),
        bounce_type: e.data.bounce?.type ?? null,
        bounce_sub_type: e.data.bounce?.subType ?? null,
      },
    });
    return json({ received: true, result });
  }, deps.log);
}

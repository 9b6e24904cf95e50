// Outbound webhooks for automations (Zapier, Make) feeding CRMs without an API, signed with the Standard
// Webhooks scheme (webhook-id, webhook-timestamp, webhook-signature: v1,HMAC-SHA256) so receivers verify them.
import { signSvix } from "../../webhooks/svix.ts";
import { callProvider } from "../http.ts";
import type { SendResult } from "../result.ts";

/** An automation's endpoint. */
export type WebhookEndpoint = {
  url: string;
  /** `whsec_<base64>`: the base64-decoded bytes are the HMAC key. */
  secret: string;
  timeoutMs: number;
  fetch?: typeof fetch;
};

/**
 * POSTs one signed webhook. `id` is the same on every retry, so receivers deduplicate on
 * `webhook-id`; the timestamp (Unix seconds) is the attempt's, as receivers refuse stale ones. A lost
 * answer is therefore safe to retry (transient).
 */
export async function sendSignedWebhook(
  endpoint: WebhookEndpoint,
  message: { id: string; body: string; timestamp: number },
): Promise<SendResult> {
  const result = await callProvider({
    provider: "crm_webhooks",
    operation: "webhook.post",
    method: "POST",
    url: endpoint.url,
    headers: {
      "content-type": "application/json",
      "user-agent": "journey-integrations-webhooks/1",
      "webhook-id": message.id,
      "webhook-timestamp": String(message.timestamp),
      "webhook-signature": await signSvix(endpoint.secret, message.id, message.timestamp, message.body),
    },
    body: message.body,
    timeoutMs: endpoint.timeoutMs,
    idempotent: true,
    fetch: endpoint.fetch,
  });
  if (result.ok) return { ok: true, provider_message_id: message.id, call: result.call };
  return {
    ok: false,
    failure: result.failure,
    error: result.error,
    retry_after_s: result.retry_after_s,
    call: result.call,
  };
}

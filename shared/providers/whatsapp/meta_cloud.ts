// WhatsApp Business Cloud API adapter: POST /{phone-number-id}/messages with a bearer token, classified.
import { answerFailure, bodyRecord, callProvider } from "../http.ts";
import type { SendResult } from "../result.ts";

/** The business number to send from. */
export type WhatsAppAccount = {
  phoneNumberId: string;
  accessToken: string;
  /** e.g. `https://graph.facebook.com/v21.0`. */
  baseUrl: string;
  timeoutMs: number;
};

/** Free-form text (inside the 24-hour window only) or an approved template (any time). */
export type WhatsAppContent =
  | { type: "text"; body: string; mediaUrl?: string }
  | { type: "template"; name: string; language: string; bodyParameters: string[]; headerImageUrl?: string };

/** Graph error codes worth retrying later: throughput (130429), pair rate (131056), app rate limits, outages. */
const TRANSIENT_CODES = new Set([1, 2, 4, 17, 341, 80007, 130429, 131000, 131016, 131056, 133004]);

/** Code meaning free-form text was sent outside the customer-service window: send a template instead. */
export const REENGAGEMENT_REQUIRED = 131047;

function payload(to: string, content: WhatsAppContent, runKey: string): Record<string, unknown> {
  const base = { messaging_product: "whatsapp", recipient_type: "individual", to: to.replace(/^\+/, "") };
  if (content.type === "text") {
    const message = content.mediaUrl
      ? { type: "image", image: { link: content.mediaUrl, caption: content.body } }
      : { type: "text", text: { preview_url: false, body: content.body } };
    return { ...base, ...message, biz_opaque_callback_data: runKey };
  }
  const components: Record<string, unknown>[] = [];
  if (content.headerImageUrl) {
    components.push({
      type: "header",
      parameters: [{ type: "image", image: { link: content.headerImageUrl } }],
    });
  }
  if (content.bodyParameters.length > 0) {
    components.push({
      type: "body",
      parameters: content.bodyParameters.map((text) => ({ type: "text", text })),
    });
  }
  return {
    ...base,
    type: "template",
    template: {
      name: content.name,
      language: { policy: "deterministic", code: content.language },
      components,
    },
    biz_opaque_callback_data: runKey,
  };
}

/**
 * Sends one message with `biz_opaque_callback_data` = the run key, which status webhooks echo. No
 * idempotency key exists: an answer that never arrives is `unknown`, reconciled from those webhooks.
 * A 200 means accepted, not delivered.
 */
export async function sendWhatsAppMessage(
  account: WhatsAppAccount,
  to: string,
  content: WhatsAppContent,
  runKey: string,
  fetchFn: typeof fetch = fetch,
): Promise<SendResult & { graph_code?: number }> {
  const url = `${account.baseUrl.replace(/\/$/, "")}/${encodeURIComponent(account.phoneNumberId)}/messages`;
  let graphCode: number | undefined;
  const answer = await callProvider({
    provider: "whatsapp",
    operation: content.type === "text" ? "messages.text" : "messages.template",
    method: "POST",
    url,
    headers: { authorization: `Bearer ${account.accessToken}` },
    body: payload(to, content, runKey),
    timeoutMs: account.timeoutMs,
    fetch: fetchFn,
    describeError: (status, body) => {
      const graph = bodyRecord(bodyRecord(body).error) as {
        code?: unknown;
        message?: unknown;
        error_data?: { details?: unknown };
      };
      const code = typeof graph.code === "number" ? graph.code : undefined;
      graphCode = code;
      const details = typeof graph.error_data?.details === "string" ? ` (${graph.error_data.details})` : "";
      return {
        code: code === undefined ? `http_${status}` : String(code),
        message: `WhatsApp answered ${status}${code === undefined ? "" : ` ${code}`}: ${
          String(graph.message ?? "").slice(0, 200)
        }${details.slice(0, 200)}`,
        auditCode: code === undefined ? null : String(code),
        transient: code !== undefined && TRANSIENT_CODES.has(code) ? true : undefined,
        // One message per ~6 s to the same recipient: back off at least that long on 131056.
        retryAfterS: code === 131056 ? 6 : undefined,
      };
    },
  });
  if (!answer.ok) return { ...answer, graph_code: graphCode };
  const id = (bodyRecord(answer.body).messages as { id?: unknown }[] | undefined)?.[0]?.id;
  if (typeof id === "string") return { ok: true, provider_message_id: id, call: answer.call };
  return answerFailure(
    answer,
    "permanent",
    `http_${answer.status}`,
    `WhatsApp answered ${answer.status}: no message id`,
  );
}

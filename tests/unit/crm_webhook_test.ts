// Outbound CRM webhooks: Standard Webhooks signatures checked by an independent implementation (the
// standardwebhooks package), failure classification, and the published payload schema.
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { crmWebhookJsonSchema } from "../../shared/modules/crm/payload.ts";
import { sendSignedWebhook } from "../../shared/providers/crm/webhook.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/** A fetch that records the request and answers with `answer`. */
function recorder(answer: () => Response | Promise<Response>) {
  const seen: Request[] = [];
  const fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    seen.push(new Request(input, init));
    return Promise.resolve(answer());
  };
  return { seen, fetch: fetch as typeof globalThis.fetch };
}

Deno.test("sendSignedWebhook() signs so a Standard Webhooks verifier accepts the exact body", async () => {
  const { seen, fetch } = recorder(() => new Response('{"status":"success"}', { status: 200 }));
  const body = JSON.stringify({ type: "couple.updated", data: { couple: { names: "Zoë & Sam" } } });
  const timestamp = Math.floor(Date.now() / 1000);
  const result = await sendSignedWebhook(
    { url: "https://hooks.example/catch", secret: SECRET, timeoutMs: 1000, fetch },
    { id: "3f1c2a9e-0c55-4c07-9d1f-5a2b6d7c8e90", body, timestamp },
  );
  assert.equal(result.ok, true);
  const req = seen[0];
  const headers = Object.fromEntries(req.headers);
  assert.equal(headers["webhook-id"], "3f1c2a9e-0c55-4c07-9d1f-5a2b6d7c8e90");
  assert.equal(headers["webhook-timestamp"], String(timestamp));
  const raw = await req.text();
  assert.equal(raw, body);
  assert.deepEqual(new Webhook(SECRET).verify(raw, headers), JSON.parse(body));
  assert.throws(() => new Webhook(SECRET).verify(raw.replace("Zoë", "Zoe"), headers));
});

Deno.test("sendSignedWebhook() retries 5xx and 429 after Retry-After and gives up on other 4xx", async () => {
  const send = (res: () => Response) =>
    sendSignedWebhook(
      { url: "https://hooks.example/catch", secret: SECRET, timeoutMs: 1000, fetch: recorder(res).fetch },
      { id: "evt", body: "{}", timestamp: 1 },
    );
  const busy = await send(() => new Response("", { status: 503, headers: { "retry-after": "120" } }));
  assert.deepEqual(busy.ok ? null : [busy.failure, busy.retry_after_s, busy.error.code], [
    "transient",
    120,
    "http_503",
  ]);
  const limited = await send(() => new Response("", { status: 429 }));
  assert.deepEqual(limited.ok ? null : [limited.failure, limited.retry_after_s], ["transient", 1]);
  const gone = await send(() => new Response("", { status: 410 }));
  assert.deepEqual(gone.ok ? null : [gone.failure, gone.call.http_status], ["permanent", 410]);
  const lost = await send(() => {
    throw new TypeError("connection reset");
  });
  assert.deepEqual(
    lost.ok ? null : [lost.failure, lost.error.code],
    ["transient", "no_response"],
    "receivers deduplicate on webhook-id, so a lost answer is retried",
  );
});

Deno.test("crmWebhookJsonSchema() is the schema published in docs/crm-webhook-v1.schema.json", async () => {
  const published = JSON.parse(
    await Deno.readTextFile(new URL("../../docs/crm-webhook-v1.schema.json", import.meta.url)),
  );
  assert.deepEqual(published, crmWebhookJsonSchema());
});

// The Twilio and WhatsApp Cloud adapters: the exact vendor request, and every class of answer.
import assert from "node:assert/strict";
import { sendTwilioMessage } from "../../shared/providers/sms/twilio.ts";
import { sendWhatsAppMessage } from "../../shared/providers/whatsapp/meta_cloud.ts";

type Seen = { url: string; headers: Headers; body: string };

/** A fetch that records the request and answers `status` with `body`, or throws when `body` is an Error. */
function fakeFetch(status: number, body: unknown, headers: Record<string, string> = {}) {
  const seen: Seen[] = [];
  const fn = ((input: string | URL | Request, init?: RequestInit) => {
    seen.push({ url: String(input), headers: new Headers(init?.headers), body: String(init?.body) });
    if (body instanceof Error) return Promise.reject(body);
    return Promise.resolve(
      new Response(JSON.stringify(body), {
        status,
        headers: { "content-type": "application/json", ...headers },
      }),
    );
  }) as typeof fetch;
  return { fn, seen };
}

const account = {
  accountSid: "AC0123",
  username: "AC0123",
  password: "token",
  baseUrl: "https://api.twilio.test/",
  timeoutMs: 1000,
};
const sms = {
  to: "+447912000001",
  from: "+15005550006",
  body: "Hi & bye",
  statusCallback: "https://x/cb?run=a%3Ab",
};
const twilioError = (code: number, status: number) => ({
  code,
  message: `error ${code}`,
  more_info: "",
  status,
});

Deno.test("sendTwilioMessage() posts the form Twilio documents with basic auth", async () => {
  const { fn, seen } = fakeFetch(201, { sid: "SM1", status: "queued" });
  const result = await sendTwilioMessage(account, {
    ...sms,
    mediaUrls: ["https://a/1.jpg", "https://a/2.jpg"],
  }, fn);
  assert.equal(result.ok, true);
  assert.equal((result as { provider_message_id: string }).provider_message_id, "SM1");
  assert.equal(seen[0].url, "https://api.twilio.test/2010-04-01/Accounts/AC0123/Messages.json");
  assert.equal(seen[0].headers.get("authorization"), `Basic ${btoa("AC0123:token")}`);
  assert.equal(seen[0].headers.get("content-type"), "application/x-www-form-urlencoded");
  const form = new URLSearchParams(seen[0].body);
  assert.deepEqual([...form.keys()].sort(), ["Body", "From", "MediaUrl", "MediaUrl", "StatusCallback", "To"]);
  assert.deepEqual(form.getAll("MediaUrl"), ["https://a/1.jpg", "https://a/2.jpg"]);
  assert.equal(form.get("StatusCallback"), sms.statusCallback);
  const viaService = fakeFetch(201, { sid: "SM2" });
  await sendTwilioMessage(account, { ...sms, from: undefined, messagingServiceSid: "MG1" }, viaService.fn);
  const serviceForm = new URLSearchParams(viaService.seen[0].body);
  assert.equal(serviceForm.get("MessagingServiceSid"), "MG1");
  assert.equal(serviceForm.has("From"), false);
});

Deno.test("sendTwilioMessage() classifies 21211, 21408 and 21610 as permanent", async () => {
  for (
    const [code, label] of [[21211, "invalid_number"], [21408, "region_not_permitted"], [
      21610,
      "opted_out",
    ]] as const
  ) {
    const result = await sendTwilioMessage(account, sms, fakeFetch(400, twilioError(code, 400)).fn);
    assert.equal(result.ok, false);
    const failed = result as {
      failure: string;
      error: { code: string; message: string };
      call: { error_code: string };
    };
    assert.equal(failed.failure, "permanent", String(code));
    assert.equal(failed.error.code, `${code}_${label}`);
    assert.equal(failed.call.error_code, String(code));
  }
});

Deno.test("sendTwilioMessage() classifies 20429, 429 and 5xx as transient, honouring Retry-After", async () => {
  const limited = await sendTwilioMessage(
    account,
    sms,
    fakeFetch(429, twilioError(20429, 429), { "retry-after": "7" }).fn,
  );
  assert.deepEqual([
    (limited as { failure: string }).failure,
    (limited as { retry_after_s: number }).retry_after_s,
  ], [
    "transient",
    7,
  ]);
  const outage = await sendTwilioMessage(account, sms, fakeFetch(503, twilioError(20500, 503)).fn);
  assert.equal((outage as { failure: string }).failure, "transient");
});

Deno.test("sendTwilioMessage() reports a request without an answer as unknown", async () => {
  const result = await sendTwilioMessage(account, sms, fakeFetch(0, new TypeError("connection reset")).fn);
  assert.equal((result as { failure: string }).failure, "unknown");
  assert.equal(result.call.http_status, null);
});

const wa = {
  phoneNumberId: "1055",
  accessToken: "EAAG",
  baseUrl: "https://graph.test/v21.0",
  timeoutMs: 1000,
};
const graphError = (code: number) => ({
  error: {
    message: `error ${code}`,
    type: "OAuthException",
    code,
    error_data: { details: "why" },
    fbtrace_id: "A",
  },
});

Deno.test("sendWhatsAppMessage() posts text and templates as the Cloud API documents", async () => {
  const ok = {
    messaging_product: "whatsapp",
    contacts: [{ input: "447912000001", wa_id: "447912000001" }],
    messages: [{ id: "wamid.1" }],
  };
  const text = fakeFetch(200, ok);
  const sent = await sendWhatsAppMessage(wa, "+447912000001", { type: "text", body: "Hi" }, "run:1", text.fn);
  assert.equal((sent as { provider_message_id: string }).provider_message_id, "wamid.1");
  assert.equal(text.seen[0].url, "https://graph.test/v21.0/1055/messages");
  assert.equal(text.seen[0].headers.get("authorization"), "Bearer EAAG");
  assert.deepEqual(JSON.parse(text.seen[0].body), {
    messaging_product: "whatsapp",
    recipient_type: "individual",
    to: "447912000001",
    type: "text",
    text: { preview_url: false, body: "Hi" },
    biz_opaque_callback_data: "run:1",
  });
  const template = fakeFetch(200, ok);
  await sendWhatsAppMessage(
    wa,
    "+447912000001",
    { type: "template", name: "wedding_update", language: "en_GB", bodyParameters: ["Alex"] },
    "run:1",
    template.fn,
  );
  assert.deepEqual(JSON.parse(template.seen[0].body).template, {
    name: "wedding_update",
    language: { policy: "deterministic", code: "en_GB" },
    components: [{ type: "body", parameters: [{ type: "text", text: "Alex" }] }],
  });
});

Deno.test("sendWhatsAppMessage() classifies 131047 and 131026 as permanent, 130429 and 131056 as transient", async () => {
  const send = async (status: number, code: number) =>
    await sendWhatsAppMessage(
      wa,
      "+447912000001",
      { type: "text", body: "Hi" },
      "r",
      fakeFetch(status, graphError(code)).fn,
    ) as {
      failure: string;
      graph_code: number;
      retry_after_s?: number;
      error: { message: string };
    };
  const window = await send(400, 131047);
  assert.deepEqual([window.failure, window.graph_code], ["permanent", 131047]);
  assert.match(window.error.message, /131047: error 131047 \(why\)/);
  assert.equal((await send(400, 131026)).failure, "permanent");
  assert.equal((await send(400, 130429)).failure, "transient");
  const pair = await send(400, 131056);
  assert.deepEqual([pair.failure, pair.retry_after_s], ["transient", 6]);
  assert.equal((await send(500, 2)).failure, "transient");
  const lost = await sendWhatsAppMessage(
    wa,
    "+447912000001",
    { type: "text", body: "Hi" },
    "r",
    fakeFetch(0, new TypeError("reset")).fn,
  );
  assert.equal((lost as { failure: string }).failure, "unknown");
});

// sendSendGridEmail() and sendMailgunEmail(): the exact vendor payloads, and every kind of answer
// classified as accepted, transient, permanent or unknown.
import assert from "node:assert/strict";
import { withServer } from "../helpers/http.ts";
import { MAILGUN_REGIONS, mailgunForm, sendMailgunEmail } from "../../shared/providers/email/mailgun.ts";
import { sendGridBody, sendSendGridEmail } from "../../shared/providers/email/sendgrid.ts";

const message = {
  from: "Golden Hour <hello@goldenhour.example>",
  to: "couple@example.com",
  subject: "Hi",
  html: "<p>Hi</p>",
  text: "Hi",
  reply_to: "studio@goldenhour.example",
  tags: [{ name: "run", value: "42" }],
  headers: {
    "List-Unsubscribe": "<https://x.example/u>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
  },
};

Deno.test("sendGridBody() builds SendGrid's payload with the run key in custom_args and text before html", () => {
  assert.deepEqual(sendGridBody(message, "inst:step:1"), {
    personalizations: [{
      to: [{ email: "couple@example.com" }],
      custom_args: { run_key: "inst:step:1", run: "42" },
    }],
    from: { email: "hello@goldenhour.example", name: "Golden Hour" },
    reply_to: { email: "studio@goldenhour.example" },
    subject: "Hi",
    content: [{ type: "text/plain", value: "Hi" }, { type: "text/html", value: "<p>Hi</p>" }],
    headers: message.headers,
  });
});

Deno.test("sendSendGridEmail() returns X-Message-Id when SendGrid answers 202", async () => {
  await withServer(
    () => new Response(null, { status: 202, headers: { "x-message-id": "abc123" } }),
    async (url, seen) => {
      const r = await sendSendGridEmail({ apiKey: "SG.k", baseUrl: url, timeoutMs: 2000 }, message, "key-1");
      assert.equal(r.ok && r.provider_message_id, "abc123");
      assert.equal(seen[0].path, "/v3/mail/send");
      assert.equal(seen[0].headers.get("authorization"), "Bearer SG.k");
      assert.equal(JSON.parse(seen[0].body).personalizations[0].custom_args.run_key, "key-1");
    },
  );
});

const sgError = (status: number, headers: Record<string, string> = {}) => () =>
  Response.json({ errors: [{ message: "nope", field: "from.email", help: null }] }, { status, headers });

Deno.test("sendSendGridEmail() classifies 5xx and 429 as transient and 4xx as permanent", async () => {
  const cases: [() => Response, string, number | undefined][] = [
    [sgError(500), "transient", undefined],
    [sgError(429, { "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + 20) }), "transient", 20],
    [sgError(400), "permanent", undefined],
    [sgError(401), "permanent", undefined],
  ];
  for (const [respond, failure, retryAfter] of cases) {
    await withServer(respond, async (url) => {
      const r = await sendSendGridEmail({ apiKey: "SG.k", baseUrl: url, timeoutMs: 2000 }, message, "k");
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.failure, failure);
      assert.match(r.error.message, /SendGrid answered \d{3}: nope \(from\.email\)/);
      if (retryAfter !== undefined) {
        assert.ok(Math.abs(r.retry_after_s! - retryAfter) <= 1.5, `${r.retry_after_s}`);
      }
    });
  }
});

Deno.test("sendSendGridEmail() reports unknown when no answer comes in time, transient when refused", async () => {
  await withServer(
    () =>
      new Promise<Response>((resolve) => setTimeout(() => resolve(new Response(null, { status: 202 })), 400)),
    async (url) => {
      const r = await sendSendGridEmail({ apiKey: "SG.k", baseUrl: url, timeoutMs: 50 }, message, "k");
      assert.equal(!r.ok && r.failure, "unknown");
    },
  );
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const refused = await sendSendGridEmail(
    { apiKey: "SG.k", baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 },
    message,
    "k",
  );
  assert.equal(!refused.ok && refused.failure, "transient");
  assert.equal(!refused.ok && refused.error.code, "connection_refused");
});

Deno.test("mailgunForm() sends the run key as a v: variable and headers as h: fields", () => {
  const form = mailgunForm(message, "inst:step:1");
  assert.equal(form.get("v:run_key"), "inst:step:1");
  assert.equal(form.get("v:run"), "42");
  assert.equal(form.get("h:Reply-To"), "studio@goldenhour.example");
  assert.equal(form.get("h:List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
  assert.equal(form.get("from"), message.from);
});

Deno.test("sendMailgunEmail() posts the form with basic auth to the domain and strips the id's brackets", async () => {
  await withServer(
    () => Response.json({ id: "<20261126.abc@studio.example>", message: "Queued. Thank you." }),
    async (url, seen) => {
      const r = await sendMailgunEmail(
        { apiKey: "key-1", baseUrl: url, domain: "studio.example", timeoutMs: 2000 },
        message,
        "k",
      );
      assert.equal(r.ok && r.provider_message_id, "20261126.abc@studio.example");
      assert.equal(seen[0].path, "/v3/studio.example/messages");
      assert.equal(seen[0].headers.get("authorization"), `Basic ${btoa("api:key-1")}`);
      assert.equal(seen[0].headers.get("content-type"), "application/x-www-form-urlencoded");
      assert.equal(new URLSearchParams(seen[0].body).get("v:run_key"), "k");
    },
  );
  assert.deepEqual(MAILGUN_REGIONS, { us: "https://api.mailgun.net", eu: "https://api.eu.mailgun.net" });
});

Deno.test("sendMailgunEmail() classifies Mailgun's errors with its message", async () => {
  for (
    const [status, failure] of [[500, "transient"], [429, "transient"], [400, "permanent"], [
      404,
      "permanent",
    ]] as const
  ) {
    await withServer(
      () => Response.json({ message: "Domain not found: studio.example" }, { status }),
      async (url) => {
        const r = await sendMailgunEmail(
          { apiKey: "k", baseUrl: url, domain: "studio.example", timeoutMs: 2000 },
          message,
          "k",
        );
        assert.equal(!r.ok && r.failure, failure);
        assert.equal(
          !r.ok && r.error.message,
          `Mailgun answered ${status}: Domain not found: studio.example`,
        );
      },
    );
  }
});

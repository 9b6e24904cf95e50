// sendResendEmail() classifies every kind of Resend answer: accepted, transient, permanent, unknown.
import assert from "node:assert/strict";
import { withServer } from "../helpers/http.ts";
import { sendResendBatch, sendResendEmail } from "../../shared/providers/email/resend.ts";

const message = {
  from: "Studio <hello@studio.example>",
  to: "couple@example.com",
  subject: "Hi",
  html: "<p>Hi</p>",
  text: "Hi",
  tags: [{ name: "run", value: "1" }],
};

const error = (status: number, name: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ statusCode: status, name, message: `${name} happened` }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

Deno.test("sendResendEmail() sends the idempotency key and returns the id when Resend accepts", async () => {
  await withServer(() => Response.json({ id: "em_1" }), async (baseUrl, seen) => {
    const r = await sendResendEmail({ apiKey: "re_x", baseUrl, timeoutMs: 2000 }, message, "run-key-1");
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.provider_message_id, "em_1");
    assert.equal(seen[0].headers.get("idempotency-key"), "run-key-1");
    assert.equal(seen[0].headers.get("authorization"), "Bearer re_x");
    assert.equal(seen[0].path, "/emails");
  });
});

const cases: [string, () => Response, string, number | undefined][] = [
  ["500", () => error(500, "application_error"), "transient", undefined],
  ["429 with Retry-After", () => error(429, "rate_limit_exceeded", { "retry-after": "7" }), "transient", 7],
  ["429 daily quota", () => error(429, "daily_quota_exceeded"), "transient", 3600],
  ["409 concurrent request", () => error(409, "concurrent_idempotent_requests"), "transient", undefined],
  [
    "409 key reused with another body",
    () => error(409, "invalid_idempotent_request"),
    "permanent",
    undefined,
  ],
  ["422 validation", () => error(422, "invalid_from_address"), "permanent", undefined],
  ["403 invalid key", () => error(403, "invalid_api_key"), "permanent", undefined],
];
for (const [what, respond, failure, retryAfter] of cases) {
  Deno.test(`sendResendEmail() classifies ${what} as ${failure}`, async () => {
    await withServer(respond, async (baseUrl) => {
      const r = await sendResendEmail({ apiKey: "re_x", baseUrl, timeoutMs: 2000 }, message, "k");
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.failure, failure);
      assert.equal(r.retry_after_s, retryAfter);
      assert.ok(r.error.message.includes(String(r.call.http_status)));
      assert.equal(r.call.error_code, r.error.code);
    });
  });
}

Deno.test("sendResendEmail() reports an unknown outcome when Resend does not answer in time", async () => {
  let release = () => {};
  const hang = new Promise<void>((resolve) => release = resolve);
  await withServer(async () => {
    await hang;
    return Response.json({ id: "late" });
  }, async (baseUrl) => {
    const r = await sendResendEmail({ apiKey: "re_x", baseUrl, timeoutMs: 100 }, message, "k");
    release();
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.failure, "unknown");
    assert.equal(r.error.code, "no_response");
    assert.equal(r.call.http_status, null);
  });
});

const account = (baseUrl: string, timeoutMs = 2000) => ({ apiKey: "re_x", baseUrl, timeoutMs });
const three = ["a:1:1", "b:2:1", "c:3:1"].map((runKey) => ({ message, runKey }));

Deno.test("sendResendBatch() sends one permissive batch with its key; an invalid email fails alone", async () => {
  await withServer(
    () =>
      Response.json({
        data: [{ id: "em_a" }, { id: "em_c" }],
        errors: [{ index: 1, message: "Invalid `to`" }],
      }),
    async (baseUrl, seen) => {
      const results = await sendResendBatch(account(baseUrl), three, "batch-k");
      assert.equal(seen.length, 1);
      assert.equal(seen[0].path, "/emails/batch");
      assert.equal(seen[0].headers.get("idempotency-key"), "batch-k");
      assert.equal(seen[0].headers.get("x-batch-validation"), "permissive");
      const body = JSON.parse(seen[0].body) as { tags: { name: string; value: string }[] }[];
      // Each email carries its run key, the way Resend's events name the run.
      assert.deepEqual(body.map((e) => e.tags.find((t) => t.name === "run_key")?.value), [
        "a_1_1",
        "b_2_1",
        "c_3_1",
      ]);
      assert.deepEqual(results.map((r) => r.ok ? r.provider_message_id : r.failure), [
        "em_a",
        "permanent",
        "em_c",
      ]);
      assert.ok(!results[1].ok && results[1].error.message.includes("Invalid `to`"));
    },
  );
});

Deno.test("sendResendBatch() gives every email the request's failure when Resend refuses the batch", async () => {
  await withServer(() => error(500, "application_error"), async (baseUrl) => {
    const results = await sendResendBatch(account(baseUrl), three, "batch-k");
    assert.deepEqual(results.map((r) => !r.ok && r.failure), ["transient", "transient", "transient"]);
  });
});

Deno.test("sendResendBatch() repeats a batch without an answer byte for byte, and takes the repeat's answer", async () => {
  let calls = 0;
  await withServer(async () => {
    if (++calls === 1) await new Promise((resolve) => setTimeout(resolve, 300));
    return Response.json({ data: [{ id: "em_a" }, { id: "em_b" }, { id: "em_c" }] });
  }, async (baseUrl, seen) => {
    const results = await sendResendBatch(account(baseUrl, 100), three, "batch-k");
    assert.deepEqual(results.map((r) => r.ok && r.provider_message_id), ["em_a", "em_b", "em_c"]);
    assert.equal(seen.length, 2);
    assert.equal(seen[1].body, seen[0].body);
    assert.equal(seen[1].headers.get("idempotency-key"), "batch-k");
  });
});

for (
  const [what, second] of [
    [
      "without an answer again",
      () => new Promise<Response>((resolve) => setTimeout(() => resolve(Response.json({})), 300)),
    ],
    [
      "with 'the first request is still running'",
      () => Promise.resolve(error(409, "concurrent_idempotent_requests")),
    ],
  ] as const
) {
  Deno.test(`sendResendBatch(): a repeat ${what} leaves every email unknown and not replay-safe`, async () => {
    let calls = 0;
    await withServer(async () => {
      if (++calls === 1) await new Promise((resolve) => setTimeout(resolve, 300));
      return await second();
    }, async (baseUrl) => {
      const results = await sendResendBatch(account(baseUrl, 100), three, "batch-k");
      for (const r of results) {
        assert.equal(r.ok, false);
        if (r.ok) continue;
        assert.equal(r.failure, "unknown");
        assert.equal(r.replay_safe, false);
      }
    });
  });
}

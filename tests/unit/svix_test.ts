// Unit tests for shared/webhooks/svix.ts: official Svix vectors, and every way verification must fail.
import assert from "node:assert/strict";
import { signSvix, verifySvix, WebhookVerificationError } from "../../shared/webhooks/svix.ts";

// Vector S1 (svix/svix-webhooks javascript/src/webhook.test.ts "sign function works"; providers.md §13.2).
const S1 = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  msgId: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: 1614265330,
  payload: '{"test": 2432232314}',
  expected: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

// Vector S2 (svix/svix-webhooks rust/src/webhooks.rs test_sign; providers.md §13.2).
const S2 = {
  secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
  msgId: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
  timestamp: 1649367553,
  payload: '{"email":"test@example.com","username":"test_user"}',
  expected: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
};

const bytes = (s: string) => new TextEncoder().encode(s);

function svixHeaders(id: string, timestamp: number | string, signature: string, brand = "svix"): Headers {
  return new Headers({
    [`${brand}-id`]: id,
    [`${brand}-timestamp`]: String(timestamp),
    [`${brand}-signature`]: signature,
  });
}

/** Options that verify S1 successfully; tests override one thing at a time. */
function s1Options(overrides: Partial<Parameters<typeof verifySvix>[0]> = {}) {
  return {
    secret: S1.secret,
    headers: svixHeaders(S1.msgId, S1.timestamp, S1.expected),
    rawBody: bytes(S1.payload),
    now: S1.timestamp * 1000,
    ...overrides,
  };
}

async function assertRejected(opts: Parameters<typeof verifySvix>[0], reason: string): Promise<void> {
  await assert.rejects(verifySvix(opts), (err: unknown) => {
    assert.ok(err instanceof WebhookVerificationError, `expected WebhookVerificationError, got ${err}`);
    assert.equal(err.reason, reason);
    return true;
  });
}

Deno.test("signSvix() reproduces official vector S1 when given its secret, id, timestamp and payload", async () => {
  assert.equal(await signSvix(S1.secret, S1.msgId, S1.timestamp, S1.payload), S1.expected);
});

Deno.test("signSvix() reproduces official vector S2 when given its secret, id, timestamp and payload", async () => {
  assert.equal(await signSvix(S2.secret, S2.msgId, S2.timestamp, S2.payload), S2.expected);
});

Deno.test("signSvix() gives the same signature when the payload is bytes instead of a string", async () => {
  assert.equal(await signSvix(S1.secret, S1.msgId, S1.timestamp, bytes(S1.payload)), S1.expected);
});

Deno.test("signSvix() gives the same signature when the secret has no whsec_ prefix", async () => {
  assert.equal(
    await signSvix(S1.secret.slice("whsec_".length), S1.msgId, S1.timestamp, S1.payload),
    S1.expected,
  );
});

Deno.test("signSvix() throws TypeError when the secret is empty or not base64", async () => {
  await assert.rejects(signSvix("", S1.msgId, S1.timestamp, S1.payload), TypeError);
  await assert.rejects(signSvix("whsec_", S1.msgId, S1.timestamp, S1.payload), TypeError);
  await assert.rejects(signSvix("whsec_not base64!", S1.msgId, S1.timestamp, S1.payload), TypeError);
});

Deno.test("signSvix() throws RangeError when the timestamp is not whole seconds", async () => {
  await assert.rejects(signSvix(S1.secret, S1.msgId, 1614265330.5, S1.payload), RangeError);
  await assert.rejects(signSvix(S1.secret, S1.msgId, -1, S1.payload), RangeError);
  await assert.rejects(signSvix(S1.secret, S1.msgId, NaN, S1.payload), RangeError);
});

Deno.test("verifySvix() accepts vector S1 when the clock is injected at its timestamp", async () => {
  assert.deepEqual(await verifySvix(s1Options()), { id: S1.msgId, timestamp: S1.timestamp });
});

Deno.test("verifySvix() accepts vector S2 when the clock is injected at its timestamp", async () => {
  const result = await verifySvix({
    secret: S2.secret,
    headers: svixHeaders(S2.msgId, S2.timestamp, S2.expected),
    rawBody: bytes(S2.payload),
    now: S2.timestamp * 1000,
  });
  assert.deepEqual(result, { id: S2.msgId, timestamp: S2.timestamp });
});

Deno.test("verifySvix() accepts when the unbranded webhook-* headers are used", async () => {
  const headers = svixHeaders(S1.msgId, S1.timestamp, S1.expected, "webhook");
  assert.deepEqual(await verifySvix(s1Options({ headers })), { id: S1.msgId, timestamp: S1.timestamp });
});

Deno.test("verifySvix() rejects when a single byte of the body is flipped", async () => {
  const rawBody = bytes(S1.payload);
  rawBody[10] ^= 0x01;
  await assertRejected(s1Options({ rawBody }), "no matching signature");
});

Deno.test("verifySvix() rejects when the body is re-serialised JSON rather than the raw bytes", async () => {
  const rawBody = bytes(JSON.stringify(JSON.parse(S1.payload)));
  await assertRejected(s1Options({ rawBody }), "no matching signature");
});

Deno.test("verifySvix() rejects when the secret is a different valid key", async () => {
  await assertRejected(s1Options({ secret: S2.secret }), "no matching signature");
});

Deno.test("verifySvix() rejects when the message id was changed", async () => {
  const headers = svixHeaders("msg_other", S1.timestamp, S1.expected);
  await assertRejected(s1Options({ headers }), "no matching signature");
});

Deno.test("verifySvix() rejects as too old when the timestamp is more than 300 s in the past", async () => {
  await assertRejected(s1Options({ now: (S1.timestamp + 301) * 1000 }), "timestamp too old");
});

Deno.test("verifySvix() accepts when the timestamp is exactly 300 s old or 300 s ahead", async () => {
  await verifySvix(s1Options({ now: (S1.timestamp + 300) * 1000 + 999 }));
  await verifySvix(s1Options({ now: (S1.timestamp - 300) * 1000 }));
});

Deno.test("verifySvix() rejects as too new when the timestamp is more than 300 s in the future", async () => {
  await assertRejected(s1Options({ now: (S1.timestamp - 301) * 1000 }), "timestamp too new");
});

Deno.test("verifySvix() applies a custom tolerance when toleranceSeconds is given", async () => {
  await assertRejected(
    s1Options({ now: (S1.timestamp + 61) * 1000, toleranceSeconds: 60 }),
    "timestamp too old",
  );
  await verifySvix(s1Options({ now: (S1.timestamp + 60) * 1000, toleranceSeconds: 60 }));
});

Deno.test("verifySvix() uses Date.now() when now is not given", async () => {
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = await signSvix(S1.secret, S1.msgId, timestamp, S1.payload);
  const headers = svixHeaders(S1.msgId, timestamp, signature);
  assert.deepEqual(await verifySvix({ secret: S1.secret, headers, rawBody: bytes(S1.payload) }), {
    id: S1.msgId,
    timestamp,
  });
  await assertRejected(s1Options({ now: undefined }), "timestamp too old");
});

Deno.test("verifySvix() rejects when the header holds only a v2 entry with the correct signature", async () => {
  const headers = svixHeaders(S1.msgId, S1.timestamp, S1.expected.replace(/^v1,/, "v2,"));
  await assertRejected(s1Options({ headers }), "no matching signature");
});

Deno.test("verifySvix() accepts when the second of several v1 entries is correct", async () => {
  const wrong = "v1,Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=";
  const headers = svixHeaders(S1.msgId, S1.timestamp, `${wrong} ${S1.expected}`);
  assert.deepEqual(await verifySvix(s1Options({ headers })), { id: S1.msgId, timestamp: S1.timestamp });
});

Deno.test("verifySvix() accepts when a v2 entry and malformed entries precede the correct v1 entry", async () => {
  const sig = S1.expected.slice(3);
  const headers = svixHeaders(S1.msgId, S1.timestamp, `v2,${sig}  garbage v1,*** v1, ${S1.expected}`);
  await verifySvix(s1Options({ headers }));
});

Deno.test("verifySvix() rejects when the v1 signature is truncated or padded to another length", async () => {
  const truncated = svixHeaders(S1.msgId, S1.timestamp, S1.expected.slice(0, 20) + "==");
  await assertRejected(s1Options({ headers: truncated }), "no matching signature");
  const longer = svixHeaders(S1.msgId, S1.timestamp, S1.expected.slice(0, -1) + "AAAA");
  await assertRejected(s1Options({ headers: longer }), "no matching signature");
});

Deno.test("verifySvix() rejects with missing headers when any of id, timestamp or signature is absent", async () => {
  for (const name of ["svix-id", "svix-timestamp", "svix-signature"]) {
    const headers = svixHeaders(S1.msgId, S1.timestamp, S1.expected);
    headers.delete(name);
    await assertRejected(s1Options({ headers }), "missing headers");
  }
  await assertRejected(s1Options({ headers: new Headers() }), "missing headers");
});

Deno.test("verifySvix() rejects with missing headers when svix-* and webhook-* headers are mixed", async () => {
  const headers = new Headers({
    "svix-id": S1.msgId,
    "svix-timestamp": String(S1.timestamp),
    "webhook-signature": S1.expected,
  });
  await assertRejected(s1Options({ headers }), "missing headers");
});

Deno.test("verifySvix() rejects with invalid timestamp when the timestamp header is not an integer", async () => {
  for (const ts of ["abc", "1614265330.0", "-1614265330", "1e9", " 1614265330x"]) {
    await assertRejected(s1Options({ headers: svixHeaders(S1.msgId, ts, S1.expected) }), "invalid timestamp");
  }
});

Deno.test("verifySvix() rejects with invalid secret when the secret is empty, bare prefix or not base64", async () => {
  for (const secret of ["", "whsec_", "whsec_***", undefined as unknown as string]) {
    await assertRejected(s1Options({ secret }), "invalid secret");
  }
});

Deno.test("verifySvix() throws RangeError when toleranceSeconds is negative", async () => {
  await assert.rejects(verifySvix(s1Options({ toleranceSeconds: -1 })), RangeError);
});

Deno.test("WebhookVerificationError() exposes the reason when constructed", () => {
  const err = new WebhookVerificationError("timestamp too old");
  assert.ok(err instanceof Error);
  assert.equal(err.name, "WebhookVerificationError");
  assert.equal(err.reason, "timestamp too old");
  assert.equal(err.message, "Cannot verify webhook: timestamp too old");
});

Deno.test("verifySvix() rejects when the signature's last base64 character has a flipped padding bit", async () => {
  // "…OE=" → "…OF=": the low bits of the last character are padding, so it decodes to the same bytes;
  // the official libraries compare the base64 text and refuse it, and so must we.
  const nonCanonical = S1.expected.replace(/E=$/, "F=");
  assert.notEqual(nonCanonical, S1.expected);
  await assertRejected(
    s1Options({ headers: svixHeaders(S1.msgId, S1.timestamp, nonCanonical) }),
    "no matching signature",
  );
});

// SendGrid (ECDSA P-256) and Mailgun (HMAC-SHA256) webhook signatures against the official vectors
// (providers.md §13.3, §13.5/§14) and their negative cases.
import assert from "node:assert/strict";
import { signMailgun, verifyMailgun } from "../../shared/webhooks/mailgun.ts";
import {
  derToRawSignature,
  rawToDerSignature,
  signSendGrid,
  verifySendGrid,
} from "../../shared/webhooks/sendgrid.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

// sendgrid/sendgrid-nodejs@498e2329 packages/eventwebhook/src/eventwebhook.spec.js
const PUBLIC_KEY =
  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
const SIGNATURE =
  "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
const TIMESTAMP = "1600112502";
const PAYLOAD = JSON.stringify([{
  email: "hello@world.com",
  event: "dropped",
  reason: "Bounced Address",
  sg_event_id: "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
  sg_message_id: "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
  "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
  timestamp: 1600112492,
}]) + "\r\n";

const PUBLIC_KEY_MULTIPLE =
  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ4LIFtWztlsF7skFqOncjD1lun4H5w8XOhyOArHW9RcIx/FfEzx6cikC/yPfUvwaX/JScE7Fc9CJD2afQ9Ok3Q==";
const SIGNATURE_MULTIPLE =
  "MEYCIQC/I4o6vCgqRYrTljjoVWB/GRWNtxeePlLMHr3x9ETeRQIhAIpV+03nREPTTHWSW0wIOA0EoMPdcNgXa70yCaqDJlu5";
const TIMESTAMP_MULTIPLE = "1619651159";
const PAYLOAD_MULTIPLE = JSON.stringify([
  {
    email: "invalid@gmail.com",
    event: "processed",
    send_at: 0,
    sg_event_id: "cHJvY2Vzc2VkLTE5OTQyMTEyLXFOd0JMZ1BRUWpXNkRKdktRd1NBYnctMA",
    sg_message_id: "qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0",
    "smtp-id": "<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>",
    timestamp: 1619651146,
  },
  {
    email: "invalid@gmail.com",
    event: "bounce",
    ip: "167.89.101.76",
    reason:
      "552 5.2.2 The email account that you tried to reach is over quota and inactive. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm c17si1130468pgv.34 - gsmtp",
    sg_event_id: "Ym91bmNlLTAtMTk5NDIxMTItcU53QkxnUFFRalc2REp2S1F3U0Fidy0w",
    sg_message_id: "qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0",
    "smtp-id": "<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>",
    status: "5.2.2",
    timestamp: 1619651147,
    tls: 1,
    type: "blocked",
  },
]).split("},{").join("},\r\n{") + "\r\n";

const OTHER_PUBLIC_KEY =
  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";

Deno.test("verifySendGrid() accepts the official single-event vector", async () => {
  assert.equal(await verifySendGrid(PUBLIC_KEY, SIGNATURE, TIMESTAMP, bytes(PAYLOAD)), true);
});

Deno.test("verifySendGrid() accepts the official multiple-events vector", async () => {
  assert.equal(
    await verifySendGrid(
      PUBLIC_KEY_MULTIPLE,
      SIGNATURE_MULTIPLE,
      TIMESTAMP_MULTIPLE,
      bytes(PAYLOAD_MULTIPLE),
    ),
    true,
  );
});

Deno.test("verifySendGrid() refuses another public key, a tampered payload, signature or timestamp", async () => {
  assert.equal(await verifySendGrid(OTHER_PUBLIC_KEY, SIGNATURE, TIMESTAMP, bytes(PAYLOAD)), false);
  assert.equal(
    await verifySendGrid(PUBLIC_KEY, SIGNATURE, TIMESTAMP, bytes(PAYLOAD.replace("dropped", "bounce"))),
    false,
  );
  assert.equal(await verifySendGrid(PUBLIC_KEY, SIGNATURE, TIMESTAMP, bytes(PAYLOAD.trimEnd())), false);
  const tampered = SIGNATURE.replace("MEUCIGHQ", "MEUCIGHR");
  assert.equal(await verifySendGrid(PUBLIC_KEY, tampered, TIMESTAMP, bytes(PAYLOAD)), false);
  assert.equal(await verifySendGrid(PUBLIC_KEY, SIGNATURE, "1600112503", bytes(PAYLOAD)), false);
  // The signature of the other vector, and garbage, are refused without throwing.
  assert.equal(await verifySendGrid(PUBLIC_KEY, SIGNATURE_MULTIPLE, TIMESTAMP, bytes(PAYLOAD)), false);
  assert.equal(await verifySendGrid(PUBLIC_KEY, "not base64!", TIMESTAMP, bytes(PAYLOAD)), false);
  assert.equal(await verifySendGrid("bm90IGEga2V5", SIGNATURE, TIMESTAMP, bytes(PAYLOAD)), false);
});

Deno.test("derToRawSignature() is what WebCrypto needs: the DER bytes as they are do not verify", async () => {
  const der = Uint8Array.from(atob(SIGNATURE), (c) => c.charCodeAt(0));
  const key = await crypto.subtle.importKey(
    "spki",
    Uint8Array.from(atob(PUBLIC_KEY), (c) => c.charCodeAt(0)),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  const data = bytes(TIMESTAMP + PAYLOAD);
  assert.equal(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, der, data), false);
  const raw = derToRawSignature(der)!;
  assert.equal(raw.length, 64);
  assert.equal(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, raw, data), true);
  assert.deepEqual(rawToDerSignature(raw), der);
});

Deno.test("signSendGrid() produces DER signatures verifySendGrid() accepts with the matching public key", async () => {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const publicKey = btoa(String.fromCharCode(...spki));
  const body = bytes('[{"event":"delivered"}]\r\n');
  // Many signatures, so short r or s values (leading zero bytes) are exercised too.
  for (let i = 0; i < 40; i++) {
    const signature = await signSendGrid(pair.privateKey, String(1700000000 + i), body);
    assert.equal(await verifySendGrid(publicKey, signature, String(1700000000 + i), body), true);
    assert.equal(await verifySendGrid(publicKey, signature, String(1700000001 + i), body), false);
  }
});

// mailgun/mailgun-go@d7f2dd4 webhooks_test.go inputs; expected value from providers.md §14.
Deno.test("signMailgun() reproduces the mailgun-go vector", async () => {
  assert.equal(
    await signMailgun("WEBHOOK_SIGNING_KEY", "123456789", "token"),
    "be636525fcbffba547491ce8a6ff04cbfbf0811aa7031db14147de41be62ffe0",
  );
});

Deno.test("verifyMailgun() accepts the vector at its time and refuses wrong keys, tokens and stale timestamps", async () => {
  const sig = {
    timestamp: "123456789",
    token: "token",
    signature: "be636525fcbffba547491ce8a6ff04cbfbf0811aa7031db14147de41be62ffe0",
  };
  const at = 123456789_000;
  assert.equal(await verifyMailgun("WEBHOOK_SIGNING_KEY", sig, at), null);
  assert.equal(await verifyMailgun("OTHER_KEY", sig, at), "bad signature");
  assert.equal(await verifyMailgun("WEBHOOK_SIGNING_KEY", { ...sig, token: "tokem" }, at), "bad signature");
  assert.equal(
    await verifyMailgun("WEBHOOK_SIGNING_KEY", { ...sig, timestamp: "123456790" }, at),
    "bad signature",
  );
  assert.equal(await verifyMailgun("WEBHOOK_SIGNING_KEY", sig, at + 301_000), "timestamp too old");
  assert.equal(await verifyMailgun("WEBHOOK_SIGNING_KEY", sig, at - 301_000), "timestamp too new");
  assert.equal(
    await verifyMailgun("WEBHOOK_SIGNING_KEY", { ...sig, timestamp: "12e4" }, at),
    "invalid timestamp",
  );
});

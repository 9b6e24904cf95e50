// Calendly and Acuity webhook signatures against the derived vectors of providers.md §14, and forgeries.
import assert from "node:assert/strict";
import { AcuitySignatureError, signAcuity, verifyAcuity } from "../../shared/webhooks/acuity.ts";
import { CalendlySignatureError, signCalendly, verifyCalendly } from "../../shared/webhooks/calendly.ts";

const enc = (s: string) => new TextEncoder().encode(s);

// providers.md §14 (derived with Node crypto; not vendor-published).
const CALENDLY = {
  key: "test_signing_key",
  t: 1700000000,
  body: '{"event":"invitee.created","payload":{}}',
  header: "t=1700000000,v1=547244bc7adc5e9c023363b3ecea2a6595733afc0865dce490224fb788f25c72",
};
const ACUITY = {
  key: "API_KEY_TEST",
  body: "action=scheduled&id=123&calendarID=1&appointmentTypeID=2",
  signature: "pcFk/FAKm9M93ztApzge1CpOdOuRnVF3SA3MBf7LAYo=",
};

const verifyAt = (header: string | null, opts: { body?: string; key?: string; nowS?: number } = {}) =>
  verifyCalendly({
    signingKey: opts.key ?? CALENDLY.key,
    header,
    rawBody: enc(opts.body ?? CALENDLY.body),
    now: (opts.nowS ?? CALENDLY.t) * 1000,
  });

async function rejects(work: Promise<unknown>, reason: RegExp, type: new (...a: never[]) => Error) {
  await assert.rejects(work, (e: unknown) => e instanceof type && reason.test((e as Error).message));
}

Deno.test("signCalendly() reproduces the derived vector when given its key, time and body", async () => {
  assert.equal(await signCalendly(CALENDLY.key, CALENDLY.t, CALENDLY.body), CALENDLY.header);
});

Deno.test("verifyCalendly() accepts the derived vector when checked at its own time", async () => {
  assert.equal(await verifyAt(CALENDLY.header), CALENDLY.t);
});

Deno.test("verifyCalendly() accepts the vector at the edge of the 3-minute window and refuses it one second later", async () => {
  assert.equal(await verifyAt(CALENDLY.header, { nowS: CALENDLY.t + 180 }), CALENDLY.t);
  await rejects(verifyAt(CALENDLY.header, { nowS: CALENDLY.t + 181 }), /tolerance/, CalendlySignatureError);
  await rejects(verifyAt(CALENDLY.header, { nowS: CALENDLY.t - 181 }), /tolerance/, CalendlySignatureError);
});

Deno.test("verifyCalendly() refuses a tampered body, a wrong key or a tampered signature", async () => {
  await rejects(
    verifyAt(CALENDLY.header, { body: CALENDLY.body.replace("{}", '{"x":1}') }),
    /no matching/,
    CalendlySignatureError,
  );
  await rejects(verifyAt(CALENDLY.header, { key: "other_key" }), /no matching/, CalendlySignatureError);
  await rejects(verifyAt(CALENDLY.header.replace(/.$/, "d")), /no matching/, CalendlySignatureError);
  // The timestamp is signed: moving it invalidates the signature.
  await rejects(
    verifyAt(CALENDLY.header.replace("t=1700000000", "t=1700000001")),
    /no matching/,
    CalendlySignatureError,
  );
});

Deno.test("verifyCalendly() refuses missing, malformed or keyless input", async () => {
  await rejects(verifyAt(null), /missing/, CalendlySignatureError);
  await rejects(verifyAt("t=1700000000"), /no v1/, CalendlySignatureError);
  await rejects(verifyAt("v1=547244bc"), /invalid timestamp/, CalendlySignatureError);
  await rejects(verifyAt("t=abc,v1=00"), /invalid timestamp/, CalendlySignatureError);
  await rejects(verifyAt(CALENDLY.header, { key: "" }), /no signing key/, CalendlySignatureError);
});

Deno.test("verifyCalendly() accepts when any of several v1 signatures matches", async () => {
  const [t, v1] = CALENDLY.header.split(",");
  assert.equal(await verifyAt(`${t},v1=${"0".repeat(64)},${v1}`), CALENDLY.t);
});

Deno.test("signAcuity() reproduces the derived vector when given its API key and form body", async () => {
  assert.equal(await signAcuity(ACUITY.key, ACUITY.body), ACUITY.signature);
});

Deno.test("verifyAcuity() accepts the derived vector and refuses tampering, a wrong key or no header", async () => {
  await verifyAcuity({ apiKey: ACUITY.key, header: ACUITY.signature, rawBody: enc(ACUITY.body) });
  const bad = [
    { apiKey: ACUITY.key, header: ACUITY.signature, rawBody: enc(ACUITY.body.replace("123", "124")) },
    { apiKey: "OTHER", header: ACUITY.signature, rawBody: enc(ACUITY.body) },
    { apiKey: ACUITY.key, header: null, rawBody: enc(ACUITY.body) },
    { apiKey: undefined, header: ACUITY.signature, rawBody: enc(ACUITY.body) },
    { apiKey: ACUITY.key, header: ACUITY.signature.toLowerCase(), rawBody: enc(ACUITY.body) },
  ];
  for (const input of bad) await rejects(verifyAcuity(input), /./, AcuitySignatureError);
});

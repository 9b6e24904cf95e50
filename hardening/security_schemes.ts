// Every signature scheme the product verifies, as one table: its official (or derived) vector, how to sign
// a fresh request, how the product verifies it, and generated tampering (single-bit flips of body,
// signature, timestamp and header names; stale and future timestamps) that must all be refused.
import { SignJWT } from "jose";
import { INVOKE_TOKEN, requireInvokeToken } from "../shared/http/auth.ts";
import { signLinkToken, verifyLinkToken } from "../shared/links/tokens.ts";
import { signOAuthState, verifyOAuthState } from "../shared/modules/meeting/oauth_state.ts";
import { SENDGRID_TOLERANCE_S } from "../shared/modules/email/sendgrid_webhook.ts";
import { HttpError } from "../shared/http/errors.ts";
import { AcuitySignatureError, signAcuity, verifyAcuity } from "../shared/webhooks/acuity.ts";
import {
  CALENDLY_TOLERANCE_SECONDS,
  CalendlySignatureError,
  signCalendly,
  verifyCalendly,
} from "../shared/webhooks/calendly.ts";
import { sha256, toBase64, toHex } from "../shared/webhooks/hmac.ts";
import { signMailgun, verifyMailgun } from "../shared/webhooks/mailgun.ts";
import { signMeta, verifyMeta } from "../shared/webhooks/meta.ts";
import { signSendGrid, verifySendGrid } from "../shared/webhooks/sendgrid.ts";
import { signSvix, verifySvix, WebhookVerificationError } from "../shared/webhooks/svix.ts";
import { formParams, signTwilio, verifyTwilio } from "../shared/webhooks/twilio.ts";
import { signTypeform, verifyTypeform } from "../shared/webhooks/typeform.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A request as a scheme sees it: the raw body and the values that travel beside it. `headers` holds
 * real HTTP headers; `fields` holds signed values that are not headers (Twilio's URL, Mailgun's
 * signature object in the body), so only real header names are tampered with.
 */
export type SignedRequest = {
  body: Uint8Array;
  headers: Record<string, string>;
  fields: Record<string, string>;
};

/** What a verifier answered: accepted, refused with its documented error, or threw something else (a bug). */
export type Verdict = "accepted" | "rejected" | "threw";

/** One signature scheme under test. */
export type Scheme = {
  name: string;
  /** Checks the scheme's official (or providers.md derived) vectors; throws when one does not reproduce. */
  vectors: () => Promise<number>;
  /** Signs a fresh request whose signed time is `at` (Unix ms). */
  sign: (at: number, secret?: string) => Promise<SignedRequest>;
  /** Verifies as the product does, at `now` (Unix ms), with `secret` (defaults to the signing one). */
  verify: (req: SignedRequest, now: number, secret?: string) => Promise<Verdict>;
  /** A second valid secret of the right shape (a foreign account's). */
  otherSecret: string;
  /** Secrets of a wrong shape that must never make a request verify. */
  badSecrets: unknown[];
  /** Header or field holding the signature, and the one holding the signed time (if any). */
  signatureIn: string;
  timestampIn?: string;
  /** Replay window in seconds (signed timestamps, or a token's lifetime); undefined when nothing is signed in time. */
  windowSeconds?: number;
  /** Whether a signed time in the future beyond the window is refused too (tokens only expire). */
  refusesFuture?: boolean;
  /** Whether the signature's letters may change case without changing its meaning (hex digests). */
  caseInsensitive?: boolean;
  /** Whether the body is covered (Mailgun signs only timestamp + token). */
  bodySigned: boolean;
  /**
   * Whether two signature texts are one value in two encodings (the padding bits of base64 decode to
   * nothing, and the verifiers the providers publish decode leniently): such a flip is not tampering.
   */
  sameSignature?: (a: string, b: string) => boolean;
  /** Whether two bodies carry the same signed content (form encoding: `%2B` and `%2b` are one byte). */
  sameBody?: (a: Uint8Array, b: Uint8Array) => boolean;
};

/** Bytes of standard or URL-safe base64 (lenient, as atob is), or null when not base64 at all. */
function base64Bytes(text: string): string | null {
  try {
    return atob(text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, ""));
  } catch {
    return null;
  }
}

/** Whether two base64 texts decode to the same bytes. */
function sameBase64(a: string, b: string): boolean {
  const x = base64Bytes(a);
  return x !== null && x === base64Bytes(b);
}

/** Whether two JWTs have the same bytes in every segment. */
function sameJwt(a: string, b: string): boolean {
  const [x, y] = [a.split("."), b.split(".")];
  return x.length === y.length && x.every((part, i) => sameBase64(part, y[i]));
}

/** Maps a verifier's own refusal to "rejected"; anything else it throws is "threw". */
async function verdict(
  check: () => Promise<unknown>,
  refusals: (new (...a: never[]) => Error)[],
): Promise<Verdict> {
  try {
    const ok = await check();
    return ok === false || ok === null ? "rejected" : "accepted";
  } catch (error) {
    return refusals.some((r) => error instanceof r) ? "rejected" : "threw";
  }
}

function assertVector(what: string, actual: string, expected: string): void {
  if (actual !== expected) throw new Error(`${what}: expected ${expected}, got ${actual}`);
}

const S1 = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  t: 1614265330,
  body: '{"test": 2432232314}',
  expected: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};
const S2 = {
  secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
  id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
  t: 1649367553,
  body: '{"email":"test@example.com","username":"test_user"}',
  expected: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
};

/** Svix (Resend) with `svix-*` headers, or Standard Webhooks (our CRM webhooks) with `webhook-*`. */
function svixScheme(name: string, brand: "svix" | "webhook"): Scheme {
  return {
    name,
    vectors: async () => {
      for (const v of [S1, S2]) {
        assertVector(`${name} sign`, await signSvix(v.secret, v.id, v.t, v.body), v.expected);
        const headers = new Headers({
          [`${brand}-id`]: v.id,
          [`${brand}-timestamp`]: String(v.t),
          [`${brand}-signature`]: v.expected,
        });
        await verifySvix({ secret: v.secret, headers, rawBody: encoder.encode(v.body), now: v.t * 1000 });
      }
      return 2;
    },
    sign: async (at, secret = S1.secret) => {
      const body = encoder.encode('{"type":"email.delivered","created_at":"2026-11-26T00:00:00Z","data":{}}');
      const t = Math.floor(at / 1000);
      return {
        body,
        headers: {
          [`${brand}-id`]: "msg_hardening_0001",
          [`${brand}-timestamp`]: String(t),
          [`${brand}-signature`]: await signSvix(secret, "msg_hardening_0001", t, body),
        },
        fields: {},
      };
    },
    verify: (req, now, secret = S1.secret) =>
      verdict(
        () => verifySvix({ secret, headers: new Headers(req.headers), rawBody: req.body, now }),
        [WebhookVerificationError],
      ),
    otherSecret: S2.secret,
    badSecrets: ["", "whsec_", "whsec_not base64!", 42, null, undefined, { secret: S1.secret }],
    signatureIn: `${brand}-signature`,
    timestampIn: `${brand}-timestamp`,
    windowSeconds: 300,
    bodySigned: true,
  };
}

const TWILIO_TOKEN = "12345";
const TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2";
const TWILIO_PARAMS = {
  CallSid: "CA1234567890ABCDE",
  Caller: "+14158675309",
  Digits: "1234",
  From: "+14158675309",
  To: "+18005551212",
};

const twilioForm: Scheme = {
  name: "Twilio (form)",
  vectors: async () => {
    assertVector(
      "Twilio T1",
      await signTwilio(TWILIO_TOKEN, TWILIO_URL, TWILIO_PARAMS),
      "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
    );
    return 1;
  },
  sign: async (_at, secret = TWILIO_TOKEN) => {
    const body = new URLSearchParams(TWILIO_PARAMS).toString();
    return {
      body: encoder.encode(body),
      headers: { "x-twilio-signature": await signTwilio(secret, TWILIO_URL, TWILIO_PARAMS) },
      fields: { url: TWILIO_URL },
    };
  },
  verify: (req, _now, secret = TWILIO_TOKEN) =>
    verdict(() =>
      verifyTwilio({
        authToken: secret as string,
        signature: req.headers["x-twilio-signature"] ?? null,
        url: req.fields.url,
        params: formParams(new URLSearchParams(decoder.decode(req.body))),
      }), []),
  otherSecret: "54321",
  badSecrets: ["", 67890, null, undefined, { auth_token: TWILIO_TOKEN }],
  signatureIn: "x-twilio-signature",
  bodySigned: true,
  sameBody: (a, b) =>
    JSON.stringify(formParams(new URLSearchParams(decoder.decode(a)))) ===
      JSON.stringify(formParams(new URLSearchParams(decoder.decode(b)))),
};

const TWILIO_JSON = '{"property": "value", "boolean": true}';
const twilioJson: Scheme = {
  name: "Twilio (JSON body)",
  vectors: async () => {
    const hash = toHex(await sha256(TWILIO_JSON));
    assertVector(
      "Twilio bodySHA256",
      hash,
      "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620",
    );
    assertVector(
      "Twilio JSON",
      await signTwilio(TWILIO_TOKEN, `${TWILIO_URL}&bodySHA256=${hash}`),
      "a9nBmqA0ju/hNViExpshrM61xv4=",
    );
    return 2;
  },
  sign: async (_at, secret = TWILIO_TOKEN) => {
    const url = `${TWILIO_URL}&bodySHA256=${toHex(await sha256(TWILIO_JSON))}`;
    return {
      body: encoder.encode(TWILIO_JSON),
      headers: { "x-twilio-signature": await signTwilio(secret, url) },
      fields: { url },
    };
  },
  verify: (req, _now, secret = TWILIO_TOKEN) =>
    verdict(() =>
      verifyTwilio({
        authToken: secret as string,
        signature: req.headers["x-twilio-signature"] ?? null,
        url: req.fields.url,
        jsonBody: req.body,
      }), []),
  otherSecret: "54321",
  badSecrets: ["", 67890, null, undefined],
  signatureIn: "x-twilio-signature",
  bodySigned: true,
};

/** A scheme whose only signed input is the raw body, signed into one header (Meta, Acuity, Typeform). */
function bodyHeaderScheme(opts: {
  name: string;
  header: string;
  secret: string;
  otherSecret: string;
  body: string;
  expected: string;
  sign: (secret: string, body: string) => Promise<string>;
  /** The product's verifier: true/void when valid, false or a thrown refusal when not. */
  verify: (secret: string, header: string | null, body: Uint8Array) => Promise<unknown>;
  refusals: (new (...a: never[]) => Error)[];
  caseInsensitive?: boolean;
}): Scheme {
  return {
    name: opts.name,
    vectors: async () => {
      assertVector(opts.name, await opts.sign(opts.secret, opts.body), opts.expected);
      return 1;
    },
    sign: async (_at, secret = opts.secret) => ({
      body: encoder.encode(opts.body),
      headers: { [opts.header]: await opts.sign(secret, opts.body) },
      fields: {},
    }),
    verify: (req, _now, secret = opts.secret) =>
      verdict(() => opts.verify(secret, req.headers[opts.header] ?? null, req.body), opts.refusals),
    otherSecret: opts.otherSecret,
    badSecrets: ["", 7, null, undefined],
    signatureIn: opts.header,
    caseInsensitive: opts.caseInsensitive,
    bodySigned: true,
  };
}

// The official WhatsApp SDK vector (secret and body) and the providers.md derived vectors.
const meta = bodyHeaderScheme({
  name: "Meta (WhatsApp)",
  header: "x-hub-signature-256",
  secret: "TEST_APP_SECRET",
  otherSecret: "my_app_secret",
  body: "test",
  expected: "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221",
  sign: signMeta,
  verify: (secret, header, body) => verifyMeta(secret, body, header),
  refusals: [],
  caseInsensitive: true,
});

const acuity = bodyHeaderScheme({
  name: "Acuity",
  header: "x-acuity-signature",
  secret: "API_KEY_TEST",
  otherSecret: "API_KEY_OTHER",
  body: "action=scheduled&id=123&calendarID=1&appointmentTypeID=2",
  expected: "pcFk/FAKm9M93ztApzge1CpOdOuRnVF3SA3MBf7LAYo=",
  sign: signAcuity,
  verify: (apiKey, header, rawBody) => verifyAcuity({ apiKey, header, rawBody }),
  refusals: [AcuitySignatureError],
});

const typeform = bodyHeaderScheme({
  name: "Typeform",
  header: "typeform-signature",
  secret: "abc123",
  otherSecret: "xyz789",
  body: '{"event_id":"01","event_type":"form_response"}',
  expected: "sha256=Mgx2tuqaRER0+NyBYHTDsOQnB7BUTbjh0dlCFRG9BSQ=",
  sign: signTypeform,
  verify: verifyTypeform,
  refusals: [WebhookVerificationError],
});

const calendly: Scheme = {
  name: "Calendly",
  vectors: async () => {
    assertVector(
      "Calendly derived",
      await signCalendly("test_signing_key", 1700000000, '{"event":"invitee.created","payload":{}}'),
      "t=1700000000,v1=547244bc7adc5e9c023363b3ecea2a6595733afc0865dce490224fb788f25c72",
    );
    return 1;
  },
  sign: async (at, secret = "test_signing_key") => {
    const body = encoder.encode('{"event":"invitee.created","payload":{}}');
    const header = await signCalendly(secret, Math.floor(at / 1000), body);
    return { body, headers: { "calendly-webhook-signature": header }, fields: {} };
  },
  verify: (req, now, secret = "test_signing_key") =>
    verdict(
      () =>
        verifyCalendly({
          signingKey: secret as string,
          header: req.headers["calendly-webhook-signature"] ?? null,
          rawBody: req.body,
          now,
        }),
      [CalendlySignatureError],
    ),
  otherSecret: "another_signing_key",
  badSecrets: ["", 0, null, undefined],
  signatureIn: "calendly-webhook-signature",
  timestampIn: "calendly-webhook-signature",
  windowSeconds: CALENDLY_TOLERANCE_SECONDS,
  caseInsensitive: true,
  bodySigned: true,
};

const mailgun: Scheme = {
  name: "Mailgun",
  vectors: async () => {
    assertVector(
      "Mailgun derived",
      await signMailgun("WEBHOOK_SIGNING_KEY", "123456789", "token"),
      "be636525fcbffba547491ce8a6ff04cbfbf0811aa7031db14147de41be62ffe0",
    );
    return 1;
  },
  sign: async (at, secret = "WEBHOOK_SIGNING_KEY") => {
    const timestamp = String(Math.floor(at / 1000));
    const token = "3f1c2a9b8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c";
    return {
      body: new Uint8Array(),
      headers: {},
      fields: { timestamp, token, signature: await signMailgun(secret, timestamp, token) },
    };
  },
  verify: (req, now, secret = "WEBHOOK_SIGNING_KEY") =>
    verdict(() =>
      verifyMailgun(secret as string, {
        timestamp: req.fields.timestamp,
        token: req.fields.token,
        signature: req.fields.signature,
      }, now).then((rejection) => rejection === null), [TypeError]),
  otherSecret: "OTHER_SIGNING_KEY",
  badSecrets: ["", null, undefined],
  signatureIn: "signature",
  timestampIn: "timestamp",
  windowSeconds: 300,
  caseInsensitive: true,
  bodySigned: false,
};

/** A P-256 key pair standing in for SendGrid's (its private key is not published); the vectors use its public keys. */
const sendgridKeys = crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
  "sign",
  "verify",
]);
const sendgridPublic = sendgridKeys.then(async (k) =>
  toBase64(new Uint8Array(await crypto.subtle.exportKey("spki", k.publicKey)))
);
const SENDGRID_VECTOR = {
  key:
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==",
  signature:
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=",
  timestamp: "1600112502",
  payload:
    '[{"email":"hello@world.com","event":"dropped","reason":"Bounced Address","sg_event_id":"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA","sg_message_id":"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0","smtp-id":"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>","timestamp":1600112492}]\r\n',
};

const sendgrid: Scheme = {
  name: "SendGrid (ECDSA)",
  vectors: async () => {
    const v = SENDGRID_VECTOR;
    if (!(await verifySendGrid(v.key, v.signature, v.timestamp, encoder.encode(v.payload)))) {
      throw new Error("SendGrid official vector does not verify");
    }
    return 1;
  },
  sign: async (at) => {
    const body = encoder.encode(SENDGRID_VECTOR.payload);
    const timestamp = String(Math.floor(at / 1000));
    return {
      body,
      headers: {
        "x-twilio-email-event-webhook-signature": await signSendGrid(
          (await sendgridKeys).privateKey,
          timestamp,
          body,
        ),
        "x-twilio-email-event-webhook-timestamp": timestamp,
      },
      fields: {},
    };
  },
  // The receiver's replay window is applied here as the receiver applies it (sendgrid_webhook.ts).
  verify: async (req, now, secret) => {
    const key = secret === undefined ? await sendgridPublic : secret;
    const timestamp = req.headers["x-twilio-email-event-webhook-timestamp"] ?? "";
    const signature = req.headers["x-twilio-email-event-webhook-signature"] ?? "";
    if (!/^\d{1,15}$/.test(timestamp) || Math.abs(now / 1000 - Number(timestamp)) > SENDGRID_TOLERANCE_S) {
      return "rejected";
    }
    return await verdict(() => verifySendGrid(key as string, signature, timestamp, req.body), []);
  },
  otherSecret:
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==",
  badSecrets: ["", "not base64 at all", "MFkw", 5, null, undefined],
  signatureIn: "x-twilio-email-event-webhook-signature",
  sameSignature: sameBase64,
  timestampIn: "x-twilio-email-event-webhook-timestamp",
  windowSeconds: SENDGRID_TOLERANCE_S,
  bodySigned: true,
};

const INVOKE_SECRET = "9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c";
/** The invoke JWT as `public.invoke_token()` mints it: HS256, issuer/audience fixed, short expiry. */
async function invokeToken(secret: string, at: number): Promise<string> {
  const iat = Math.floor(at / 1000);
  return await new SignJWT({ role: "service_role" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(INVOKE_TOKEN.issuer)
    .setAudience(INVOKE_TOKEN.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + 60)
    .sign(encoder.encode(secret));
}

const invokeJwt: Scheme = {
  name: "Invoke JWT (pg_net kicks)",
  vectors: async () => {
    // No third-party vector exists for our own token; RFC 7515 A.1's HS256 example checks jose itself.
    const { jwtVerify } = await import("jose");
    const rfcKey = Uint8Array.from(
      atob(
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow".replace(
          /-/g,
          "+",
        ).replace(/_/g, "/"),
      ),
      (c) => c.charCodeAt(0),
    );
    const rfcToken = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" +
      ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
      ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    await jwtVerify(rfcToken, rfcKey, { currentDate: new Date(1300819370_000) });
    return 1;
  },
  sign: async (at, secret = INVOKE_SECRET) => ({
    body: new Uint8Array(),
    // The token alone is tampered with: the `Bearer` scheme name is case-insensitive by RFC 7235.
    headers: { authorization: await invokeToken(secret, at) },
    fields: {},
  }),
  verify: async (req, now, secret = INVOKE_SECRET) => {
    // requireInvokeToken reads the clock itself; a token minted for another time is checked by its own exp.
    void now;
    return await verdict(
      () => {
        const headers = new Headers(req.headers);
        if (headers.has("authorization")) {
          headers.set("authorization", `Bearer ${headers.get("authorization")}`);
        }
        return requireInvokeToken(new Request("http://local/", { headers }), secret as string);
      },
      [HttpError],
    );
  },
  otherSecret: "0e1d2c3b4a5968778695a4b3c2d1e0f0",
  badSecrets: ["", null, undefined, 17],
  signatureIn: "authorization",
  sameSignature: sameJwt,
  windowSeconds: 60,
  refusesFuture: false,
  bodySigned: false,
};

const LINKS_SECRET = "links-signing-secret-0123456789abcdef";
const linkToken: Scheme = {
  name: "Link tokens",
  vectors: () => Promise.resolve(0),
  sign: async (at, secret = LINKS_SECRET) => ({
    body: new Uint8Array(),
    headers: {},
    fields: {
      token: await signLinkToken(
        secret,
        "form",
        { sub: "0b5e7a3c-0000-4000-8000-000000000001" },
        new Date(at),
        new Date(at + 300_000),
      ),
    },
  }),
  verify: (req, now, secret = LINKS_SECRET) =>
    verdict(() => verifyLinkToken(secret as string, "form", req.fields.token, new Date(now)), [
      HttpError,
      TypeError,
    ]),
  otherSecret: "another-links-secret-0123456789abcdef",
  badSecrets: ["", "short", null, undefined, 99],
  signatureIn: "token",
  sameSignature: sameJwt,
  windowSeconds: 300,
  refusesFuture: false,
  bodySigned: false,
};

const OAUTH_SECRET = "oauth-state-secret-0123456789abcdef";
const oauthState: Scheme = {
  name: "OAuth state",
  vectors: () => Promise.resolve(0),
  sign: async (_at, secret = OAUTH_SECRET) => ({
    body: new Uint8Array(),
    headers: {},
    fields: {
      state: await signOAuthState(
        {
          supplier_id: "a0000000-0000-4000-8000-00000000000a",
          user_id: "00000000-0000-4000-8000-0000000000a1",
        },
        secret,
      ),
    },
  }),
  verify: (req, _now, secret = OAUTH_SECRET) =>
    verdict(() => verifyOAuthState(req.fields.state, secret as string), []),
  otherSecret: "another-oauth-state-secret-012345678",
  badSecrets: ["", null, undefined, 3],
  signatureIn: "state",
  sameSignature: sameJwt,
  bodySigned: false,
};

/** Every scheme, in the order of the figures table. */
export const SCHEMES: Scheme[] = [
  svixScheme("Svix (Resend)", "svix"),
  svixScheme("Standard Webhooks (CRM)", "webhook"),
  twilioForm,
  twilioJson,
  meta,
  calendly,
  acuity,
  typeform,
  mailgun,
  sendgrid,
  invokeJwt,
  linkToken,
  oauthState,
];

/** One generated tampering of a request. */
export type Tampering = {
  kind: "body" | "signature" | "timestamp" | "header name";
  what: string;
  req: SignedRequest;
};

const PRINTABLE = (c: number) => c >= 0x21 && c <= 0x7e;
const isLetter = (c: number) => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;

/** Single-bit flips of a text value that stay printable (headers cannot carry anything else). */
function* textFlips(value: string, caseInsensitive: boolean, every: number): Generator<[string, string]> {
  for (let i = 0; i < value.length; i += every) {
    const c = value.charCodeAt(i);
    for (let bit = 0; bit < 7; bit++) {
      const flipped = c ^ (1 << bit);
      if (!PRINTABLE(flipped)) continue;
      // A hex digest's case and a header name's case carry no meaning: such flips are not tampering.
      if (caseInsensitive && bit === 5 && isLetter(c)) continue;
      yield [`char ${i} bit ${bit}`, value.slice(0, i) + String.fromCharCode(flipped) + value.slice(i + 1)];
    }
  }
}

/**
 * Every single-bit tampering of `req` for `scheme`: body bytes, the signature, the signed time and the
 * names of the real headers. `every` samples one position in that many (1 = all of them).
 */
export function* tamperings(scheme: Scheme, req: SignedRequest, every = 1): Generator<Tampering> {
  if (scheme.bodySigned) {
    for (let i = 0; i < req.body.length; i += every) {
      for (let bit = 0; bit < 8; bit++) {
        const body = req.body.slice();
        body[i] ^= 1 << bit;
        if (scheme.sameBody?.(req.body, body)) continue;
        yield { kind: "body", what: `byte ${i} bit ${bit}`, req: { ...req, body } };
      }
    }
  }
  const places: [Tampering["kind"], string][] = [["signature", scheme.signatureIn]];
  if (scheme.timestampIn && scheme.timestampIn !== scheme.signatureIn) {
    places.push(["timestamp", scheme.timestampIn]);
  }
  for (const [kind, name] of places) {
    const inHeaders = name in req.headers;
    const value = inHeaders ? req.headers[name] : req.fields[name];
    for (const [what, tampered] of textFlips(value, scheme.caseInsensitive === true, every)) {
      if (kind === "signature" && scheme.sameSignature?.(value, tampered)) continue;
      const next = inHeaders
        ? { ...req, headers: { ...req.headers, [name]: tampered } }
        : { ...req, fields: { ...req.fields, [name]: tampered } };
      yield { kind, what: `${name} ${what}`, req: next };
    }
  }
  for (const name of Object.keys(req.headers)) {
    for (const [what, tampered] of textFlips(name, true, 1)) {
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(tampered)) continue;
      const headers = { ...req.headers };
      delete headers[name];
      headers[tampered] = req.headers[name];
      yield { kind: "header name", what: `${name} ${what}`, req: { ...req, headers } };
    }
  }
}

/** What one scheme's checks found: counts per check, and every case a verifier got wrong. */
export type SchemeReport = {
  scheme: string;
  vectors: number;
  fresh_accepted: boolean;
  tampered: number;
  stale_future: number;
  wrong_secret: number;
  bad_secrets: number;
  failures: string[];
};

/**
 * Runs every check of one scheme at `now`: vectors, a fresh request accepted, each tampering, stale and
 * future signed times just beyond the window, a foreign secret and every wrong-shaped secret refused
 * (never thrown: a throw would be a 500 in a receiver).
 */
export async function checkScheme(scheme: Scheme, now: number, every = 1): Promise<SchemeReport> {
  const failures: string[] = [];
  const report: SchemeReport = {
    scheme: scheme.name,
    vectors: 0,
    fresh_accepted: false,
    tampered: 0,
    stale_future: 0,
    wrong_secret: 0,
    bad_secrets: 0,
    failures,
  };
  try {
    report.vectors = await scheme.vectors();
  } catch (error) {
    failures.push(`vector: ${error instanceof Error ? error.message : error}`);
  }
  const fresh = await scheme.sign(now);
  const freshVerdict = await scheme.verify(fresh, now);
  report.fresh_accepted = freshVerdict === "accepted";
  if (!report.fresh_accepted) failures.push(`fresh request: ${freshVerdict}`);
  const expectRejected = async (what: string, req: SignedRequest, secret?: unknown) => {
    const v = await scheme.verify(req, now, secret as string | undefined);
    if (v !== "rejected") failures.push(`${what}: ${v}`);
  };
  for (const t of tamperings(scheme, fresh, every)) {
    report.tampered++;
    await expectRejected(`${t.kind} ${t.what}`, t.req);
  }
  if (scheme.windowSeconds !== undefined) {
    const w = scheme.windowSeconds * 1000;
    const edge = await scheme.verify(await scheme.sign(now - w + 2000), now);
    if (edge !== "accepted") failures.push(`signed inside the window: ${edge}`);
    const beyond = [["stale", now - w - 1000], ["future", now + w + 1000]] as const;
    for (const [what, at] of scheme.refusesFuture === false ? beyond.slice(0, 1) : beyond) {
      report.stale_future++;
      await expectRejected(`${what} by ${scheme.windowSeconds + 1} s`, await scheme.sign(at));
    }
  }
  report.wrong_secret++;
  await expectRejected("verified with a foreign secret", fresh, scheme.otherSecret);
  for (const bad of scheme.badSecrets) {
    report.bad_secrets++;
    await expectRejected(`verified with secret ${JSON.stringify(bad) ?? "undefined"}`, fresh, bad ?? "");
  }
  return report;
}

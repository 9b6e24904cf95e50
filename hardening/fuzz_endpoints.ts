// The fuzz suite's map of the public endpoints: how each is reached (auth, query, body kind, request
// schemas, signature) and the fixture supplier whose credentials let signed garbage reach the parsers.
import { activityRequest } from "../shared/api/activity.ts";
import { SignJWT } from "jose";
import type { z } from "zod";
import { gatewayUrl, jwtSecret } from "../stack/config.ts";
import { localKeys } from "../stack/keys.ts";
import { INVOKE_TOKEN } from "../shared/http/auth.ts";
import { signLinkToken } from "../shared/links/tokens.ts";
import { kickBody } from "../shared/runs/handler.ts";
import { previewBody, validateBody } from "../shared/modules/email/builder.ts";
import { body as meetingSetupBody } from "../shared/modules/meeting/setup.ts";
import { ratingBody } from "../shared/modules/review/links.ts";
import { bookingBody, signupBody } from "../shared/modules/referral/links.ts";
import { event as resendEvent } from "../shared/modules/email/resend_webhook.ts";
import { events as sendgridEvents } from "../shared/modules/email/sendgrid_webhook.ts";
import { body as mailgunBody } from "../shared/modules/email/mailgun_webhook.ts";
import { notification as whatsappNotification } from "../shared/modules/sms/whatsapp_webhook.ts";
import { acuityForm, calendlyEvent } from "../shared/modules/meeting/webhooks.ts";
import { inboundEvent } from "../shared/modules/crm/inbound.ts";
import { internalBody, typeformEvent } from "../shared/modules/form/endpoints.ts";
import { inbound as twilioInbound, status as twilioStatus } from "../shared/modules/sms/twilio_webhook.ts";
import { stepBody } from "../shared/modules/journey_steps.ts";
import { integrationsRequest } from "../shared/api/integrations.ts";
import { JOURNEYS_REQUESTS } from "../shared/api/journeys.ts";
import { signSvix } from "../shared/webhooks/svix.ts";
import { signSendGrid } from "../shared/webhooks/sendgrid.ts";
import { signMailgun } from "../shared/webhooks/mailgun.ts";
import { signTwilio, type TwilioParams } from "../shared/webhooks/twilio.ts";
import { signMeta } from "../shared/webhooks/meta.ts";
import { signCalendly } from "../shared/webhooks/calendly.ts";
import { signAcuity } from "../shared/webhooks/acuity.ts";
import { signTypeform } from "../shared/webhooks/typeform.ts";
import { toBase64 } from "../shared/webhooks/hmac.ts";
import { connectProvider, createSupplier } from "../tests/helpers/fixtures.ts";
import { newSvixSecret } from "../tests/helpers/stack.ts";
import type { Sql } from "../tests/helpers/db.ts";
import type { Rng } from "./fuzz_gen.ts";

/** The fixture supplier and the secrets that let the fuzzer sign (and so get past signature checks). */
export type FuzzContext = {
  supplierId: string;
  invokeSecret: string;
  linksSecret: string;
  anonKey: string;
  serviceKey: string;
  secrets: {
    resend: string;
    sendgrid: CryptoKey;
    mailgun: string;
    twilio: string;
    /** The fixture's Twilio account: bodies naming it get past the account check to the parsers. */
    twilioAccount: string;
    whatsapp: { app_secret: string; verify_token: string };
    calendly: string;
    acuity: string;
    typeform: string;
    jotform: string;
  };
};

/** What signing a request needs: its URL suffix (path and query), its body and content type. */
export type SignInput = { target: string; body: Uint8Array; contentType?: string };

/** One public endpoint, as the generators see it. */
export type EndpointSpec = {
  /** Function name (supabase/config.toml). */
  name: string;
  /** invoke: database invoke JWT; user: Supabase user JWT (gateway verify_jwt); none: the function's own check. */
  auth: "invoke" | "user" | "none";
  /** Methods it serves. */
  methods: string[];
  /** Sub-paths it routes (journey-links), "" for the function itself. */
  routes: string[];
  /** The query string that gets past the URL checks (e.g. the fixture supplier), without "?". */
  query(ctx: FuzzContext, rng: Rng): Promise<string> | string;
  /** How its body is encoded. */
  body: "json" | "form" | "csv" | "none";
  /** Zod schemas of the bodies it accepts, sampled then mutated. */
  schemas: z.ZodType[];
  /** Correct signature headers for a request (signed webhooks), so that garbage reaches the parser. */
  sign?(ctx: FuzzContext, input: SignInput): Promise<[string, string][]>;
  /** The largest body it reads, for the oversized-body requests (0: it never reads one). */
  bodyLimit: number;
};

const MAX = 256 * 1024;
const seconds = () => Math.floor(Date.now() / 1000);
const supplierQuery = (ctx: FuzzContext) => `supplier=${ctx.supplierId}`;
const hex = (n: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");

function moduleEndpoint(name: string): EndpointSpec {
  return {
    name,
    auth: "invoke",
    methods: ["POST"],
    routes: [""],
    query: () => "",
    body: "json",
    schemas: [kickBody],
    bodyLimit: 4096,
  };
}

function userEndpoint(name: string, schemas: z.ZodType[], bodyLimit = MAX): EndpointSpec {
  return {
    name,
    auth: "user",
    methods: ["POST"],
    routes: [""],
    query: () => "",
    body: "json",
    schemas,
    bodyLimit,
  };
}

/** A provider webhook: POST to `?supplier=<the fixture>`, signed by `sign` when given. */
function webhookEndpoint(
  name: string,
  body: "json" | "form",
  schemas: z.ZodType[],
  bodyLimit: number,
  sign?: EndpointSpec["sign"],
): EndpointSpec {
  return {
    name,
    auth: "none",
    methods: ["POST"],
    routes: [""],
    query: supplierQuery,
    body,
    schemas,
    bodyLimit,
    sign,
  };
}

/** Every public endpoint (the functions of supabase/config.toml). */
export const ENDPOINTS: EndpointSpec[] = [
  moduleEndpoint("module-email"),
  moduleEndpoint("module-sms"),
  moduleEndpoint("module-meeting"),
  moduleEndpoint("module-form"),
  moduleEndpoint("module-info"),
  moduleEndpoint("module-review"),
  moduleEndpoint("module-referral"),
  moduleEndpoint("crm-sync"),
  userEndpoint("journey-steps", [stepBody]),
  userEndpoint("activity", [activityRequest], 16 * 1024),
  userEndpoint("journeys", JOURNEYS_REQUESTS, 64 * 1024),
  userEndpoint("meeting-setup", [meetingSetupBody], 16 * 1024),
  userEndpoint("integrations", [integrationsRequest], 32 * 1024),
  userEndpoint("email-preview", [previewBody]),
  userEndpoint("email-validate", [validateBody]),
  userEndpoint("referral-bookings", [bookingBody], 16 * 1024),
  {
    name: "form-submissions",
    auth: "user",
    methods: ["GET", "POST"],
    routes: [""],
    query: () => "journey_token=x",
    body: "json",
    schemas: [internalBody],
    bodyLimit: MAX,
  },
  {
    name: "crm-csv",
    auth: "user",
    methods: ["GET", "POST"],
    routes: [""],
    query: (ctx) => `${supplierQuery(ctx)}&existing=skip`,
    body: "csv",
    schemas: [],
    bodyLimit: 2 * 1024 * 1024,
  },
  {
    name: "journey-links",
    auth: "none",
    methods: ["GET", "HEAD", "POST"],
    routes: ["/review", "/review/rating", "/referral", "/referral/signup"],
    query: async (ctx, rng) => `t=${await forgedLinkToken(ctx, rng)}`,
    body: "json",
    schemas: [ratingBody, signupBody],
    bodyLimit: 16 * 1024,
  },
  {
    name: "email-unsubscribe",
    auth: "none",
    methods: ["GET", "POST"],
    routes: [""],
    query: (_ctx, rng) => `token=${rng.pick(["", "x", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x"])}`,
    body: "form",
    schemas: [],
    bodyLimit: 0,
  },
  {
    name: "google-oauth-callback",
    auth: "none",
    methods: ["GET"],
    routes: [""],
    query: (_ctx, rng) => `code=${hex(8)}&state=${rng.pick(["", "x", "a.b", "e30.e30.e30", hex(40)])}`,
    body: "none",
    schemas: [],
    bodyLimit: 0,
  },
  {
    name: "crm-inbound",
    auth: "none",
    methods: ["POST"],
    routes: [""],
    query: (ctx, rng) => `${supplierQuery(ctx)}&token=${rng.pick(["", hex(16), hex(32)])}`,
    body: "json",
    schemas: [inboundEvent],
    bodyLimit: 64 * 1024,
  },
  webhookEndpoint("webhook-resend", "json", [resendEvent], MAX, async (ctx, { body }) => {
    const id = `msg_${hex(8)}`;
    const ts = seconds();
    return [["svix-id", id], ["svix-timestamp", String(ts)], [
      "svix-signature",
      await signSvix(ctx.secrets.resend, id, ts, body),
    ]];
  }),
  webhookEndpoint("webhook-sendgrid", "json", [sendgridEvents], MAX, async (ctx, { body }) => {
    const ts = String(seconds());
    return [
      ["x-twilio-email-event-webhook-timestamp", ts],
      ["x-twilio-email-event-webhook-signature", await signSendGrid(ctx.secrets.sendgrid, ts, body)],
    ];
  }),
  webhookEndpoint("webhook-mailgun", "json", [mailgunBody], MAX),
  webhookEndpoint(
    "webhook-twilio",
    "form",
    [twilioStatus, twilioInbound],
    MAX,
    async (ctx, { target, body, contentType }) => {
      const url = `${gatewayUrl}/functions/v1/webhook-twilio${target}`;
      const params: TwilioParams = {};
      if (!contentType?.includes("application/json")) {
        for (const [k, v] of new URLSearchParams(new TextDecoder().decode(body))) params[k] = v;
      }
      return [["x-twilio-signature", await signTwilio(ctx.secrets.twilio, url, params)]];
    },
  ),
  {
    name: "webhook-whatsapp",
    auth: "none",
    methods: ["GET", "POST"],
    routes: [""],
    query: (ctx, rng) =>
      rng.chance(0.5)
        ? supplierQuery(ctx)
        : `${supplierQuery(ctx)}&hub.mode=subscribe&hub.verify_token=${hex(4)}&hub.challenge=1`,
    body: "json",
    schemas: [whatsappNotification],
    bodyLimit: MAX,
    async sign(ctx, { body }) {
      return [["x-hub-signature-256", await signMeta(ctx.secrets.whatsapp.app_secret, body)]];
    },
  },
  webhookEndpoint("webhook-calendly", "json", [calendlyEvent], MAX, async (ctx, { body }) => {
    return [["calendly-webhook-signature", await signCalendly(ctx.secrets.calendly, seconds(), body)]];
  }),
  webhookEndpoint("webhook-acuity", "form", [acuityForm], 16 * 1024, async (ctx, { body }) => {
    return [["x-acuity-signature", await signAcuity(ctx.secrets.acuity, body)]];
  }),
  webhookEndpoint("webhook-typeform", "json", [typeformEvent], MAX, async (ctx, { body }) => {
    return [["typeform-signature", await signTypeform(ctx.secrets.typeform, body)]];
  }),
  {
    name: "webhook-jotform",
    auth: "none",
    methods: ["POST"],
    routes: [""],
    query: (ctx, rng) => `${supplierQuery(ctx)}&token=${rng.chance(0.5) ? ctx.secrets.jotform : hex(16)}`,
    body: "form",
    schemas: [],
    bodyLimit: MAX,
  },
];

/** A Mailgun body's signature block, signed correctly (Mailgun signs inside the body). */
export async function mailgunSignature(ctx: FuzzContext): Promise<Record<string, string>> {
  const timestamp = String(seconds());
  const token = hex(25);
  return { timestamp, token, signature: await signMailgun(ctx.secrets.mailgun, timestamp, token) };
}

/**
 * A link token signed with the real links secret but carrying claims no sender ever issues (odd subjects,
 * wrong purposes, missing fields), or plain garbage.
 */
export async function forgedLinkToken(ctx: FuzzContext, rng: Rng): Promise<string> {
  if (rng.chance(0.3)) return rng.pick(["", "x", "a.b.c", hex(30)]);
  const purpose = rng.pick(["review_click", "review_rating", "referral", "referral_signup", "form"] as const);
  const sub = rng.pick(["not-a-uuid", "", "1", crypto.randomUUID(), "'; select 1; --", "9".repeat(30)]);
  const claims: Record<string, string | number> = { sub };
  for (const k of ["run", "run_id", "supplier", "client", "step", "programme"]) {
    if (rng.chance(0.4)) claims[k] = rng.pick(["x", -1, 1e20, crypto.randomUUID(), "", 0]);
  }
  const now = Date.now();
  const exp = rng.chance(0.2) ? now - 60_000 : now + 600_000;
  return await signLinkToken(
    ctx.linksSecret,
    purpose,
    claims as { sub: string },
    new Date(now - 1000),
    new Date(exp),
  );
}

/** Bearer credentials for the gateway and the functions: valid ones (bodies reach parsers) and bad ones. */
export async function credential(
  ctx: FuzzContext,
  auth: EndpointSpec["auth"],
  rng: Rng,
  valid: boolean,
  oddClaims = true,
): Promise<string | undefined> {
  const key = new TextEncoder().encode(auth === "invoke" ? ctx.invokeSecret : jwtSecret);
  const sign = (claims: Record<string, unknown>, exp: number, k = key) =>
    new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().setExpirationTime(exp)
      .sign(k);
  const later = seconds() + 600;
  const base = auth === "invoke"
    ? { iss: INVOKE_TOKEN.issuer, aud: INVOKE_TOKEN.audience }
    : { role: "authenticated", aud: "authenticated", sub: crypto.randomUUID() };
  if (valid && auth !== "none") {
    if (auth === "user" && oddClaims && rng.chance(0.25)) {
      // Signed by the project but with claims a sign-in never issues: the function must refuse, not fail.
      return await sign(
        { ...base, sub: rng.pick(["not-a-uuid", "", "0", "x".repeat(300), "' or 1=1 --"]) },
        later,
      );
    }
    return await sign(base, later);
  }
  switch (rng.int(12)) {
    case 0:
      return undefined;
    case 1:
      return "Bearer";
    case 2:
      return `Bearer ${hex(20)}`;
    case 3:
      return `Basic ${btoa("user:pass")}`;
    case 4:
      return `Bearer ${await sign(base, later, new TextEncoder().encode(hex(32)))}`; // forged
    case 5:
      return `Bearer ${await sign(base, seconds() - 3600)}`; // expired
    case 6:
      return `Bearer ${await sign({ ...base, iss: "someone", aud: "else" }, later)}`;
    case 7:
      return `Bearer ${btoa(JSON.stringify({ alg: "none", typ: "JWT" }))}.${btoa(JSON.stringify(base))}.`;
    case 8:
      return `Bearer ${ctx.anonKey}`;
    case 9:
      return `Bearer ${ctx.serviceKey}`;
    case 10:
      return `bearer  ${await sign(base, later)}  trailing`;
    default:
      return `Bearer a.${"b".repeat(8000)}.c`;
  }
}

/** Creates the fixture supplier with every provider's credentials in Vault. */
export async function createFuzzContext(sql: Sql): Promise<FuzzContext> {
  const supplierId = await createSupplier(sql, { name: "Fuzz Studio" });
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
  const secrets: FuzzContext["secrets"] = {
    resend: newSvixSecret(),
    sendgrid: pair.privateKey,
    mailgun: hex(16),
    twilio: hex(16),
    twilioAccount: `AC${hex(16)}`,
    whatsapp: { app_secret: hex(16), verify_token: hex(8) },
    calendly: hex(16),
    acuity: hex(16),
    typeform: hex(16),
    jotform: hex(16),
  };
  await connectProvider(sql, supplierId, "resend", {
    api_key: `re_${hex(8)}`,
    webhook_secret: secrets.resend,
  });
  await connectProvider(sql, supplierId, "sendgrid", {
    api_key: `SG.${hex(8)}`,
    webhook_public_key: toBase64(spki),
  });
  await connectProvider(
    sql,
    supplierId,
    "mailgun",
    { api_key: hex(8), webhook_signing_key: secrets.mailgun },
    { domain: "mg.example.com" },
  );
  await connectProvider(sql, supplierId, "twilio", {
    account_sid: secrets.twilioAccount,
    auth_token: secrets.twilio,
  }, { from: "+15005550006" });
  await connectProvider(sql, supplierId, "whatsapp", { access_token: hex(8), ...secrets.whatsapp }, {
    phone_number_id: "123",
  });
  await connectProvider(sql, supplierId, "calendly", { access_token: hex(8), signing_key: secrets.calendly });
  await connectProvider(sql, supplierId, "acuity", { api_key: secrets.acuity, user_id: "1" });
  await connectProvider(sql, supplierId, "typeform", { webhook_secret: secrets.typeform });
  await connectProvider(sql, supplierId, "jotform", { webhook_token: secrets.jotform, api_key: hex(8) });
  await connectProvider(sql, supplierId, "crm_webhooks", { inbound_secret: hex(16) });
  const [row] = await sql<{ invoke: string; links: string }[]>`
    select (select decrypted_secret from vault.decrypted_secrets where name = 'functions_invoke_secret') as invoke,
      (select decrypted_secret from vault.decrypted_secrets where name = 'links_signing_secret') as links`;
  const { anonKey, serviceRoleKey } = await localKeys();
  return {
    supplierId,
    invokeSecret: row.invoke,
    linksSecret: row.links,
    anonKey,
    serviceKey: serviceRoleKey,
    secrets,
  };
}

/** Removes the fixture supplier and its Vault secrets. */
export async function dropFuzzContext(sql: Sql, ctx: FuzzContext): Promise<void> {
  await sql`delete from vault.secrets where id in (
    select secret_id from public.supplier_integrations where supplier_id = ${ctx.supplierId}::uuid)`;
  await sql`delete from public.suppliers where id = ${ctx.supplierId}::uuid`;
}

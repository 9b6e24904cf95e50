// Request and response schemas of the `integrations` function, exported for the vendor app (and the fuzz suite).
import { z } from "zod";
import { taveSettings, WEBHOOK_CRMS } from "../modules/crm/config.ts";

/** Providers the integrations function connects. */
export const CONNECTABLE_PROVIDERS = [
  "resend",
  "sendgrid",
  "mailgun",
  "twilio",
  "whatsapp",
  "typeform",
  "jotform",
  "acuity",
  "calendly",
  "tave",
  "crm_webhooks",
] as const;
/** A provider the integrations function connects. */
export type ConnectableProvider = typeof CONNECTABLE_PROVIDERS[number];

const key = (min = 8, max = 500) => z.string().trim().min(min).max(max);
const domain = z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, "must be a domain like mg.studio.example");
const formIds = z.array(z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be a form id")).max(50);
const sender = z.string().min(3).max(300);

// Settings never take API base URLs: a vendor must not be able to point our calls (and their key) elsewhere.
const emailCommon = {
  from: sender.optional(),
  account: z.string().min(1).max(200).optional(),
  sender_domains: z.array(z.string().min(3).max(253)).max(100).optional(),
  rate_limit_per_s: z.number().positive().max(10_000).nullable().optional(),
};

/** Credentials and settings accepted per provider (credentials go to Vault, settings to the row). */
export const providerInputs = {
  resend: {
    credentials: z.strictObject({ api_key: key() }),
    settings: z.strictObject(emailCommon),
  },
  sendgrid: {
    credentials: z.strictObject({ api_key: key() }),
    settings: z.strictObject({ ...emailCommon, region: z.enum(["global", "eu"]).default("global") }),
  },
  mailgun: {
    credentials: z.strictObject({
      api_key: key(),
      /** The HTTP webhook signing key (Sending › Webhooks); fetched from Mailgun when absent. */
      webhook_signing_key: key(8, 200).optional(),
    }),
    settings: z.strictObject({ ...emailCommon, domain, region: z.enum(["us", "eu"]).default("us") }),
  },
  twilio: {
    credentials: z.strictObject({
      account_sid: z.string().regex(/^AC[0-9a-fA-F]{32}$/, "must be the Account SID (AC…)"),
      auth_token: key(16, 200),
      api_key_sid: z.string().regex(/^SK[0-9a-fA-F]{32}$/, "must be an API key SID (SK…)").optional(),
      api_key_secret: key(16, 200).optional(),
    }).refine((c) => (c.api_key_sid === undefined) === (c.api_key_secret === undefined), {
      message: "api_key_sid and api_key_secret go together",
      path: ["api_key_secret"],
    }),
    settings: z.strictObject({
      from: z.string().regex(/^\+[1-9][0-9]{6,14}$/, "must be an E.164 number").optional(),
      messaging_service_sid: z.string().regex(/^MG[0-9a-fA-F]{32}$/, "must be a Messaging Service SID")
        .optional(),
      sender_type: z.enum(["long_code", "toll_free", "short_code", "messaging_service"]).optional(),
      mps: z.number().positive().max(1000).optional(),
      max_segments: z.number().int().min(1).max(10).optional(),
      help_text: z.string().min(1).max(320).optional(),
    }).refine((s) => s.from !== undefined || s.messaging_service_sid !== undefined, {
      message: "give from or messaging_service_sid",
      path: ["from"],
    }),
  },
  whatsapp: {
    credentials: z.strictObject({
      access_token: key(20, 1000),
      /** The Meta app's App Secret: Meta signs webhooks with it. */
      app_secret: key(16, 200),
      /** The verify token you type into Meta's webhook settings (you choose it). */
      verify_token: key(16, 200),
    }),
    settings: z.strictObject({
      phone_number_id: z.string().regex(/^[0-9]{5,30}$/, "must be the phone number id"),
      api_version: z.string().regex(/^v[0-9]{1,3}\.0$/, "must look like v21.0").default("v21.0"),
    }),
  },
  typeform: {
    credentials: z.strictObject({ access_token: key(20, 1000) }),
    /** Forms whose webhook we register (each form has its own webhook in Typeform). */
    settings: z.strictObject({ form_ids: formIds.default([]) }),
  },
  jotform: {
    credentials: z.strictObject({ api_key: key(16, 200) }),
    settings: z.strictObject({
      form_ids: z.array(z.string().regex(/^[0-9]{1,30}$/, "must be a Jotform form id")).max(50).default([]),
      region: z.enum(["us", "eu", "hipaa"]).default("us"),
    }),
  },
  acuity: {
    credentials: z.strictObject({
      user_id: z.string().regex(/^\d{1,15}$/, "must be the Acuity user id"),
      api_key: key(8, 200),
    }),
    settings: z.strictObject({ scheduler_url: z.url({ protocol: /^https$/ }) }),
  },
  calendly: {
    credentials: z.strictObject({ access_token: key(20, 4000) }),
    settings: z.strictObject({}),
  },
  tave: {
    credentials: z.strictObject({
      studio_id: key(1, 100),
      secret_key: key(1, 200),
      api_key: key(1, 500),
    }),
    settings: taveSettings.omit({ lead_base_url: true, api_base_url: true }),
  },
  crm_webhooks: {
    credentials: z.strictObject({
      /** Signs our outbound webhooks; generated when absent (give your own to verify in the automation). */
      signing_secret: z.string().regex(/^whsec_[A-Za-z0-9+/]{24,}={0,2}$/, "must be whsec_<base64>")
        .optional(),
    }),
    settings: z.strictObject({
      crm: z.enum(WEBHOOK_CRMS).default("other"),
      url: z.url({ protocol: /^https?$/ }).optional(),
      field_map: z.record(z.string(), z.string()).default({}),
      events: z.array(z.string()).min(1).optional(),
    }),
  },
} satisfies Record<ConnectableProvider, { credentials: z.ZodType; settings: z.ZodType }>;

const supplier_id = z.uuid();
const provider = z.enum(CONNECTABLE_PROVIDERS);
const anyProvider = z.string().regex(/^[a-z][a-z0-9_]{1,40}$/, "must be a provider name");

/** The body of `POST /integrations`; credentials and settings are checked per provider afterwards. */
export const integrationsRequest = z.discriminatedUnion("action", [
  z.strictObject({
    action: z.literal("connect"),
    supplier_id,
    provider,
    credentials: z.record(z.string(), z.unknown()),
    settings: z.record(z.string(), z.unknown()).default({}),
  }),
  z.strictObject({
    action: z.literal("rotate"),
    supplier_id,
    provider,
    credentials: z.record(z.string(), z.unknown()),
  }),
  z.strictObject({ action: z.literal("test"), supplier_id, provider: anyProvider }),
  z.strictObject({ action: z.literal("disconnect"), supplier_id, provider: anyProvider }),
  z.strictObject({ action: z.literal("list"), supplier_id }),
]);
/** A request to the integrations function. */
export type IntegrationsRequest = z.input<typeof integrationsRequest>;

/** How our webhook reaches the supplier: registered by us, or set up by hand with these steps. */
export const webhookInfo = z.object({
  url: z.string(),
  registered: z.boolean(),
  /** The provider's id(s) of our registration, when we made it. */
  registration: z.unknown().optional(),
  /** What the vendor does in the provider's dashboard when we could not register it. */
  steps: z.array(z.string()).optional(),
});
/** Our webhook at the provider. */
export type WebhookInfo = z.output<typeof webhookInfo>;

/** One integration as `list` shows it: no credentials. */
export const integrationView = z.object({
  provider: z.string(),
  status: z.enum(["connected", "failing", "disconnected"]),
  status_code: z.string().nullable(),
  status_reason: z.string().nullable(),
  status_since: z.string(),
  settings: z.record(z.string(), z.unknown()),
  updated_at: z.string(),
});
/** An integration, without secrets. */
export type IntegrationView = z.output<typeof integrationView>;

/** The answers, by action. */
export const integrationsResponse = {
  connect: z.object({
    integration: integrationView,
    /** What the provider told us about the account (names, never keys). */
    account: z.record(z.string(), z.unknown()),
    webhook: webhookInfo.nullable(),
  }),
  rotate: z.object({ integration: integrationView, account: z.record(z.string(), z.unknown()) }),
  test: z.object({
    integration: integrationView,
    ok: z.boolean(),
    reason: z.string().nullable(),
  }),
  disconnect: z.object({
    provider: z.string(),
    disconnected: z.literal(true),
    webhook_removed: z.boolean(),
    webhook_note: z.string().nullable(),
  }),
  list: z.object({ integrations: z.array(integrationView) }),
  error: z.object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  }),
};

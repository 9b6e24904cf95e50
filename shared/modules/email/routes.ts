// A supplier's connected email providers as send routes: settings and Vault credentials checked, the
// account each one counts against (circuit and rate limit), and the adapter that sends through it.
import { z } from "zod";
import { sendMailgunEmail } from "../../providers/email/mailgun.ts";
import type { EmailBatchSend, EmailProvider, EmailSend } from "../../providers/email/message.ts";
import { RESEND_MAX_BATCH, sendResendBatch, sendResendEmail } from "../../providers/email/resend.ts";
import { sendSendGridEmail } from "../../providers/email/sendgrid.ts";
import { slotInterval } from "../../providers/gate.ts";
import type { RunError } from "../../runs/types.ts";
import type { SecretStore } from "../../secrets.ts";

/** Requests per second each provider account is held to unless its settings say otherwise. */
export const DEFAULT_RATE_LIMITS: Record<EmailProvider, number | null> = {
  // Resend: 2 requests/s per team, shared by all its API keys (raised on request).
  resend: 2,
  // SendGrid and Mailgun publish no per-second sending limit; their 429s are still honoured.
  sendgrid: null,
  mailgun: null,
};

const common = {
  /** Sender used when the supplier has no `email_from`. */
  from: z.string().min(3).max(300).optional(),
  /** Requests per second for this account; null for none. */
  rate_limit_per_s: z.number().positive().max(10_000).nullable().optional(),
  /** Names the provider account when several integrations share one (e.g. one Resend team). */
  account: z.string().min(1).max(200).optional(),
  /** Domains verified for sending at the provider, checked by the config validation endpoint. */
  sender_domains: z.array(z.string().min(3).max(253)).max(100).optional(),
  /** How long this account's circuit stays open before a probe (default: the function's CIRCUIT_COOLDOWN_S). */
  circuit_cooldown_s: z.number().int().positive().max(3600).optional(),
};

/** Non-secret settings of each email provider's integration (`supplier_integrations.settings`). */
export const emailIntegrationSettings = {
  resend: z.looseObject({ ...common, base_url: z.url().optional() }),
  sendgrid: z.looseObject({ ...common, region: z.enum(["global", "eu"]).default("global") }),
  mailgun: z.looseObject({
    ...common,
    domain: z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, "must be the Mailgun sending domain"),
    region: z.enum(["us", "eu"]).default("us"),
  }),
} satisfies Record<EmailProvider, z.ZodType>;

/** A connected email integration as loaded with a run. */
export type IntegrationRow = {
  id: string;
  provider: EmailProvider;
  settings: Record<string, unknown>;
  secret_id: string | null;
  /** When its health last changed: keys the credentials cache, so replaced credentials are read at once. */
  status_since?: string;
};

/** API hosts and the request timeout (from the function's configuration). */
export type ProviderUrls = {
  resend: string;
  sendgrid: string;
  sendgridEu: string;
  mailgun: string;
  mailgunEu: string;
  timeoutMs: number;
};

/** One way to send: a provider account and its adapter. */
export type EmailRoute = {
  provider: EmailProvider;
  /** The provider account its circuit and rate limit belong to. */
  account: string;
  /** Seconds between requests (0: unlimited). */
  intervalS: number;
  /** The integration's fallback sender. */
  from?: string;
  /** The account's own circuit cooldown, when its settings give one. */
  circuitCooldownS?: number;
  send: EmailSend;
  /** Sends several emails in one request, up to `maxBatch` (providers with a batch endpoint). */
  sendBatch?: EmailBatchSend;
  maxBatch?: number;
};

function problem(provider: string, code: string, message: string): RunError {
  return { provider, code, message: `Cannot send email through ${provider}: ${message}` };
}

/** Builds the route of an integration, or says why it cannot be used. */
export async function emailRoute(
  row: IntegrationRow,
  secrets: SecretStore,
  urls: ProviderUrls,
): Promise<EmailRoute | RunError> {
  const parsed = emailIntegrationSettings[row.provider].safeParse(row.settings);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `settings.${i.path.join(".")}: ${i.message}`).join("; ");
    return problem(row.provider, "invalid_settings", why);
  }
  let apiKey: unknown;
  try {
    if (!row.secret_id) throw new TypeError("no secret");
    apiKey = JSON.parse(await secrets.byId(row.secret_id, row.status_since)).api_key;
  } catch {
    apiKey = undefined;
  }
  if (typeof apiKey !== "string" || apiKey === "") {
    return problem(row.provider, "credentials_missing", "its Vault secret has no api_key");
  }
  const settings = parsed.data;
  const rate = settings.rate_limit_per_s === undefined
    ? DEFAULT_RATE_LIMITS[row.provider]
    : settings.rate_limit_per_s;
  const base = {
    provider: row.provider,
    account: settings.account ?? row.id,
    intervalS: slotInterval(rate),
    from: settings.from,
    circuitCooldownS: settings.circuit_cooldown_s,
  };
  const timeoutMs = urls.timeoutMs;
  switch (row.provider) {
    case "resend": {
      const account = {
        apiKey,
        baseUrl: (settings as { base_url?: string }).base_url ?? urls.resend,
        timeoutMs,
      };
      return {
        ...base,
        send: (message, runKey) => sendResendEmail(account, message, runKey),
        sendBatch: (messages, batchKey) => sendResendBatch(account, messages, batchKey),
        maxBatch: RESEND_MAX_BATCH,
      };
    }
    case "sendgrid": {
      const region = (settings as { region: "global" | "eu" }).region;
      const account = { apiKey, baseUrl: region === "eu" ? urls.sendgridEu : urls.sendgrid, timeoutMs };
      return { ...base, send: (message, runKey) => sendSendGridEmail(account, message, runKey) };
    }
    case "mailgun": {
      const { region, domain } = settings as { region: "us" | "eu"; domain: string };
      const account = { apiKey, baseUrl: region === "eu" ? urls.mailgunEu : urls.mailgun, domain, timeoutMs };
      return { ...base, send: (message, runKey) => sendMailgunEmail(account, message, runKey) };
    }
  }
}

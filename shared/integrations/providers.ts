// Per provider: the cheap authenticated call that proves credentials work, and registering (and removing)
// our webhook at the provider where its API allows it. Raw fetch through callProvider; never logs secrets.
import type { ConnectableProvider, WebhookInfo } from "../api/integrations.ts";
import { bodyRecord, callProvider, type ProviderAnswer, type ProviderRequest } from "../providers/http.ts";
import { createWebhookSubscription, currentUser, resourceOf } from "../providers/scheduling/calendly.ts";
import { inboundToken } from "../modules/crm/inbound.ts";
import { toHex } from "../webhooks/hmac.ts";

/** API bases (from the function configuration) and the public URL of our functions. */
export type ProviderUrls = {
  resend: string;
  sendgrid: string;
  sendgridEu: string;
  mailgun: string;
  mailgunEu: string;
  twilio: string;
  whatsapp: string;
  typeform: string;
  jotform: string;
  acuity: string;
  calendly: string;
  taveApi: string;
  /** e.g. https://<ref>.supabase.co/functions/v1 */
  functions: string;
};

/** What a driver call needs. */
export type DriverContext = {
  urls: ProviderUrls;
  timeoutMs: number;
  supplierId: string;
  fetch?: typeof fetch;
};

type Secret = Record<string, string>;
type Settings = Record<string, unknown>;

/** The outcome of verifying credentials with the provider. */
export type Verification =
  | { ok: true; account: Record<string, unknown>; settings?: Settings; secret?: Secret; limited?: string }
  | { ok: false; rejected: boolean; status: number | null; code: string; reason: string };

/** Our webhook at the provider after connecting: registered (with what to store), set up by hand, or none. */
export type Registration = { webhook: WebhookInfo | null; secret?: Secret; settings?: Settings };

/** One provider's driver. */
export type Driver = {
  verify(ctx: DriverContext, secret: Secret, settings: Settings): Promise<Verification>;
  /** Registers our webhook, or answers the URL and the manual steps. Throws ProviderError when it cannot. */
  register(
    ctx: DriverContext,
    secret: Secret,
    settings: Settings,
    verified: Verification,
  ): Promise<Registration>;
  /** Removes the registration recorded in `settings.webhook`; a note says what could not be removed. */
  unregister(
    ctx: DriverContext,
    secret: Secret,
    settings: Settings,
  ): Promise<{ removed: boolean; note?: string }>;
};

/** A provider call that failed while registering a webhook (the connect answers 502 or 422). */
export class ProviderError extends Error {
  constructor(readonly status: number | null, message: string) {
    super(message);
    this.name = "ProviderError";
  }
}

const base = (url: string) => url.replace(/\/$/, "");
const b64 = (s: string) => btoa(s);

function call(
  ctx: DriverContext,
  req: Omit<ProviderRequest, "timeoutMs" | "fetch">,
): Promise<ProviderAnswer> {
  return callProvider({
    ...req,
    timeoutMs: ctx.timeoutMs,
    fetch: ctx.fetch,
    idempotent: req.method === "GET",
  });
}

/** The provider's own words from an error answer (its message field), never echoing our request. */
function providerReason(answer: ProviderAnswer & { ok: false }): string {
  return answer.error.message.slice(0, 500);
}

/** A failed verification call: 401/403 (and what `rejected` adds) means the credentials are wrong. */
function failed(answer: ProviderAnswer & { ok: false }, rejected = false): Verification {
  const status = answer.status;
  return {
    ok: false,
    rejected: rejected || status === 401 || status === 403,
    status,
    code: answer.error.code,
    reason: providerReason(answer),
  };
}

function rejectedWith(code: string, reason: string, status: number | null = null): Verification {
  return { ok: false, rejected: true, status, code, reason };
}

/** The URL of one of our webhook receivers for this supplier. */
export function webhookUrl(ctx: DriverContext, fn: string, extra = ""): string {
  return `${ctx.urls.functions}/${fn}?supplier=${ctx.supplierId}${extra}`;
}

function manual(url: string, steps: string[]): Registration {
  return { webhook: { url, registered: false, steps } };
}

const none = () => Promise.resolve({ removed: false });

function randomHex(bytes = 32): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

// Resend -----------------------------------------------------------------------------------------

const RESEND_EVENTS = [
  "email.sent",
  "email.delivered",
  "email.delivery_delayed",
  "email.bounced",
  "email.complained",
  "email.opened",
  "email.clicked",
  "email.failed",
];

const resend: Driver = {
  async verify(ctx, secret) {
    const answer = await call(ctx, {
      provider: "resend",
      operation: "domains.list",
      method: "GET",
      url: `${base(ctx.urls.resend)}/domains`,
      headers: { authorization: `Bearer ${secret.api_key}` },
    });
    if (answer.ok) {
      const domains = ((bodyRecord(answer.body).data ?? []) as { name?: unknown; status?: unknown }[])
        .filter((d) => typeof d?.name === "string");
      return {
        ok: true,
        account: { domains: domains.map((d) => ({ name: d.name, status: d.status ?? null })) },
      };
    }
    // A sending-only key is a real key: it sends, it just may not read domains or manage webhooks.
    if (answer.status === 401 && answer.error.code === "restricted_api_key") {
      return { ok: true, account: { restricted: true }, limited: "the API key is restricted to sending" };
    }
    return failed(answer);
  },
  async register(ctx, secret, _settings, verified) {
    const url = webhookUrl(ctx, "webhook-resend");
    const steps = [
      `In Resend › Webhooks, add the endpoint ${url}`,
      `Select the events ${RESEND_EVENTS.join(", ")}`,
      "Connect again with a full-access API key so we can store the signing secret, or ask support to store it",
    ];
    if (verified.ok && verified.limited) return manual(url, steps);
    const answer = await call(ctx, {
      provider: "resend",
      operation: "webhooks.create",
      method: "POST",
      url: `${base(ctx.urls.resend)}/webhooks`,
      headers: { authorization: `Bearer ${secret.api_key}` },
      body: { endpoint: url, events: RESEND_EVENTS },
    });
    if (!answer.ok) {
      if (answer.status === 401 || answer.status === 403) return manual(url, steps);
      throw new ProviderError(answer.status, providerReason(answer));
    }
    const created = bodyRecord(answer.body);
    if (typeof created.id !== "string" || typeof created.signing_secret !== "string") {
      throw new ProviderError(answer.status, "Resend created the webhook without an id or signing secret");
    }
    const registration = { id: created.id };
    return {
      webhook: { url, registered: true, registration },
      secret: { webhook_secret: created.signing_secret },
      settings: { webhook: { url, ...registration, events: RESEND_EVENTS } },
    };
  },
  async unregister(ctx, secret, settings) {
    const id = (settings.webhook as { id?: unknown } | undefined)?.id;
    if (typeof id !== "string") return { removed: false };
    const answer = await call(ctx, {
      provider: "resend",
      operation: "webhooks.delete",
      method: "DELETE",
      url: `${base(ctx.urls.resend)}/webhooks/${encodeURIComponent(id)}`,
      headers: { authorization: `Bearer ${secret.api_key}` },
    });
    if (answer.ok || answer.status === 404) return { removed: true };
    return { removed: false, note: `Resend did not remove webhook ${id}: ${providerReason(answer)}` };
  },
};

// SendGrid ---------------------------------------------------------------------------------------

/** SendGrid's errors are `{errors: [{message, field}]}`. */
const sendgridError = (status: number, body: unknown) => {
  const first = ((bodyRecord(body).errors ?? []) as { message?: unknown }[])[0];
  return typeof first?.message === "string"
    ? { code: `http_${status}`, message: `sendgrid answered ${status}: ${first.message.slice(0, 300)}` }
    : {};
};

function sendgridBase(ctx: DriverContext, settings: Settings): string {
  return base(settings.region === "eu" ? ctx.urls.sendgridEu : ctx.urls.sendgrid);
}

const sendgrid: Driver = {
  async verify(ctx, secret, settings) {
    const answer = await call(ctx, {
      provider: "sendgrid",
      operation: "scopes.list",
      method: "GET",
      url: `${sendgridBase(ctx, settings)}/v3/scopes`,
      headers: { authorization: `Bearer ${secret.api_key}` },
      describeError: sendgridError,
    });
    if (!answer.ok) return failed(answer);
    const scopes = (bodyRecord(answer.body).scopes ?? []) as unknown[];
    if (!scopes.includes("mail.send")) {
      return rejectedWith(
        "missing_scope",
        "SendGrid: this API key has no mail.send permission",
        answer.status,
      );
    }
    return {
      ok: true,
      account: { scopes: scopes.length },
      limited: scopes.includes("user.webhooks.event.settings.create") ? undefined : "no webhook permission",
    };
  },
  async register(ctx, secret, settings, verified) {
    const url = webhookUrl(ctx, "webhook-sendgrid");
    const steps = [
      `In SendGrid › Settings › Mail Settings › Event Webhooks, create a webhook posting to ${url}`,
      "Select processed, delivered, deferred, bounce, dropped, spam report, unsubscribe, open and click",
      "Turn on Signed Event Webhook, then connect again with a key that may manage Event Webhooks",
    ];
    if (verified.ok && verified.limited) return manual(url, steps);
    const auth = { authorization: `Bearer ${secret.api_key}` };
    const created = await call(ctx, {
      provider: "sendgrid",
      operation: "event_webhooks.create",
      method: "POST",
      url: `${sendgridBase(ctx, settings)}/v3/user/webhooks/event/settings`,
      headers: auth,
      describeError: sendgridError,
      body: {
        enabled: true,
        url,
        friendly_name: "Wedding journeys",
        processed: true,
        delivered: true,
        deferred: true,
        bounce: true,
        dropped: true,
        spam_report: true,
        unsubscribe: true,
        group_unsubscribe: true,
        group_resubscribe: false,
        open: true,
        click: true,
      },
    });
    if (!created.ok) {
      if (created.status === 401 || created.status === 403) return manual(url, steps);
      throw new ProviderError(created.status, providerReason(created));
    }
    const id = bodyRecord(created.body).id;
    if (typeof id !== "string") {
      throw new ProviderError(created.status, "SendGrid created the webhook without an id");
    }
    const signed = await call(ctx, {
      provider: "sendgrid",
      operation: "event_webhooks.sign",
      method: "PATCH",
      url: `${sendgridBase(ctx, settings)}/v3/user/webhooks/event/settings/signed/${encodeURIComponent(id)}`,
      headers: auth,
      describeError: sendgridError,
      body: { enabled: true },
    });
    const publicKey = signed.ok ? bodyRecord(signed.body).public_key : undefined;
    if (!signed.ok || typeof publicKey !== "string") {
      await sendgrid.unregister(ctx, secret, { ...settings, webhook: { id } });
      throw new ProviderError(
        signed.status,
        signed.ok ? "SendGrid returned no public key" : providerReason(signed),
      );
    }
    return {
      webhook: { url, registered: true, registration: { id } },
      secret: { webhook_public_key: publicKey },
      settings: { webhook: { url, id } },
    };
  },
  async unregister(ctx, secret, settings) {
    const id = (settings.webhook as { id?: unknown } | undefined)?.id;
    if (typeof id !== "string") return { removed: false };
    const answer = await call(ctx, {
      provider: "sendgrid",
      operation: "event_webhooks.delete",
      method: "DELETE",
      url: `${sendgridBase(ctx, settings)}/v3/user/webhooks/event/settings/${encodeURIComponent(id)}`,
      headers: { authorization: `Bearer ${secret.api_key}` },
      describeError: sendgridError,
    });
    if (answer.ok || answer.status === 404) return { removed: true };
    return { removed: false, note: `SendGrid did not remove Event Webhook ${id}: ${providerReason(answer)}` };
  },
};

// Mailgun ----------------------------------------------------------------------------------------

const MAILGUN_EVENTS = [
  "delivered",
  "permanent_fail",
  "temporary_fail",
  "complained",
  "unsubscribed",
  "opened",
  "clicked",
];

function mailgunBase(ctx: DriverContext, settings: Settings): string {
  return base(settings.region === "eu" ? ctx.urls.mailgunEu : ctx.urls.mailgun);
}
const mailgunAuth = (secret: Secret) => ({ authorization: `Basic ${b64(`api:${secret.api_key}`)}` });

const mailgun: Driver = {
  async verify(ctx, secret, settings) {
    const domain = String(settings.domain);
    const answer = await call(ctx, {
      provider: "mailgun",
      operation: "domains.get",
      method: "GET",
      url: `${mailgunBase(ctx, settings)}/v4/domains/${encodeURIComponent(domain)}`,
      headers: mailgunAuth(secret),
    });
    if (!answer.ok) return failed(answer, answer.status === 404);
    const d = bodyRecord(bodyRecord(answer.body).domain);
    let signingKey = secret.webhook_signing_key;
    if (!signingKey) {
      // The account's HTTP webhook signing key, which Mailgun signs every webhook with.
      const key = await call(ctx, {
        provider: "mailgun",
        operation: "http_signing_key.get",
        method: "GET",
        url: `${mailgunBase(ctx, settings)}/v5/accounts/http_signing_key`,
        headers: mailgunAuth(secret),
      });
      const value = key.ok ? bodyRecord(key.body).http_signing_key : undefined;
      if (typeof value === "string" && value !== "") signingKey = value;
    }
    return {
      ok: true,
      account: { domain: d.name ?? domain, state: d.state ?? null },
      secret: signingKey ? { webhook_signing_key: signingKey } : undefined,
      limited: signingKey ? undefined : "no webhook signing key",
    };
  },
  async register(ctx, secret, settings, verified) {
    const url = webhookUrl(ctx, "webhook-mailgun");
    const domain = String(settings.domain);
    if (verified.ok && verified.limited) {
      return manual(url, [
        `In Mailgun › Sending › Webhooks (domain ${domain}), add ${url} for ${MAILGUN_EVENTS.join(", ")}`,
        "Connect again with webhook_signing_key (Sending › Webhooks › HTTP webhook signing key)",
      ]);
    }
    const form = new URLSearchParams({ url });
    for (const e of MAILGUN_EVENTS) form.append("event_types", e);
    const answer = await call(ctx, {
      provider: "mailgun",
      operation: "webhooks.create",
      method: "POST",
      url: `${mailgunBase(ctx, settings)}/v4/domains/${encodeURIComponent(domain)}/webhooks`,
      headers: mailgunAuth(secret),
      body: form,
    });
    if (!answer.ok) throw new ProviderError(answer.status, providerReason(answer));
    return {
      webhook: { url, registered: true, registration: { domain, events: MAILGUN_EVENTS } },
      settings: { webhook: { url, domain, events: MAILGUN_EVENTS } },
    };
  },
  async unregister(ctx, secret, settings) {
    const hook = settings.webhook as { url?: unknown; domain?: unknown } | undefined;
    if (typeof hook?.url !== "string" || typeof hook.domain !== "string") return { removed: false };
    const answer = await call(ctx, {
      provider: "mailgun",
      operation: "webhooks.delete",
      method: "DELETE",
      url: `${mailgunBase(ctx, settings)}/v4/domains/${encodeURIComponent(hook.domain)}/webhooks?url=${
        encodeURIComponent(hook.url)
      }`,
      headers: mailgunAuth(secret),
    });
    if (answer.ok || answer.status === 404) return { removed: true };
    return { removed: false, note: `Mailgun did not remove the webhook: ${providerReason(answer)}` };
  },
};

// Twilio -----------------------------------------------------------------------------------------

async function twilioAccount(ctx: DriverContext, sid: string, user: string, password: string) {
  return await call(ctx, {
    provider: "twilio",
    operation: "accounts.fetch",
    method: "GET",
    url: `${base(ctx.urls.twilio)}/2010-04-01/Accounts/${encodeURIComponent(sid)}.json`,
    headers: { authorization: `Basic ${b64(`${user}:${password}`)}` },
    describeError: (_status, body) => {
      const b = bodyRecord(body);
      return { code: b.code !== undefined ? String(b.code) : undefined };
    },
  });
}

const twilio: Driver = {
  async verify(ctx, secret) {
    // The Auth Token is checked even when sends use an API key: Twilio signs webhooks with it.
    const answer = await twilioAccount(ctx, secret.account_sid, secret.account_sid, secret.auth_token);
    if (!answer.ok) return failed(answer, answer.error.code === "20003");
    const a = bodyRecord(answer.body);
    if (a.status !== undefined && a.status !== "active") {
      return rejectedWith(
        "account_" + String(a.status),
        `Twilio: the account is ${String(a.status)}`,
        answer.status,
      );
    }
    if (secret.api_key_sid) {
      const viaKey = await twilioAccount(ctx, secret.account_sid, secret.api_key_sid, secret.api_key_secret);
      if (!viaKey.ok) return failed(viaKey, viaKey.error.code === "20003");
    }
    return { ok: true, account: { friendly_name: a.friendly_name ?? null, status: a.status ?? null } };
  },
  register(ctx) {
    const url = webhookUrl(ctx, "webhook-twilio");
    return Promise.resolve(manual(url, [
      `In Twilio › Phone Numbers (or your Messaging Service) › Messaging, set "A message comes in" to POST ${url}`,
      "Status callbacks need no set-up: every message names its own",
    ]));
  },
  unregister: none,
};

// WhatsApp (Meta Graph) --------------------------------------------------------------------------

const whatsapp: Driver = {
  async verify(ctx, secret, settings) {
    const answer = await call(ctx, {
      provider: "whatsapp",
      operation: "phone_numbers.get",
      method: "GET",
      url: `${base(ctx.urls.whatsapp)}/${settings.api_version ?? "v21.0"}/${
        encodeURIComponent(String(settings.phone_number_id))
      }?fields=display_phone_number,verified_name,quality_rating`,
      headers: { authorization: `Bearer ${secret.access_token}` },
      describeError: (_status, body) => {
        const code = bodyRecord(bodyRecord(body).error).code;
        return { code: code !== undefined ? String(code) : undefined };
      },
    });
    if (!answer.ok) return failed(answer, answer.error.code === "190" || answer.error.code === "100");
    const n = bodyRecord(answer.body);
    return {
      ok: true,
      account: {
        display_phone_number: n.display_phone_number ?? null,
        verified_name: n.verified_name ?? null,
        quality_rating: n.quality_rating ?? null,
      },
    };
  },
  register(ctx) {
    const url = webhookUrl(ctx, "webhook-whatsapp");
    return Promise.resolve(manual(url, [
      `In the Meta app › WhatsApp › Configuration, set the callback URL to ${url}`,
      "Enter the verify token you gave here (verify_token), then Verify and save",
      "Subscribe the webhook to the messages field",
    ]));
  },
  unregister: none,
};

// Typeform ---------------------------------------------------------------------------------------

const TYPEFORM_TAG = "wedding-journeys";
const typeformAuth = (secret: Secret) => ({ authorization: `Bearer ${secret.access_token}` });
/** Typeform's errors are `{code, description}`. */
const typeformError = (status: number, body: unknown) => {
  const b = bodyRecord(body);
  return typeof b.code === "string"
    ? {
      code: b.code,
      message: `typeform answered ${status} ${b.code}${
        typeof b.description === "string" ? `: ${b.description.slice(0, 300)}` : ""
      }`,
    }
    : {};
};

const typeform: Driver = {
  async verify(ctx, secret) {
    const answer = await call(ctx, {
      provider: "typeform",
      operation: "me.get",
      method: "GET",
      url: `${base(ctx.urls.typeform)}/me`,
      headers: typeformAuth(secret),
      describeError: typeformError,
    });
    if (!answer.ok) return failed(answer);
    const me = bodyRecord(answer.body);
    return { ok: true, account: { alias: me.alias ?? null } };
  },
  async register(ctx, secret, settings) {
    const url = webhookUrl(ctx, "webhook-typeform");
    const forms = (settings.form_ids ?? []) as string[];
    // One secret for every form of the supplier (the receiver knows the supplier, not the form).
    const webhookSecret = secret.webhook_secret ?? randomHex();
    if (forms.length === 0) {
      return {
        webhook: {
          url,
          registered: false,
          steps: ["Connect again with form_ids: each Typeform form has its own webhook, which we register"],
        },
        secret: { webhook_secret: webhookSecret },
      };
    }
    const done: string[] = [];
    for (const form of forms) {
      const answer = await call(ctx, {
        provider: "typeform",
        operation: "webhooks.put",
        method: "PUT",
        url: `${base(ctx.urls.typeform)}/forms/${encodeURIComponent(form)}/webhooks/${TYPEFORM_TAG}`,
        headers: typeformAuth(secret),
        body: {
          url,
          enabled: true,
          secret: webhookSecret,
          verify_ssl: true,
          event_types: { form_response: true },
        },
      });
      if (!answer.ok) {
        await typeform.unregister(ctx, secret, { webhook: { tag: TYPEFORM_TAG, form_ids: done } });
        throw new ProviderError(
          answer.status === 404 ? 422 : answer.status,
          `form ${form}: ${providerReason(answer)}`,
        );
      }
      done.push(form);
    }
    return {
      webhook: { url, registered: true, registration: { tag: TYPEFORM_TAG, form_ids: done } },
      secret: { webhook_secret: webhookSecret },
      settings: { webhook: { url, tag: TYPEFORM_TAG, form_ids: done } },
    };
  },
  async unregister(ctx, secret, settings) {
    const hook = settings.webhook as { tag?: unknown; form_ids?: unknown } | undefined;
    const forms = Array.isArray(hook?.form_ids) ? hook.form_ids as string[] : [];
    const notes: string[] = [];
    for (const form of forms) {
      const answer = await call(ctx, {
        provider: "typeform",
        operation: "webhooks.delete",
        method: "DELETE",
        url: `${base(ctx.urls.typeform)}/forms/${encodeURIComponent(form)}/webhooks/${
          String(hook?.tag ?? TYPEFORM_TAG)
        }`,
        headers: typeformAuth(secret),
      });
      if (!answer.ok && answer.status !== 404) notes.push(`form ${form}: ${providerReason(answer)}`);
    }
    return notes.length === 0
      ? { removed: forms.length > 0 }
      : { removed: false, note: `Typeform did not remove every webhook: ${notes.join("; ")}` };
  },
};

// Jotform ----------------------------------------------------------------------------------------

const JOTFORM_HOSTS: Record<string, string> = {
  eu: "https://eu-api.jotform.com",
  hipaa: "https://hipaa-api.jotform.com",
};
const jotformBase = (ctx: DriverContext, settings: Settings) =>
  base(JOTFORM_HOSTS[String(settings.region)] ?? ctx.urls.jotform);

const jotform: Driver = {
  async verify(ctx, secret, settings) {
    const answer = await call(ctx, {
      provider: "jotform",
      operation: "user.get",
      method: "GET",
      url: `${jotformBase(ctx, settings)}/user`,
      headers: { apikey: secret.api_key },
    });
    if (!answer.ok) return failed(answer);
    const content = bodyRecord(bodyRecord(answer.body).content);
    const extra = JOTFORM_HOSTS[String(settings.region)]
      ? { base_url: JOTFORM_HOSTS[String(settings.region)] }
      : {};
    return { ok: true, account: { username: content.username ?? null }, settings: extra };
  },
  async register(ctx, secret, settings) {
    const token = secret.webhook_token ?? randomHex(24);
    const url = webhookUrl(ctx, "webhook-jotform", `&token=${token}`);
    const forms = (settings.form_ids ?? []) as string[];
    if (forms.length === 0) {
      return {
        webhook: {
          url,
          registered: false,
          steps: [
            `In each Jotform form › Settings › Integrations › WebHooks, add ${url}`,
            "Or connect again with form_ids and we register it",
          ],
        },
        secret: { webhook_token: token },
      };
    }
    for (const form of forms) {
      const answer = await call(ctx, {
        provider: "jotform",
        operation: "webhooks.create",
        method: "POST",
        url: `${jotformBase(ctx, settings)}/form/${encodeURIComponent(form)}/webhooks`,
        headers: { apikey: secret.api_key },
        body: new URLSearchParams({ webhookURL: url }),
      });
      if (!answer.ok) {
        throw new ProviderError(
          answer.status === 404 ? 422 : answer.status,
          `form ${form}: ${providerReason(answer)}`,
        );
      }
    }
    // The URL carries the token: it is kept in Vault, not in the settings or the answer.
    const shown = webhookUrl(ctx, "webhook-jotform", "&token=…");
    return {
      webhook: { url: shown, registered: true, registration: { form_ids: forms } },
      secret: { webhook_token: token },
      settings: { webhook: { form_ids: forms } },
    };
  },
  async unregister(ctx, secret, settings) {
    const forms = ((settings.webhook as { form_ids?: unknown } | undefined)?.form_ids ?? []) as string[];
    if (forms.length === 0 || !secret.webhook_token) return { removed: false };
    const url = webhookUrl(ctx, "webhook-jotform", `&token=${secret.webhook_token}`);
    const notes: string[] = [];
    for (const form of forms) {
      const list = await call(ctx, {
        provider: "jotform",
        operation: "webhooks.list",
        method: "GET",
        url: `${jotformBase(ctx, settings)}/form/${encodeURIComponent(form)}/webhooks`,
        headers: { apikey: secret.api_key },
      });
      if (!list.ok) {
        notes.push(`form ${form}: ${providerReason(list)}`);
        continue;
      }
      const entry = Object.entries(bodyRecord(bodyRecord(list.body).content)).find(([, u]) => u === url);
      if (!entry) continue;
      const del = await call(ctx, {
        provider: "jotform",
        operation: "webhooks.delete",
        method: "DELETE",
        url: `${jotformBase(ctx, settings)}/form/${encodeURIComponent(form)}/webhooks/${entry[0]}`,
        headers: { apikey: secret.api_key },
      });
      if (!del.ok) notes.push(`form ${form}: ${providerReason(del)}`);
    }
    return notes.length === 0 ? { removed: true } : { removed: false, note: notes.join("; ") };
  },
};

// Acuity -----------------------------------------------------------------------------------------

/** The Acuity events we subscribe to (one dynamic webhook each). */
const ACUITY_EVENTS = ["appointment.scheduled", "appointment.rescheduled", "appointment.canceled"];
const acuityAuth = (secret: Secret) => ({
  authorization: `Basic ${b64(`${secret.user_id}:${secret.api_key}`)}`,
});

const acuity: Driver = {
  async verify(ctx, secret) {
    const answer = await call(ctx, {
      provider: "acuity",
      operation: "me.get",
      method: "GET",
      url: `${base(ctx.urls.acuity)}/me`,
      headers: acuityAuth(secret),
    });
    if (!answer.ok) return failed(answer);
    const me = bodyRecord(answer.body);
    return { ok: true, account: { name: me.name ?? null, timezone: me.timezone ?? null } };
  },
  async register(ctx, secret) {
    // Acuity signs every webhook with the API key (already stored): nothing to generate.
    const url = webhookUrl(ctx, "webhook-acuity");
    const ids: number[] = [];
    for (const event of ACUITY_EVENTS) {
      const answer = await call(ctx, {
        provider: "acuity",
        operation: "webhooks.create",
        method: "POST",
        url: `${base(ctx.urls.acuity)}/webhooks`,
        headers: acuityAuth(secret),
        body: { event, target: url },
      });
      const id = answer.ok ? bodyRecord(answer.body).id : undefined;
      if (!answer.ok || typeof id !== "number") {
        await acuity.unregister(ctx, secret, { webhook: { ids } });
        throw new ProviderError(
          answer.status,
          answer.ok ? "Acuity created the webhook without an id" : `${event}: ${providerReason(answer)}`,
        );
      }
      ids.push(id);
    }
    return {
      webhook: { url, registered: true, registration: { ids, events: ACUITY_EVENTS } },
      settings: { webhook: { url, ids, events: ACUITY_EVENTS } },
    };
  },
  async unregister(ctx, secret, settings) {
    const ids = (settings.webhook as { ids?: unknown } | undefined)?.ids;
    if (!Array.isArray(ids) || ids.length === 0) return { removed: false };
    const notes: string[] = [];
    for (const id of ids) {
      const answer = await call(ctx, {
        provider: "acuity",
        operation: "webhooks.delete",
        method: "DELETE",
        url: `${base(ctx.urls.acuity)}/webhooks/${encodeURIComponent(String(id))}`,
        headers: acuityAuth(secret),
      });
      if (!answer.ok && answer.status !== 404) notes.push(`webhook ${id}: ${providerReason(answer)}`);
    }
    return notes.length === 0
      ? { removed: true }
      : { removed: false, note: `Acuity did not remove every webhook: ${notes.join("; ")}` };
  },
};

// Calendly ---------------------------------------------------------------------------------------

const calendlyAccount = (ctx: DriverContext, secret: Secret) => ({
  accessToken: secret.access_token,
  baseUrl: ctx.urls.calendly,
  timeoutMs: ctx.timeoutMs,
  fetch: ctx.fetch,
});

/** The uri of the user's subscription posting to `url`, if there is one. */
async function calendlyExisting(
  ctx: DriverContext,
  secret: Secret,
  input: { url: string; user: string; organization: string },
): Promise<string | undefined> {
  const query = new URLSearchParams({ organization: input.organization, user: input.user, scope: "user" });
  const answer = await call(ctx, {
    provider: "calendly",
    operation: "webhook_subscriptions.list",
    method: "GET",
    url: `${base(ctx.urls.calendly)}/webhook_subscriptions?${query}`,
    headers: { authorization: `Bearer ${secret.access_token}` },
  });
  if (!answer.ok) return undefined;
  const list = (bodyRecord(answer.body).collection ?? []) as { uri?: unknown; callback_url?: unknown }[];
  const found = list.find((s) => s?.callback_url === input.url)?.uri;
  return typeof found === "string" ? found : undefined;
}

const calendly: Driver = {
  async verify(ctx, secret) {
    const me = await currentUser(calendlyAccount(ctx, secret));
    if (!me.ok) return failed(me);
    return {
      ok: true,
      account: { user: me.user },
      settings: { user: me.user, organization: me.organization },
    };
  },
  async register(ctx, secret, _settings, verified) {
    const url = webhookUrl(ctx, "webhook-calendly");
    const extra = verified.ok ? verified.settings ?? {} : {};
    // Our own signing key: with a personal access token Calendly would otherwise sign with nothing we know.
    const signingKey = randomHex();
    const input = { url, user: String(extra.user), organization: String(extra.organization), signingKey };
    let sub = await createWebhookSubscription(calendlyAccount(ctx, secret), input);
    if (!sub.ok && sub.status === 409) {
      // Calendly keeps one subscription per URL: ours from an earlier connect (or meeting-setup).
      const existing = await calendlyExisting(ctx, secret, input);
      if (existing && secret.signing_key) {
        // Reconnecting: keep it and its signing key, so no webhook fails in between.
        return {
          webhook: { url, registered: true, registration: { uri: existing } },
          secret: { signing_key: secret.signing_key },
          settings: { webhook_subscription: existing },
        };
      }
      // Its signing key is lost: replace it.
      if (existing) await calendly.unregister(ctx, secret, { webhook_subscription: existing });
      sub = await createWebhookSubscription(calendlyAccount(ctx, secret), input);
    }
    if (!sub.ok) {
      if (sub.status === 403) {
        throw new ProviderError(
          422,
          `Calendly refused the webhook subscription (webhooks need a paid plan): ${providerReason(sub)}`,
        );
      }
      throw new ProviderError(sub.status, providerReason(sub));
    }
    return {
      webhook: { url, registered: true, registration: { uri: sub.subscription } },
      secret: { signing_key: signingKey },
      settings: { webhook_subscription: sub.subscription },
    };
  },
  async unregister(ctx, secret, settings) {
    const uri = settings.webhook_subscription;
    if (typeof uri !== "string" || uri === "") return { removed: false };
    const uuid = uri.split("/").pop()!;
    const answer = await call(ctx, {
      provider: "calendly",
      operation: "webhook_subscriptions.delete",
      method: "DELETE",
      url: `${base(ctx.urls.calendly)}/webhook_subscriptions/${encodeURIComponent(uuid)}`,
      headers: { authorization: `Bearer ${secret.access_token}` },
    });
    if (answer.ok || answer.status === 404) return { removed: true };
    return { removed: false, note: `Calendly did not remove the subscription: ${providerReason(answer)}` };
  },
};

// Tave / VSCO Workspace --------------------------------------------------------------------------

const tave: Driver = {
  async verify(ctx, secret) {
    // The v2 API key is checked; the New Lead API's secret key has no read-only call to check it with.
    const answer = await call(ctx, {
      provider: "tave",
      operation: "studio.me",
      method: "GET",
      url: `${base(ctx.urls.taveApi)}/studio/me`,
      headers: { "x-api-key": secret.api_key },
    });
    if (!answer.ok) return failed(answer);
    const s = bodyRecord(answer.body);
    return { ok: true, account: { studio: s.name ?? null } };
  },
  register: () => Promise.resolve({ webhook: null }),
  unregister: none,
};

// CRM webhooks (HoneyBook, Dubsado, Studio Ninja through automations) ------------------------------

const crmWebhooks: Driver = {
  verify(_ctx, secret) {
    // Nothing to ask a provider: the secrets are ours. Generated here when the vendor gave none.
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    return Promise.resolve({
      ok: true,
      account: {},
      secret: {
        signing_secret: secret.signing_secret ?? `whsec_${btoa(String.fromCharCode(...bytes))}`,
        inbound_secret: secret.inbound_secret ?? randomHex(),
      },
    });
  },
  async register(ctx, secret, settings) {
    // No CRM API to register with: the answer is the inbound URL (its token is the credential the
    // automation holds) and how to check our outbound signatures.
    const token = await inboundToken(secret.inbound_secret, ctx.supplierId);
    const url = webhookUrl(ctx, "crm-inbound", `&token=${token}`);
    const outbound = typeof settings.url === "string" ? settings.url : "the url you set";
    return {
      webhook: {
        url,
        registered: false,
        steps: [
          `In your automation (Zapier, Make), POST JSON changes to ${url} (see docs/crm-sync.md for the body)`,
          `We POST couple and booking events to ${outbound}, signed as Standard Webhooks: headers ` +
          "webhook-id, webhook-timestamp and webhook-signature (v1,<base64 HMAC-SHA256 of " +
          "id.timestamp.body, keyed with the base64-decoded part of your signing_secret after whsec_>)",
          "To check that signature in the automation, connect with your own signing_secret (whsec_…): a " +
          "generated one is never shown",
          "Connecting again makes a new inbound token: update the URL in your automation",
        ],
      },
    };
  },
  unregister: none,
};

/** The driver of each connectable provider. */
export const drivers: Record<ConnectableProvider, Driver> = {
  resend,
  sendgrid,
  mailgun,
  twilio,
  whatsapp,
  typeform,
  jotform,
  acuity,
  calendly,
  tave,
  crm_webhooks: crmWebhooks,
};

export { resourceOf };

/** The simulated Mailgun Messages API (form-encoded, basic auth) and its webhooks, signed in the JSON body. */
import { signMailgun } from "../../shared/webhooks/mailgun.ts";
import {
  EmailSimulator,
  type EmailWebhookConfig,
  parseEmailWebhook,
  randomToken,
  type SimEmail,
} from "./email_common.ts";
import {
  ControlError,
  type FaultRule,
  optionalString,
  type Provider,
  type ProviderRequest,
  type ProviderResponse,
  type SimState,
} from "./state.ts";
import type { WebhookDispatcher, WebhookSend } from "./webhooks.ts";

const NAME = "mailgun";
const ADDRESS = /^([^<>]*<)?[^\s@<>,"]+@[^\s@<>,"]+>?$/;

/** Mailgun's error answer: `{ "message": ... }`. */
function fail(status: number, message: string, headers?: Record<string, string>): ProviderResponse {
  return { status, headers, body: { message } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Mailgun webhook settings: the common ones plus the account's HTTP webhook signing key. */
type MailgunWebhook = EmailWebhookConfig & { signing_key: string };

/** The event types of Mailgun's domain webhooks API. */
const WEBHOOK_EVENTS = new Set([
  "accepted",
  "clicked",
  "opened",
  "unsubscribed",
  "delivered",
  "permanent_fail",
  "temporary_fail",
  "complained",
]);
/** Mailgun keeps at most three URLs per event type. */
const MAX_URLS_PER_EVENT = 3;

/** The simulated Mailgun; see {@link createMailgunProvider}. */
class MailgunSimulator extends EmailSimulator<MailgunWebhook> implements Provider {
  readonly name = NAME;
  #domains: Set<string> | null = null;
  #invalidKeys = new Set<string>();
  /** The account's HTTP webhook signing key, per API key (made on first use). */
  #signingKeys = new Map<string, string>();
  /** Domain webhooks made through the API: per API key and domain, the URLs of each event type. */
  #domainWebhooks = new Map<string, Map<string, string[]>>();

  async handle(req: ProviderRequest): Promise<ProviderResponse> {
    const basic = /^Basic\s+(\S+)\s*$/i.exec(req.headers["authorization"] ?? "");
    let user = "";
    let apiKey = "";
    try {
      [user, apiKey] = basic ? atob(basic[1]).split(":", 2) : [];
    } catch {
      user = "";
    }
    if (user !== "api" || !apiKey || this.#invalidKeys.has(apiKey)) return { status: 401, body: "Forbidden" };
    const account = this.#account(req, apiKey);
    if (account) return account;
    const m = /^\/v3\/([^/]+)\/messages$/.exec(req.path);
    if (!m) return fail(404, "Not Found");
    if (req.method !== "POST") return fail(405, "Method Not Allowed");
    const domain = decodeURIComponent(m[1]);
    if (this.#domains && !this.#domains.has(domain)) return fail(404, `Domain not found: ${domain}`);
    const limited = this.rates.take(apiKey);
    if (limited) return fail(429, "Too many requests", { "retry-after": String(limited.reset_s) });
    if (
      !(req.headers["content-type"] ?? "").includes("application/x-www-form-urlencoded") ||
      !isRecord(req.body)
    ) {
      return fail(400, "Expected form data (application/x-www-form-urlencoded or multipart/form-data)");
    }
    const form = req.body as Record<string, string>;
    for (const field of ["from", "to", "subject"]) {
      if (!form[field]) return fail(400, `'${field}' parameter is missing`);
    }
    if (!form.text && !form.html && !form.template) {
      return fail(400, "Need at least one of 'text', 'html' or 'template' parameters specified");
    }
    if (!ADDRESS.test(form.from)) {
      return fail(400, `'from' parameter is not a valid address. please check documentation`);
    }
    if (!ADDRESS.test(form.to)) {
      return fail(400, `'to' parameter is not a valid address. please check documentation`);
    }
    await req.processing();
    const id = `${new Date(this.state.now()).toISOString().replace(/\D/g, "").slice(0, 14)}.${
      randomToken(16)
    }@${domain}`;
    const pick = (prefix: string) =>
      Object.fromEntries(
        Object.entries(form).filter(([k]) => k.startsWith(prefix)).map((
          [k, v],
        ) => [k.slice(prefix.length), v]),
      );
    const email: SimEmail = {
      id,
      from: form.from,
      to: form.to,
      subject: form.subject,
      html: form.html ?? null,
      text: form.text ?? null,
      headers: pick("h:"),
      variables: pick("v:"),
      api_key: apiKey,
      received_at_ms: req.record.received_at_ms,
      created_at: new Date(this.state.now()).toISOString(),
    };
    await this.accept(email);
    return { status: 200, body: { id: `<${id}>`, message: "Queued. Thank you." } };
  }

  /** Domains (`GET /v4/domains/{name}`), the signing key and domain webhooks v4; undefined for other paths. */
  #account(req: ProviderRequest, apiKey: string): ProviderResponse | undefined {
    if (req.path === "/v5/accounts/http_signing_key") {
      if (req.method !== "GET") return fail(405, "Method Not Allowed");
      return { status: 200, body: { http_signing_key: this.signingKeyOf(apiKey) } };
    }
    const m = /^\/v4\/domains\/([^/]+)(\/webhooks)?$/.exec(req.path);
    if (!m) return undefined;
    const domain = decodeURIComponent(m[1]);
    if (this.#domains && !this.#domains.has(domain)) return fail(404, "Domain not found");
    if (!m[2]) {
      if (req.method !== "GET") return fail(405, "Method Not Allowed");
      return {
        status: 200,
        body: {
          domain: { name: domain, state: "active", type: "custom", spam_action: "disabled" },
          receiving_dns_records: [],
          sending_dns_records: [],
        },
      };
    }
    const key = `${apiKey}\u0000${domain}`;
    const hooks = this.#domainWebhooks.get(key) ?? new Map<string, string[]>();
    if (req.method === "POST") {
      if (!(req.headers["content-type"] ?? "").includes("application/x-www-form-urlencoded")) {
        return { status: 400, body: { Reason: "Expected form data" } };
      }
      const form = new URLSearchParams(req.rawBody);
      const url = form.get("url") ?? "";
      const events = form.getAll("event_types");
      if (!/^https?:\/\//.test(url)) return { status: 400, body: { Reason: "url is required" } };
      if (events.length === 0) return { status: 400, body: { Reason: "event_types is required" } };
      const unknown = events.find((e) => !WEBHOOK_EVENTS.has(e));
      if (unknown) return { status: 400, body: { Reason: `invalid webhook type: ${unknown}` } };
      for (const e of events) {
        const urls = hooks.get(e) ?? [];
        if (!urls.includes(url) && urls.length >= MAX_URLS_PER_EVENT) {
          return { status: 400, body: { Reason: `${e} already has ${MAX_URLS_PER_EVENT} urls` } };
        }
      }
      for (const e of events) {
        const urls = hooks.get(e) ?? [];
        if (!urls.includes(url)) urls.push(url);
        hooks.set(e, urls);
      }
      this.#domainWebhooks.set(key, hooks);
    } else if (req.method === "DELETE") {
      const urls = req.query.getAll("url");
      if (urls.length === 0) return { status: 400, body: { Reason: "url is required" } };
      for (const [e, list] of hooks) {
        const kept = list.filter((u) => !urls.includes(u));
        if (kept.length === 0) hooks.delete(e);
        else hooks.set(e, kept);
      }
    } else if (req.method !== "GET") {
      return fail(405, "Method Not Allowed");
    }
    return {
      status: 200,
      body: { webhooks: Object.fromEntries([...hooks].map(([e, urls]) => [e, { urls }])) },
    };
  }

  /** The HTTP webhook signing key of the account an API key belongs to. */
  signingKeyOf(apiKey: string): string {
    let key = this.#signingKeys.get(apiKey);
    if (!key) {
      key = `key-${randomToken(32)}`;
      this.#signingKeys.set(apiKey, key);
    }
    return key;
  }

  override async control(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    if (path === "/webhooks" && method === "GET") {
      // Domain webhooks made through the API, one entry per (domain, event type, URL), for tests to assert.
      const list = [...this.#domainWebhooks].flatMap(([key, hooks]) => {
        const [apiKey, domain] = key.split("\u0000");
        return [...hooks].flatMap(([event, urls]) =>
          urls.map((url) => ({ domain, event, url, api_key: `${apiKey.slice(0, 4)}…` }))
        );
      });
      return { status: 200, body: list };
    }
    return await super.control(method, path, query, body);
  }

  faultResponse(rule: FaultRule): ProviderResponse {
    const headers: Record<string, string> = {};
    if (rule.status === 429 || rule.retry_after_s !== null) {
      headers["retry-after"] = String(rule.retry_after_s ?? 1);
    }
    return fail(
      rule.status,
      rule.message ?? (rule.status >= 500 ? "Internal Server Error" : "Bad Request"),
      headers,
    );
  }

  configure(input: Record<string, unknown>): void {
    this.configureCommon(input);
    if ("domains" in input) {
      const d = input.domains;
      if (d !== null && (!Array.isArray(d) || d.some((x) => typeof x !== "string"))) {
        throw new ControlError("`domains` must be an array of sending domains, or null for any");
      }
      this.#domains = d === null ? null : new Set(d as string[]);
    }
    const invalid = input.invalid_keys;
    if (invalid !== undefined) {
      if (!Array.isArray(invalid) || invalid.some((k) => typeof k !== "string")) {
        throw new ControlError("`invalid_keys` must be an array of strings");
      }
      for (const k of invalid as string[]) this.#invalidKeys.add(k);
    }
  }

  protected parseWebhook(input: unknown): MailgunWebhook | null {
    const base = parseEmailWebhook(input, ["accepted", "delivered"]);
    const key = isRecord(input) ? optionalString(input, "signing_key") : undefined;
    if (base && !key) {
      throw new ControlError("`webhook.signing_key` is required (the HTTP webhook signing key)");
    }
    return base && { ...base, signing_key: key! };
  }

  describeConfig(): Record<string, unknown> {
    const hide = (w: MailgunWebhook | null) => w && { ...w, signing_key: `${w.signing_key.slice(0, 4)}…` };
    return {
      rate_limit_per_s: this.rates.defaultLimit,
      domains: this.#domains && [...this.#domains],
      webhook: hide(this.defaultWebhook),
      webhooks_by_key: Object.fromEntries([...this.keyWebhooks].map(([k, w]) => [k, hide(w)])),
    };
  }

  override reset(): void {
    super.reset();
    this.#domains = null;
    this.#invalidKeys.clear();
    this.#signingKeys.clear();
    this.#domainWebhooks.clear();
  }

  /**
   * One event as Mailgun posts it: JSON with the signature (timestamp, token, hex HMAC) in the body.
   * Signed once, so every attempt of the event carries the same token, as a replay would.
   */
  protected async event(
    email: SimEmail,
    hook: MailgunWebhook,
    type: string,
    data: Record<string, unknown>,
    source: string,
  ): Promise<WebhookSend> {
    const eventId = randomToken(22);
    const now = Date.now() / 1000;
    const eventData: Record<string, unknown> = {
      event: type,
      id: eventId,
      timestamp: now,
      recipient: email.to,
      message: { headers: { "message-id": email.id, from: email.from, to: email.to } },
      "user-variables": email.variables,
      ...(type === "failed"
        ? { severity: "permanent", reason: "bounce", "delivery-status": { code: 550 } }
        : {}),
      ...data,
    };
    const timestamp = String(Math.floor(now));
    const token = randomToken(50);
    const signature = await signMailgun(hook.signing_key, timestamp, token);
    return {
      provider: NAME,
      url: hook.url,
      type,
      eventId,
      body: JSON.stringify({ signature: { timestamp, token, signature }, "event-data": eventData }),
      extra: { message_id: email.id, token, source },
      headers: () =>
        Promise.resolve({ "content-type": "application/json", "user-agent": "mailgun (provider-simulator)" }),
    };
  }
}

/** Creates the simulated Mailgun, served under `/mailgun` (clients use `<simulator>/mailgun` as base URL). */
export function createMailgunProvider(state: SimState, webhooks: WebhookDispatcher): Provider {
  return new MailgunSimulator(state, webhooks);
}

/** The simulated SendGrid v3 Mail Send API and its Event Webhook, signed with the simulator's own ECDSA P-256 key. */
import { signSendGrid } from "../../shared/webhooks/sendgrid.ts";
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
  type Provider,
  type ProviderRequest,
  type ProviderResponse,
  type SimState,
} from "./state.ts";
import type { WebhookDispatcher, WebhookSend } from "./webhooks.ts";

const NAME = "sendgrid";
const ADDRESS = /^[^\s@<>,"]+@[^\s@<>,"]+$/;

/** SendGrid's error answer: `{ errors: [{ message, field, help }] }`. */
function errors(
  status: number,
  message: string,
  field: string | null = null,
  headers?: Record<string, string>,
) {
  return { status, headers, body: { errors: [{ message, field, help: null }] } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Validates a `/v3/mail/send` body the way SendGrid does, returning the first problem. */
function validate(body: unknown): { field: string; message: string } | null {
  if (!isRecord(body)) return { field: "", message: "Bad Request: the request body must be JSON" };
  const ps = body.personalizations;
  if (!Array.isArray(ps) || ps.length === 0) {
    return {
      field: "personalizations",
      message: "The personalizations field is required and must have at least one personalization.",
    };
  }
  for (const [i, p] of ps.entries()) {
    const to = isRecord(p) ? p.to : undefined;
    if (
      !Array.isArray(to) || to.length === 0 ||
      to.some((r) => !isRecord(r) || typeof r.email !== "string" || !ADDRESS.test(r.email))
    ) {
      return { field: `personalizations.${i}.to`, message: "Does not contain a valid address." };
    }
    if (
      isRecord(p) && p.custom_args !== undefined &&
      (!isRecord(p.custom_args) || Object.values(p.custom_args).some((v) => typeof v !== "string"))
    ) {
      return { field: `personalizations.${i}.custom_args`, message: "Custom args values must be strings." };
    }
  }
  const from = body.from;
  if (!isRecord(from) || typeof from.email !== "string" || !ADDRESS.test(from.email)) {
    return {
      field: "from.email",
      message:
        "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.",
    };
  }
  if (typeof body.subject !== "string" || body.subject === "") {
    return {
      field: "subject",
      message:
        "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.",
    };
  }
  const content = body.content;
  if (
    !Array.isArray(content) || content.length === 0 ||
    content.some((c) => !isRecord(c) || typeof c.value !== "string" || c.value === "")
  ) {
    return {
      field: "content",
      message:
        "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.",
    };
  }
  const types = content.map((c) => (c as { type?: unknown }).type);
  if (
    types.includes("text/html") && types.includes("text/plain") &&
    types.indexOf("text/plain") > types.indexOf("text/html")
  ) {
    return {
      field: "content",
      message: "If present, text/plain content must be first, followed by text/html.",
    };
  }
  if (
    body.headers !== undefined &&
    (!isRecord(body.headers) || Object.values(body.headers).some((v) => typeof v !== "string"))
  ) {
    return { field: "headers", message: "Invalid type. Expected: object of strings." };
  }
  return null;
}

/** The simulated SendGrid; see {@link createSendGridProvider}. */
class SendGridSimulator extends EmailSimulator<EmailWebhookConfig> implements Provider {
  readonly name = NAME;
  #invalidKeys = new Set<string>();
  #keyScopes = new Map<string, string[]>();
  #registered = new Map<
    string,
    { id: string; url: string; api_key: string; signed: boolean; settings: unknown }
  >();
  #keys: Promise<{ pair: CryptoKeyPair; publicKey: string }>;

  constructor(state: SimState, webhooks: WebhookDispatcher) {
    super(state, webhooks);
    // The account's Event Webhook key pair; receivers verify with the public half (base64 DER SPKI).
    this.#keys = (async () => {
      const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
        "sign",
        "verify",
      ]);
      const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pair.publicKey));
      return { pair, publicKey: btoa(String.fromCharCode(...spki)) };
    })();
  }

  async handle(req: ProviderRequest): Promise<ProviderResponse> {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers["authorization"] ?? "");
    if (!bearer) return errors(401, "Permission denied, wrong credentials");
    const apiKey = bearer[1];
    if (!apiKey.startsWith("SG.") || this.#invalidKeys.has(apiKey)) {
      return errors(401, "The provided authorization grant is invalid, expired, or revoked");
    }
    const settings = await this.#settingsApi(req, apiKey);
    if (settings) return settings;
    if (req.path !== "/v3/mail/send") return errors(404, "The requested resource was not found");
    if (req.method !== "POST") return errors(405, "Method not allowed");
    const limited = this.rates.take(apiKey);
    if (limited) {
      return errors(429, "Too many requests", null, {
        "x-ratelimit-limit": String(limited.limit),
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + limited.reset_s),
      });
    }
    if (req.bodyInvalid || req.body === undefined) {
      return errors(400, "Bad Request: the request body is not valid JSON");
    }
    const problem = validate(req.body);
    if (problem) return errors(400, problem.message, problem.field);
    await req.processing();
    const body = req.body as Record<string, unknown>;
    const p = (body.personalizations as Record<string, unknown>[])[0];
    const from = body.from as { email: string; name?: string };
    const content = body.content as { type: string; value: string }[];
    const id = randomToken(22);
    const email: SimEmail = {
      id,
      from: from.name ? `${from.name} <${from.email}>` : from.email,
      to: (p.to as { email: string }[])[0].email,
      subject: body.subject as string,
      html: content.find((c) => c.type === "text/html")?.value ?? null,
      text: content.find((c) => c.type === "text/plain")?.value ?? null,
      headers: (body.headers as Record<string, string> | undefined) ?? {},
      variables: {
        ...(body.custom_args as Record<string, string> ?? {}),
        ...(p.custom_args as Record<string, string> ?? {}),
      },
      api_key: apiKey,
      received_at_ms: req.record.received_at_ms,
      created_at: new Date(this.state.now()).toISOString(),
    };
    await this.accept(email);
    return { status: 202, headers: { "x-message-id": id }, body: "" };
  }

  /** `GET /v3/scopes` and the Event Webhook settings API (create, sign, delete); undefined for other paths. */
  async #settingsApi(req: ProviderRequest, apiKey: string): Promise<ProviderResponse | undefined> {
    const { method, path } = req;
    if (path === "/v3/scopes" && method === "GET") {
      const scopes = this.#keyScopes.get(apiKey) ??
        [
          "mail.send",
          "user.webhooks.event.settings.create",
          "user.webhooks.event.settings.read",
          "user.webhooks.event.settings.update",
          "user.webhooks.event.settings.delete",
        ];
      return { status: 200, body: { scopes } };
    }
    if (!path.startsWith("/v3/user/webhooks/event/settings")) return undefined;
    const scopes = this.#keyScopes.get(apiKey);
    if (scopes && !scopes.some((s) => s.startsWith("user.webhooks.event.settings"))) {
      return errors(403, "access forbidden");
    }
    if (path === "/v3/user/webhooks/event/settings" && method === "POST") {
      const body = isRecord(req.body) ? req.body : {};
      if (typeof body.url !== "string" || !/^https?:\/\//.test(body.url)) {
        return errors(400, "url is required and must be a valid URL", "url");
      }
      const id = crypto.randomUUID();
      this.#registered.set(id, { id, url: body.url, api_key: apiKey, signed: false, settings: body });
      const events = ["processed", "delivered", "deferred", "bounce", "dropped", "open", "click"]
        .filter((e) => body[e] === true);
      this.keyWebhooks.set(apiKey, {
        url: body.url,
        events: events.slice(0, 2),
        retry_delays_ms: [1000, 5000],
        delay_ms: 0,
      });
      return { status: 201, body: { id, ...body, public_key: "" } };
    }
    const signed = /^\/v3\/user\/webhooks\/event\/settings\/signed\/([^/]+)$/.exec(path);
    const one = /^\/v3\/user\/webhooks\/event\/settings\/([^/]+)$/.exec(path);
    const id = decodeURIComponent((signed ?? one)?.[1] ?? "");
    const hook = this.#registered.get(id);
    if (!hook || hook.api_key !== apiKey) return errors(404, "webhook not found");
    if (signed && (method === "PATCH" || method === "GET")) {
      if (method === "PATCH") hook.signed = isRecord(req.body) && req.body.enabled === true;
      return { status: 200, body: { id, public_key: hook.signed ? (await this.#keys).publicKey : "" } };
    }
    if (one && method === "DELETE") {
      this.#registered.delete(id);
      if (this.keyWebhooks.get(apiKey)?.url === hook.url) this.keyWebhooks.delete(apiKey);
      return { status: 204, body: "" };
    }
    return errors(405, "Method not allowed");
  }

  faultResponse(rule: FaultRule): ProviderResponse {
    const headers: Record<string, string> = {};
    if (rule.retry_after_s !== null) headers["retry-after"] = String(rule.retry_after_s);
    if (rule.status === 429) {
      headers["x-ratelimit-limit"] = "600";
      headers["x-ratelimit-remaining"] = "0";
      headers["x-ratelimit-reset"] = String(Math.floor(Date.now() / 1000) + (rule.retry_after_s ?? 1));
    }
    return errors(
      rule.status,
      rule.message ?? (rule.status >= 500 ? "Internal server error" : "Bad Request"),
      null,
      headers,
    );
  }

  configure(input: Record<string, unknown>): void {
    this.configureCommon(input);
    const invalid = input.invalid_keys;
    if (invalid !== undefined) {
      if (!Array.isArray(invalid) || invalid.some((k) => typeof k !== "string")) {
        throw new ControlError("`invalid_keys` must be an array of strings");
      }
      for (const k of invalid) this.#invalidKeys.add(k);
    }
    // {api_key, scopes}: what GET /v3/scopes answers for that key (default: mail.send and the webhook scopes).
    if (Array.isArray(input.scopes) && typeof input.api_key === "string") {
      this.#keyScopes.set(input.api_key, input.scopes.map(String));
    }
  }

  protected parseWebhook(input: unknown): EmailWebhookConfig | null {
    return parseEmailWebhook(input, ["processed", "delivered"]);
  }

  describeConfig(): Record<string, unknown> {
    return {
      rate_limit_per_s: this.rates.defaultLimit,
      rate_limits_by_key: Object.fromEntries(this.rates.byKey),
      webhook: this.defaultWebhook,
      webhooks_by_key: Object.fromEntries(this.keyWebhooks),
    };
  }

  override async control(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    if (path === "/event_webhooks" && method === "GET") {
      return {
        status: 200,
        body: [...this.#registered.values()].map((h) => ({ id: h.id, url: h.url, signed: h.signed })),
      };
    }
    if (path === "/public_key" && method === "GET") {
      return { status: 200, body: { public_key: (await this.#keys).publicKey } };
    }
    return await super.control(method, path, query, body);
  }

  override reset(): void {
    super.reset();
    this.#invalidKeys.clear();
    this.#keyScopes.clear();
    this.#registered.clear();
  }

  /** One event as SendGrid posts it: a JSON array, custom args at the top level, a trailing CRLF. */
  protected event(
    email: SimEmail,
    hook: EmailWebhookConfig,
    type: string,
    data: Record<string, unknown>,
    source: string,
  ): Promise<WebhookSend> {
    const eventId = randomToken(48);
    const event: Record<string, unknown> = {
      email: email.to,
      timestamp: Math.floor(Date.now() / 1000),
      event: type,
      sg_event_id: eventId,
      sg_message_id: `${email.id}.filterdrecv-sim-1`,
      "smtp-id": `<${email.id}@sim.sendgrid.net>`,
      ...email.variables,
      ...(type === "bounce"
        ? { type: "bounce", status: "5.1.1", reason: "550 5.1.1 The email account does not exist." }
        : {}),
      ...(type === "dropped" ? { reason: "Bounced Address" } : {}),
      ...data,
    };
    const body = JSON.stringify([event]) + "\r\n";
    return Promise.resolve({
      provider: NAME,
      url: hook.url,
      type,
      eventId,
      body,
      extra: { message_id: email.id, source },
      headers: async () => {
        const timestamp = String(Math.floor(Date.now() / 1000));
        const { pair } = await this.#keys;
        return {
          "content-type": "application/json",
          "user-agent": "SendGrid Event API (provider-simulator)",
          "x-twilio-email-event-webhook-timestamp": timestamp,
          "x-twilio-email-event-webhook-signature": await signSendGrid(
            pair.privateKey,
            timestamp,
            new TextEncoder().encode(body),
          ),
        };
      },
    });
  }
}

/** Creates the simulated SendGrid, served under `/sendgrid` (clients use `<simulator>/sendgrid` as base URL). */
export function createSendGridProvider(state: SimState, webhooks: WebhookDispatcher): Provider {
  return new SendGridSimulator(state, webhooks);
}

/** The simulated Resend API (send, batch, retrieve), its Svix-signed webhooks and its control routes. */
import { signSvix } from "../../shared/webhooks/svix.ts";
import {
  ControlError,
  type FaultRule,
  optionalNumber,
  optionalString,
  type Provider,
  type ProviderRequest,
  type ProviderResponse,
  type SimState,
} from "./state.ts";
import type { WebhookDispatcher, WebhookSend } from "./webhooks.ts";

const NAME = "resend";
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_RECIPIENTS = 50;
const MAX_BATCH = 100;
const RATE_WINDOW_MS = 1000;
const TAG_PART = /^[A-Za-z0-9_-]{1,256}$/;
const ADDRESS = '[^\\s@<>,"]+@[^\\s@<>,"]+';
const BARE_ADDRESS = new RegExp(`^${ADDRESS}$`);
const NAMED_ADDRESS = new RegExp(`^[^<>]*<${ADDRESS}>$`);
const SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;

/** The webhook events sent after each accepted email unless configured otherwise. */
export const DEFAULT_EVENTS: readonly string[] = ["email.sent", "email.delivered"];
/** Delays before re-sending a webhook the receiver did not answer with 2xx (a compressed Svix schedule). */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1000, 5000, 30000];

/** A Resend tag as sent in the request. */
export type ResendTag = { name: string; value?: string };

/** An accepted email, as `GET /_sim/resend/emails` lists it (fields as the request had them). */
export type ResendEmail = {
  id: string;
  idempotency_key: string | null;
  from: string;
  to: string | string[];
  cc: string | string[] | null;
  bcc: string | string[] | null;
  subject: string;
  html: string | null;
  text: string | null;
  reply_to: string | string[] | null;
  tags: ResendTag[] | null;
  headers: Record<string, string> | null;
  scheduled_at: string | null;
  /** ISO time of acceptance (simulated clock). */
  created_at: string;
  /** The last lifecycle event sent or fired for it, without the `email.` prefix. */
  last_event: string;
  /** When the request arrived, in ms since the epoch. */
  received_at_ms: number;
};

/** Webhook settings of an API key (or the default for all keys). */
export type ResendWebhookConfig = {
  url: string;
  /** `whsec_<base64>`. */
  secret: string;
  /** Events sent, in order, after each accepted email. */
  events: string[];
  /** Delays between retries of a delivery that got no 2xx. */
  retry_delays_ms: number[];
  /** Wait after acceptance before the first event. */
  delay_ms: number;
};

type Stored = { email: ResendEmail; apiKey: string };
/** A webhook created through Resend's webhooks API. */
type RegisteredWebhook = {
  id: string;
  endpoint: string;
  events: string[];
  signing_secret: string;
  api_key: string;
  created_at: string;
};
type Idempotency = { fingerprint: string; createdMs: number; response: ProviderResponse | null };
type Invalid = { ok: false; status: number; name: string; message: string };
type Checked<T> = { ok: true; value: T } | Invalid;

const ERROR_DEFAULTS: Record<number, [string, string]> = {
  400: ["validation_error", "The request could not be validated."],
  401: ["missing_api_key", "Missing API key in the authorization header."],
  403: ["invalid_api_key", "API key is invalid."],
  404: ["not_found", "The requested endpoint does not exist."],
  405: ["method_not_allowed", "Method is not allowed for the requested path."],
  409: [
    "concurrent_idempotent_requests",
    "Same idempotency key used while original request is still in progress.",
  ],
  422: ["validation_error", "The request could not be validated."],
  429: ["rate_limit_exceeded", "Too many requests. You can only make 2 requests per second."],
};

/** A Resend error answer: `{ statusCode, message, name }`. */
function fail(
  status: number,
  name: string,
  message: string,
  headers?: Record<string, string>,
): ProviderResponse {
  return { status, headers, body: { statusCode: status, message, name } };
}

function invalid(status: number, name: string, message: string): Invalid {
  return { ok: false, status, name, message };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isAddress(s: string): boolean {
  const t = s.trim();
  return BARE_ADDRESS.test(t) || NAMED_ADDRESS.test(t);
}

function addressMessage(field: string): string {
  return `Invalid \`${field}\` field. The email address needs to follow the \`email@example.com\` or \`Name <email@example.com>\` format.`;
}

/** Checks an optional "string or array of addresses" field (to, cc, bcc, reply_to). */
function checkAddresses(field: string, v: unknown, required: boolean): Invalid | null {
  const missing = v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0);
  if (missing) return required ? invalid(422, "missing_required_field", `Missing \`${field}\` field.`) : null;
  const list = Array.isArray(v) ? v : [v];
  if (list.length > MAX_RECIPIENTS) {
    return invalid(
      422,
      "invalid_parameter",
      `Invalid \`${field}\` field. Too many recipients: up to ${MAX_RECIPIENTS} are allowed.`,
    );
  }
  for (const a of list) {
    if (typeof a !== "string" || !isAddress(a)) {
      return invalid(422, "invalid_parameter", addressMessage(field));
    }
  }
  return null;
}

/** Validates one email object of `POST /emails` (or one item of a batch). */
export function validateEmail(body: unknown, inBatch = false): Checked<Record<string, unknown>> {
  if (!isRecord(body)) return invalid(422, "validation_error", "The request body must be a JSON object.");
  for (const field of ["from", "to", "subject"]) {
    const v = body[field];
    if (v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0)) {
      return invalid(422, "missing_required_field", `Missing \`${field}\` field.`);
    }
  }
  if (typeof body.from !== "string" || !isAddress(body.from)) {
    return invalid(422, "invalid_from_address", addressMessage("from"));
  }
  for (
    const [field, required] of [["to", true], ["cc", false], ["bcc", false], ["reply_to", false]] as const
  ) {
    const problem = checkAddresses(field, body[field], required);
    if (problem) return problem;
  }
  if (typeof body.subject !== "string") {
    return invalid(422, "invalid_parameter", "Invalid `subject` field. It must be a string.");
  }
  for (const field of ["html", "text", "scheduled_at"]) {
    if (body[field] !== undefined && body[field] !== null && typeof body[field] !== "string") {
      return invalid(422, "invalid_parameter", `Invalid \`${field}\` field. It must be a string.`);
    }
  }
  if (body.headers !== undefined && body.headers !== null) {
    if (!isRecord(body.headers) || Object.values(body.headers).some((h) => typeof h !== "string")) {
      return invalid(422, "invalid_parameter", "Invalid `headers` field. It must be an object of strings.");
    }
  }
  if (body.tags !== undefined && body.tags !== null) {
    const tagsOk = Array.isArray(body.tags) &&
      body.tags.every((t) =>
        isRecord(t) && typeof t.name === "string" && TAG_PART.test(t.name) &&
        (t.value === undefined || (typeof t.value === "string" && TAG_PART.test(t.value)))
      );
    if (!tagsOk) {
      return invalid(
        422,
        "invalid_parameter",
        "Invalid `tags` field. Tag names and values must only contain ASCII letters, numbers, underscores, or dashes, up to 256 characters.",
      );
    }
  }
  if (body.attachments !== undefined && body.attachments !== null) {
    if (inBatch) return invalid(422, "invalid_parameter", "`attachments` are not supported in batch emails.");
    const attachmentsOk = Array.isArray(body.attachments) &&
      body.attachments.every((a) =>
        isRecord(a) && (typeof a.content === "string" || typeof a.path === "string")
      );
    if (!attachmentsOk) {
      return invalid(
        422,
        "invalid_attachment",
        "Each attachment needs a base64 `content` or a remote `path`.",
      );
    }
  }
  if (inBatch && body.scheduled_at !== undefined && body.scheduled_at !== null) {
    return invalid(422, "invalid_parameter", "`scheduled_at` is not supported in batch emails.");
  }
  return { ok: true, value: body };
}

/** JSON with object keys sorted, so equal payloads have equal fingerprints whatever the key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isRecord(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** A 64-bit non-cryptographic hash of a string (two multiplicative 32-bit lanes), as hex. */
function hash64(s: string): string {
  let a = 0x811c9dc5 ^ s.length;
  let b = 0x9e3779b9;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35);
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}

function toList(v: string | string[] | null): string[] | null {
  return v === null ? null : Array.isArray(v) ? v : [v];
}

function randomId(prefix: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(27));
  let out = prefix;
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return out;
}

/** Event-specific `data` fields a fired event gets unless the caller gives its own. */
function eventDefaults(type: string, email: ResendEmail): Record<string, unknown> {
  const now = new Date().toISOString();
  switch (type) {
    case "email.bounced":
      return {
        bounce: {
          message: "The recipient's email provider sent a hard bounce message.",
          subType: "General",
          type: "Permanent",
        },
      };
    case "email.clicked":
      return {
        click: {
          ipAddress: "127.0.0.1",
          link: "https://example.com/",
          timestamp: now,
          userAgent: "provider-simulator",
        },
      };
    case "email.opened":
      return { open: { ipAddress: "127.0.0.1", timestamp: now, userAgent: "provider-simulator" } };
    case "email.failed":
      return { failed: { reason: "reached_daily_quota" } };
    case "email.scheduled":
      return email.scheduled_at ? { scheduled_at: email.scheduled_at } : {};
    default:
      return {};
  }
}

function parseWebhook(input: unknown): ResendWebhookConfig | null {
  if (input === null) return null;
  if (!isRecord(input)) throw new ControlError("`webhook` must be an object or null");
  const url = optionalString(input, "url");
  let parsed: URL | undefined;
  try {
    parsed = url ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new ControlError("`webhook.url` must be an http(s) URL");
  }
  const secret = optionalString(input, "secret");
  if (!secret || !SECRET.test(secret)) throw new ControlError("`webhook.secret` must be `whsec_<base64>`");
  const events = input.events ?? DEFAULT_EVENTS;
  if (!Array.isArray(events) || events.some((e) => typeof e !== "string")) {
    throw new ControlError("`webhook.events` must be an array of event types");
  }
  const retries = input.retry_delays_ms ?? DEFAULT_RETRY_DELAYS_MS;
  if (!Array.isArray(retries) || retries.some((d) => typeof d !== "number" || !(d >= 0))) {
    throw new ControlError("`webhook.retry_delays_ms` must be an array of non-negative numbers");
  }
  return {
    url,
    secret,
    events: [...events],
    retry_delays_ms: [...retries],
    delay_ms: optionalNumber(input, "delay_ms") ?? 0,
  } as ResendWebhookConfig;
}

function parseRate(input: Record<string, unknown>): number | null | undefined {
  if (!("rate_limit_per_s" in input)) return undefined;
  const v = input.rate_limit_per_s;
  if (v === null || v === 0) return null;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new ControlError("`rate_limit_per_s` must be a positive integer, or 0/null for no limit");
  }
  return v;
}

function describeWebhook(w: ResendWebhookConfig): Record<string, unknown> {
  return { ...w, secret: `${w.secret.slice(0, 9)}…` };
}

/** The simulated Resend; see {@link createResendProvider}. */
class ResendSimulator implements Provider {
  readonly name = NAME;

  #state: SimState;
  #webhooks: WebhookDispatcher;
  #emails: ResendEmail[] = [];
  #byId = new Map<string, Stored>();
  #idempotency = new Map<string, Idempotency>();
  #runKeys = new Map<string, number>();
  #windows = new Map<string, { start: number; count: number }>();
  #defaultRate: number | null = null;
  #keyRates = new Map<string, number | null>();
  #invalidKeys = new Set<string>();
  #restrictedKeys = new Set<string>();
  #registered = new Map<string, RegisteredWebhook>();
  #defaultWebhook: ResendWebhookConfig | null = null;
  #keyWebhooks = new Map<string, ResendWebhookConfig | null>();
  #accepted = 0;
  #duplicateRunKeys = 0;
  #replays = 0;
  #rateLimited = 0;

  constructor(state: SimState, webhooks: WebhookDispatcher) {
    this.#state = state;
    this.#webhooks = webhooks;
  }

  async handle(req: ProviderRequest): Promise<ProviderResponse> {
    const auth = req.headers["authorization"];
    const bearer = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
    if (!bearer) {
      return fail(
        401,
        "missing_api_key",
        "Missing API key in the authorization header. Include the following header in the request: Authorization: Bearer YOUR_API_KEY",
      );
    }
    const apiKey = bearer[1];
    if (!apiKey.startsWith("re_") || this.#invalidKeys.has(apiKey)) {
      return fail(403, "invalid_api_key", "API key is invalid");
    }

    const limit = this.#keyRates.has(apiKey) ? this.#keyRates.get(apiKey)! : this.#defaultRate;
    let rateHeaders: Record<string, string> | undefined;
    if (limit !== null) {
      const now = performance.now();
      let w = this.#windows.get(apiKey);
      if (!w || now - w.start >= RATE_WINDOW_MS) {
        w = { start: now, count: 0 };
        this.#windows.set(apiKey, w);
      }
      const reset = String(Math.max(1, Math.ceil((w.start + RATE_WINDOW_MS - now) / 1000)));
      if (w.count >= limit) {
        this.#rateLimited++;
        return fail(
          429,
          "rate_limit_exceeded",
          `Too many requests. You can only make ${limit} requests per second. See rate limit response headers for more information.`,
          {
            "retry-after": reset,
            "ratelimit-limit": String(limit),
            "ratelimit-remaining": "0",
            "ratelimit-reset": reset,
          },
        );
      }
      w.count++;
      rateHeaders = {
        "ratelimit-limit": String(limit),
        "ratelimit-remaining": String(limit - w.count),
        "ratelimit-reset": reset,
      };
    }

    const res = await this.#route(req, apiKey);
    // A new object: a replayed idempotent answer must not keep the first request's rate headers.
    return rateHeaders ? { ...res, headers: { ...res.headers, ...rateHeaders } } : res;
  }

  faultResponse(rule: FaultRule): ProviderResponse {
    const [defaultName, defaultMessage] = ERROR_DEFAULTS[rule.status] ??
      (rule.status >= 500
        ? ["application_error", "An unexpected error occurred."]
        : ["validation_error", "The request could not be processed."]);
    const headers: Record<string, string> = {};
    if (rule.status === 429 || rule.retry_after_s !== null) {
      headers["retry-after"] = String(rule.retry_after_s ?? 1);
    }
    if (rule.status === 429) {
      headers["ratelimit-limit"] = "2";
      headers["ratelimit-remaining"] = "0";
      headers["ratelimit-reset"] = headers["retry-after"];
    }
    return fail(rule.status, rule.name ?? defaultName, rule.message ?? defaultMessage, headers);
  }

  configure(input: Record<string, unknown>): void {
    const apiKey = optionalString(input, "api_key");
    const rate = parseRate(input);
    const webhook = "webhook" in input ? parseWebhook(input.webhook) : undefined;
    const invalidKeys = input.invalid_keys;
    if (
      invalidKeys !== undefined &&
      (!Array.isArray(invalidKeys) || invalidKeys.some((k) => typeof k !== "string"))
    ) {
      throw new ControlError("`invalid_keys` must be an array of strings");
    }
    if (rate !== undefined) {
      if (apiKey) this.#keyRates.set(apiKey, rate);
      else this.#defaultRate = rate;
    }
    if (webhook !== undefined) {
      if (apiKey) this.#keyWebhooks.set(apiKey, webhook);
      else this.#defaultWebhook = webhook;
    }
    for (const k of (invalidKeys ?? []) as string[]) this.#invalidKeys.add(k);
    const restricted = input.restricted_keys;
    if (restricted !== undefined) {
      if (!Array.isArray(restricted) || restricted.some((k) => typeof k !== "string")) {
        throw new ControlError("`restricted_keys` must be an array of strings");
      }
      for (const k of restricted as string[]) this.#restrictedKeys.add(k);
    }
  }

  describeConfig(): Record<string, unknown> {
    return {
      rate_limit_per_s: this.#defaultRate,
      rate_limits_by_key: Object.fromEntries(this.#keyRates),
      invalid_keys: [...this.#invalidKeys],
      webhook: this.#defaultWebhook && describeWebhook(this.#defaultWebhook),
      webhooks_by_key: Object.fromEntries(
        [...this.#keyWebhooks].map(([k, w]) => [k, w && describeWebhook(w)]),
      ),
    };
  }

  async control(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    if (path === "/webhooks" && method === "GET") {
      // Registrations made through the webhooks API, for tests to assert (secrets shortened).
      return {
        status: 200,
        body: [...this.#registered.values()].map((h) => ({
          ...h,
          api_key: `${h.api_key.slice(0, 6)}…`,
          signing_secret: `${h.signing_secret.slice(0, 9)}…`,
        })),
      };
    }
    if (path === "/emails" && method === "GET") {
      const run = query.get("run");
      const since = Number(query.get("since_ms") ?? 0);
      const list = this.#emails.filter((e) =>
        e.received_at_ms > since &&
        (run === null || (e.tags ?? []).some((t) => t.name === "run" && t.value === run))
      );
      return { status: 200, body: list };
    }
    const m = /^\/emails\/([^/]+)(\/events)?$/.exec(path);
    if (!m) return undefined;
    const stored = this.#byId.get(decodeURIComponent(m[1]));
    if (!m[2] && method === "GET") {
      return stored ? { status: 200, body: stored.email } : { status: 404, body: { error: "no such email" } };
    }
    if (!m[2] || method !== "POST") return undefined;
    if (!stored) return { status: 404, body: { error: "no such email" } };
    return { status: 200, body: await this.#fire(stored, isRecord(body) ? body : {}) };
  }

  stats(): Record<string, number> {
    return {
      accepted: this.#accepted,
      duplicate_run_keys: this.#duplicateRunKeys,
      idempotent_replays: this.#replays,
      rate_limited: this.#rateLimited,
    };
  }

  reset(): void {
    this.#emails = [];
    this.#byId.clear();
    this.#idempotency.clear();
    this.#runKeys.clear();
    this.#windows.clear();
    this.#defaultRate = null;
    this.#keyRates.clear();
    this.#invalidKeys.clear();
    this.#restrictedKeys.clear();
    this.#registered.clear();
    this.#defaultWebhook = null;
    this.#keyWebhooks.clear();
    this.#accepted = 0;
    this.#duplicateRunKeys = 0;
    this.#replays = 0;
    this.#rateLimited = 0;
  }

  #route(req: ProviderRequest, apiKey: string): Promise<ProviderResponse> {
    const { method, path } = req;
    if (path === "/domains" && method === "GET") {
      // Resend's domain list; a sending-only key may not read it (401 restricted_api_key).
      if (this.#restrictedKeys.has(apiKey)) {
        return Promise.resolve(
          fail(401, "restricted_api_key", "This API key is restricted to only send emails"),
        );
      }
      return Promise.resolve({
        status: 200,
        body: {
          data: [{
            id: "d91cd9bd-1176-453e-8fc1-35364d380206",
            name: "studio.example",
            status: "verified",
            created_at: new Date(this.#state.now()).toISOString(),
            region: "us-east-1",
          }],
        },
      });
    }
    if (path === "/webhooks" || path.startsWith("/webhooks/")) {
      return Promise.resolve(this.#webhookApi(req, apiKey));
    }
    if (path === "/emails") {
      return method === "POST" ? this.#send(req, apiKey, false) : Promise.resolve(this.#notAllowed());
    }
    if (path === "/emails/batch") {
      return method === "POST" ? this.#send(req, apiKey, true) : Promise.resolve(this.#notAllowed());
    }
    const m = /^\/emails\/([^/]+)$/.exec(path);
    if (m) {
      if (method !== "GET") return Promise.resolve(this.#notAllowed());
      const stored = this.#byId.get(decodeURIComponent(m[1]));
      return Promise.resolve(
        stored
          ? { status: 200, body: this.#apiView(stored.email) }
          : fail(404, "not_found", "Email not found"),
      );
    }
    return Promise.resolve(fail(404, "not_found", "The requested endpoint does not exist."));
  }

  /** Resend's webhooks API: create (Resend generates the signing secret), list, retrieve, delete. */
  #webhookApi(req: ProviderRequest, apiKey: string): ProviderResponse {
    if (this.#restrictedKeys.has(apiKey)) {
      return fail(401, "restricted_api_key", "This API key is restricted to only send emails");
    }
    const id = req.path.slice("/webhooks/".length);
    if (req.path === "/webhooks" && req.method === "POST") {
      const body = isRecord(req.body) ? req.body : {};
      let url: URL | undefined;
      try {
        url = typeof body.endpoint === "string" ? new URL(body.endpoint) : undefined;
      } catch {
        url = undefined;
      }
      if (!url) return fail(422, "missing_required_field", "Missing `endpoint` field.");
      const events = body.events;
      if (!Array.isArray(events) || events.length === 0 || events.some((e) => typeof e !== "string")) {
        return fail(422, "missing_required_field", "Missing `events` field.");
      }
      const bytes = crypto.getRandomValues(new Uint8Array(24));
      const hook: RegisteredWebhook = {
        id: crypto.randomUUID(),
        endpoint: url.href,
        events: events as string[],
        signing_secret: `whsec_${btoa(String.fromCharCode(...bytes))}`,
        api_key: apiKey,
        created_at: new Date(this.#state.now()).toISOString(),
      };
      this.#registered.set(hook.id, hook);
      // The simulator's signed events for this key now go to the registered endpoint.
      this.#keyWebhooks.set(apiKey, {
        url: hook.endpoint,
        secret: hook.signing_secret,
        events: DEFAULT_EVENTS.filter((e) => hook.events.includes(e)),
        retry_delays_ms: [...DEFAULT_RETRY_DELAYS_MS],
        delay_ms: 0,
      });
      return { status: 200, body: { object: "webhook", id: hook.id, signing_secret: hook.signing_secret } };
    }
    if (req.path === "/webhooks" && req.method === "GET") {
      const data = [...this.#registered.values()].filter((h) => h.api_key === apiKey).map((
        { api_key: _, ...h },
      ) => h);
      return { status: 200, body: { object: "list", has_more: false, data } };
    }
    const hook = this.#registered.get(decodeURIComponent(id));
    if (!hook || hook.api_key !== apiKey) return fail(404, "not_found", "Webhook not found");
    if (req.method === "GET") {
      const { api_key: _, ...view } = hook;
      return { status: 200, body: { object: "webhook", ...view, status: "enabled" } };
    }
    if (req.method === "DELETE") {
      this.#registered.delete(hook.id);
      const current = this.#keyWebhooks.get(apiKey);
      if (current?.url === hook.endpoint) this.#keyWebhooks.delete(apiKey);
      return { status: 200, body: { object: "webhook", id: hook.id, deleted: true } };
    }
    return this.#notAllowed();
  }

  #notAllowed(): ProviderResponse {
    return fail(405, "method_not_allowed", "Method is not allowed for the requested path.");
  }

  async #send(req: ProviderRequest, apiKey: string, batch: boolean): Promise<ProviderResponse> {
    const idempotencyKey = req.headers["idempotency-key"];
    if (idempotencyKey !== undefined && (idempotencyKey.length < 1 || idempotencyKey.length > 256)) {
      return fail(
        400,
        "invalid_idempotency_key",
        "The idempotency key must be between 1 and 256 characters.",
      );
    }
    if (req.bodyInvalid || req.body === undefined) {
      return fail(400, "validation_error", "Invalid JSON body: the request body must be valid JSON.");
    }
    const key = idempotencyKey ?? null;
    if (!batch) {
      const v = validateEmail(req.body);
      if (!v.ok) return fail(v.status, v.name, v.message);
      return await this.#idempotent(apiKey, key, req.body, async () => {
        await req.processing();
        const email = this.#accept(apiKey, key, v.value, req.record.received_at_ms);
        return { status: 200, body: { id: email.id } };
      });
    }

    if (!Array.isArray(req.body)) {
      return fail(422, "validation_error", "The request body must be an array of emails.");
    }
    const items = req.body;
    if (items.length < 1 || items.length > MAX_BATCH) {
      return fail(422, "invalid_parameter", `A batch holds between 1 and ${MAX_BATCH} emails.`);
    }
    const permissive = req.headers["x-batch-validation"] === "permissive";
    const checked = items.map((item) => validateEmail(item, true));
    const errors: { index: number; message: string }[] = [];
    checked.forEach((c, index) => {
      if (!c.ok) errors.push({ index, message: c.message });
    });
    if (!permissive && errors.length > 0) {
      const first = checked[errors[0].index] as Invalid;
      return fail(first.status, first.name, `Email at index ${errors[0].index}: ${first.message}`);
    }
    return await this.#idempotent(apiKey, key, req.body, async () => {
      await req.processing();
      const data: { id: string }[] = [];
      for (const c of checked) {
        if (c.ok) data.push({ id: this.#accept(apiKey, key, c.value, req.record.received_at_ms).id });
      }
      return { status: 200, body: permissive ? { data, errors } : { data } };
    });
  }

  /** Runs `work` once per (API key, idempotency key) within 24 h; replays or refuses repeats. */
  async #idempotent(
    apiKey: string,
    key: string | null,
    body: unknown,
    work: () => Promise<ProviderResponse>,
  ): Promise<ProviderResponse> {
    if (key === null) return await work();
    const slot = `${apiKey}\u0000${key}`;
    const fingerprint = hash64(canonical(body));
    const now = this.#state.now();
    let entry = this.#idempotency.get(slot);
    if (entry && now - entry.createdMs >= IDEMPOTENCY_TTL_MS) {
      this.#idempotency.delete(slot);
      entry = undefined;
    }
    if (entry) {
      if (entry.fingerprint !== fingerprint) {
        return fail(
          409,
          "invalid_idempotent_request",
          "Same idempotency key used with a different request payload. Change your idempotency key or payload.",
        );
      }
      if (!entry.response) {
        return fail(
          409,
          "concurrent_idempotent_requests",
          "Same idempotency key used while original request is still in progress. Try the request again later.",
        );
      }
      this.#replays++;
      return { ...entry.response };
    }
    this.#pruneIdempotency(now);
    const fresh: Idempotency = { fingerprint, createdMs: now, response: null };
    this.#idempotency.set(slot, fresh);
    try {
      const res = await work();
      if (res.status >= 200 && res.status < 300) fresh.response = res;
      else if (this.#idempotency.get(slot) === fresh) this.#idempotency.delete(slot);
      return res;
    } catch (error) {
      if (this.#idempotency.get(slot) === fresh) this.#idempotency.delete(slot);
      throw error;
    }
  }

  /** Drops expired keys from the front of the (creation-ordered) store. */
  #pruneIdempotency(now: number): void {
    for (const [slot, entry] of this.#idempotency) {
      if (now - entry.createdMs < IDEMPOTENCY_TTL_MS) break;
      this.#idempotency.delete(slot);
    }
  }

  #accept(
    apiKey: string,
    key: string | null,
    body: Record<string, unknown>,
    receivedAt: number,
  ): ResendEmail {
    const hook = this.#keyWebhooks.has(apiKey) ? this.#keyWebhooks.get(apiKey)! : this.#defaultWebhook;
    const events = hook?.events ?? DEFAULT_EVENTS;
    const tags = (body.tags as ResendTag[] | undefined) ?? null;
    const email: ResendEmail = {
      id: crypto.randomUUID(),
      idempotency_key: key,
      from: body.from as string,
      to: body.to as string | string[],
      cc: (body.cc as string | string[] | undefined) ?? null,
      bcc: (body.bcc as string | string[] | undefined) ?? null,
      subject: body.subject as string,
      html: (body.html as string | undefined) ?? null,
      text: (body.text as string | undefined) ?? null,
      reply_to: (body.reply_to as string | string[] | undefined) ?? null,
      tags,
      headers: (body.headers as Record<string, string> | undefined) ?? null,
      scheduled_at: (body.scheduled_at as string | undefined) ?? null,
      created_at: new Date(this.#state.now()).toISOString(),
      last_event: events.length > 0 ? events[events.length - 1].replace(/^email\./, "") : "sent",
      received_at_ms: receivedAt,
    };
    const stored: Stored = { email, apiKey };
    this.#emails.push(email);
    this.#byId.set(email.id, stored);
    this.#accepted++;

    const run = tags?.find((t) => t.name === "run")?.value;
    if (run !== undefined) {
      const n = (this.#runKeys.get(run) ?? 0) + 1;
      this.#runKeys.set(run, n);
      if (n === 2) this.#duplicateRunKeys++;
    }

    if (hook && hook.events.length > 0) {
      this.#webhooks.sequence(
        hook.events.map((type) => () => this.#event(stored, hook, type, randomId("msg_"), {}, "auto")),
        hook.retry_delays_ms,
        hook.delay_ms,
      );
    }
    return email;
  }

  /** Builds a signed webhook for an email event. */
  #event(
    stored: Stored,
    hook: ResendWebhookConfig,
    type: string,
    svixId: string,
    data: Record<string, unknown>,
    source: "auto" | "fired",
  ): WebhookSend {
    const e = stored.email;
    const payload = {
      type,
      created_at: new Date().toISOString(),
      data: {
        email_id: e.id,
        from: e.from,
        to: toList(e.to),
        subject: e.subject,
        created_at: e.created_at,
        ...(e.tags ? { tags: e.tags } : {}),
        ...eventDefaults(type, e),
        ...data,
      },
    };
    const body = JSON.stringify(payload);
    return {
      provider: NAME,
      url: hook.url,
      type,
      eventId: svixId,
      body,
      extra: { svix_id: svixId, email_id: e.id, source },
      headers: async () => {
        const timestamp = Math.floor(Date.now() / 1000);
        return {
          "content-type": "application/json",
          "user-agent": "Svix-Webhooks/1.0 (provider-simulator)",
          "svix-id": svixId,
          "svix-timestamp": String(timestamp),
          "svix-signature": await signSvix(hook.secret, svixId, timestamp, body),
        };
      },
    };
  }

  /** Fires an event for an accepted email `times` times with one svix-id; returns the receiver's statuses. */
  async #fire(
    stored: Stored,
    input: Record<string, unknown>,
  ): Promise<{ svix_id: string; statuses: (number | null)[] }> {
    const type = optionalString(input, "type");
    if (!type) throw new ControlError("`type` is required, e.g. `email.bounced`");
    const times = optionalNumber(input, "times", 100) ?? 1;
    if (!Number.isInteger(times) || times < 1) {
      throw new ControlError("`times` must be an integer from 1 to 100");
    }
    if (input.data !== undefined && !isRecord(input.data)) throw new ControlError("`data` must be an object");
    const hook = this.#keyWebhooks.has(stored.apiKey)
      ? this.#keyWebhooks.get(stored.apiKey)!
      : this.#defaultWebhook;
    if (!hook) throw new ControlError("no webhook is configured for this email's API key", 409);
    const svixId = randomId("msg_");
    const send = this.#event(
      stored,
      hook,
      type,
      svixId,
      (input.data as Record<string, unknown>) ?? {},
      "fired",
    );
    stored.email.last_event = type.replace(/^email\./, "");
    const statuses: (number | null)[] = [];
    for (let i = 0; i < times; i++) statuses.push(await this.#webhooks.attempt(send, i + 1));
    return { svix_id: svixId, statuses };
  }

  /** The email as `GET /emails/{id}` returns it. */
  #apiView(e: ResendEmail): Record<string, unknown> {
    return {
      object: "email",
      id: e.id,
      to: toList(e.to),
      from: e.from,
      created_at: e.created_at,
      subject: e.subject,
      html: e.html,
      text: e.text,
      bcc: toList(e.bcc),
      cc: toList(e.cc),
      reply_to: toList(e.reply_to),
      last_event: e.last_event,
      scheduled_at: e.scheduled_at,
      ...(e.tags ? { tags: e.tags } : {}),
    };
  }
}

/** Creates the simulated Resend, served under `/resend` (clients use `<simulator>/resend` as base URL). */
export function createResendProvider(state: SimState, webhooks: WebhookDispatcher): Provider {
  return new ResendSimulator(state, webhooks);
}

/** What the simulated SendGrid and Mailgun share: accepted-email store, webhook settings, fixed-window rate limits. */
import {
  ControlError,
  optionalNumber,
  optionalString,
  type ProviderResponse,
  type SimState,
} from "./state.ts";
import type { WebhookDispatcher, WebhookSend } from "./webhooks.ts";

/** An accepted email as a simulated provider keeps it (`GET /_sim/<provider>/emails` lists them). */
export type SimEmail = {
  id: string;
  from: string;
  to: string;
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  /** Custom arguments (SendGrid) or `v:` variables (Mailgun): they come back on every webhook event. */
  variables: Record<string, string>;
  api_key: string;
  received_at_ms: number;
  created_at: string;
};

/** Where a provider's webhooks go and what they send (per API key, or the default). */
export type EmailWebhookConfig = {
  url: string;
  /** Events sent, in order, after each accepted email (provider event names). */
  events: string[];
  retry_delays_ms: number[];
  delay_ms: number;
};

/** Accepted emails, by id and in order, with the count of run keys accepted more than once. */
export class EmailStore {
  emails: SimEmail[] = [];
  byId = new Map<string, SimEmail>();
  #runKeys = new Map<string, number>();
  duplicateRunKeys = 0;

  add(email: SimEmail): void {
    this.emails.push(email);
    this.byId.set(email.id, email);
    const run = email.variables.run_key;
    if (run !== undefined) {
      const n = (this.#runKeys.get(run) ?? 0) + 1;
      this.#runKeys.set(run, n);
      if (n === 2) this.duplicateRunKeys++;
    }
  }

  /** Emails received after `since_ms`, of one run (`run` = the run id tag) when given. */
  list(query: URLSearchParams): SimEmail[] {
    const run = query.get("run");
    const since = Number(query.get("since_ms") ?? 0);
    return this.emails.filter((e) => e.received_at_ms > since && (run === null || e.variables.run === run));
  }

  reset(): void {
    this.emails = [];
    this.byId.clear();
    this.#runKeys.clear();
    this.duplicateRunKeys = 0;
  }
}

/** Parses `webhook` control input (`null` removes it); `defaults` are the provider's usual events. */
export function parseEmailWebhook(input: unknown, defaults: string[]): EmailWebhookConfig | null {
  if (input === null) return null;
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new ControlError("`webhook` must be an object or null");
  }
  const w = input as Record<string, unknown>;
  const url = optionalString(w, "url");
  if (!url || !/^https?:\/\//.test(url)) throw new ControlError("`webhook.url` must be an http(s) URL");
  const events = w.events ?? defaults;
  if (!Array.isArray(events) || events.some((e) => typeof e !== "string")) {
    throw new ControlError("`webhook.events` must be an array of event names");
  }
  const retries = w.retry_delays_ms ?? [1000, 5000];
  if (!Array.isArray(retries) || retries.some((d) => typeof d !== "number" || !(d >= 0))) {
    throw new ControlError("`webhook.retry_delays_ms` must be an array of non-negative numbers");
  }
  return {
    url,
    events: [...events],
    retry_delays_ms: [...retries],
    delay_ms: optionalNumber(w, "delay_ms") ?? 0,
  };
}

/** Fixed one-second windows per API key (how the providers count), configurable per key. */
export class RateWindows {
  defaultLimit: number | null = null;
  byKey = new Map<string, number | null>();
  limited = 0;
  #windows = new Map<string, { start: number; count: number }>();

  /** Reads `rate_limit_per_s` (0/null: none) for `apiKey` or the default. */
  configure(input: Record<string, unknown>, apiKey: string | undefined): void {
    if (!("rate_limit_per_s" in input)) return;
    const v = input.rate_limit_per_s;
    const limit = v === null || v === 0 ? null : v;
    if (limit !== null && (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1)) {
      throw new ControlError("`rate_limit_per_s` must be a positive integer, or 0/null for no limit");
    }
    if (apiKey) this.byKey.set(apiKey, limit as number | null);
    else this.defaultLimit = limit as number | null;
  }

  /** Counts a request; returns null when allowed, else the limit and the seconds until the window resets. */
  take(apiKey: string): { limit: number; reset_s: number } | null {
    const limit = this.byKey.has(apiKey) ? this.byKey.get(apiKey)! : this.defaultLimit;
    if (limit === null) return null;
    const now = performance.now();
    let w = this.#windows.get(apiKey);
    if (!w || now - w.start >= 1000) {
      w = { start: now, count: 0 };
      this.#windows.set(apiKey, w);
    }
    if (w.count >= limit) {
      this.limited++;
      return { limit, reset_s: Math.max(1, Math.ceil((w.start + 1000 - now) / 1000)) };
    }
    w.count++;
    return null;
  }

  reset(): void {
    this.defaultLimit = null;
    this.byKey.clear();
    this.limited = 0;
    this.#windows.clear();
  }
}

/** A random id from letters and digits. */
export function randomToken(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(crypto.getRandomValues(new Uint8Array(length)), (b) => alphabet[b % alphabet.length])
    .join("");
}

/**
 * The part of a simulated email provider that does not depend on its API: accepted emails, rate
 * windows, webhook settings per API key, the events sent after each acceptance, and the control routes
 * `GET /emails` and `POST /emails/{id}/events` (`{type, times, data}`: re-sends one signed request).
 */
export abstract class EmailSimulator<H extends EmailWebhookConfig> {
  protected readonly store = new EmailStore();
  protected readonly rates = new RateWindows();
  protected defaultWebhook: H | null = null;
  protected readonly keyWebhooks = new Map<string, H | null>();

  constructor(protected readonly state: SimState, protected readonly webhooks: WebhookDispatcher) {}

  /** One webhook request for an event of an accepted email, signed as the provider signs. */
  protected abstract event(
    email: SimEmail,
    hook: H,
    type: string,
    data: Record<string, unknown>,
    source: string,
  ): Promise<WebhookSend>;

  /** Parses the provider's `webhook` control input (null removes it). */
  protected abstract parseWebhook(input: unknown): H | null;

  protected hookFor(apiKey: string): H | null {
    return this.keyWebhooks.has(apiKey) ? this.keyWebhooks.get(apiKey)! : this.defaultWebhook;
  }

  /** Stores an accepted email and schedules its webhook events. */
  protected async accept(email: SimEmail): Promise<void> {
    this.store.add(email);
    const hook = this.hookFor(email.api_key);
    if (!hook || hook.events.length === 0) return;
    const sends = await Promise.all(hook.events.map((type) => this.event(email, hook, type, {}, "auto")));
    this.webhooks.sequence(sends.map((send) => () => send), hook.retry_delays_ms, hook.delay_ms);
  }

  /** Applies `api_key`, `rate_limit_per_s` and `webhook` from control input. */
  protected configureCommon(input: Record<string, unknown>): void {
    const apiKey = optionalString(input, "api_key");
    this.rates.configure(input, apiKey);
    if ("webhook" in input) {
      const hook = this.parseWebhook(input.webhook);
      if (apiKey) this.keyWebhooks.set(apiKey, hook);
      else this.defaultWebhook = hook;
    }
  }

  async control(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    if (path === "/emails" && method === "GET") return { status: 200, body: this.store.list(query) };
    const m = /^\/emails\/([^/]+)\/events$/.exec(path);
    if (!m || method !== "POST") return undefined;
    const email = this.store.byId.get(decodeURIComponent(m[1]));
    if (!email) return { status: 404, body: { error: "no such email" } };
    const input = typeof body === "object" && body !== null && !Array.isArray(body)
      ? body as Record<string, unknown>
      : {};
    const type = optionalString(input, "type");
    if (!type) throw new ControlError("`type` is required, e.g. `delivered`");
    const times = optionalNumber(input, "times", 100) ?? 1;
    const hook = this.hookFor(email.api_key);
    if (!hook) throw new ControlError("no webhook is configured for this email's API key", 409);
    const data = typeof input.data === "object" && input.data !== null
      ? input.data as Record<string, unknown>
      : {};
    const send = await this.event(email, hook, type, data, "fired");
    const statuses: (number | null)[] = [];
    for (let i = 0; i < times; i++) statuses.push(await this.webhooks.attempt(send, i + 1));
    return { status: 200, body: { statuses } };
  }

  stats(): Record<string, number> {
    return {
      accepted: this.store.emails.length,
      duplicate_run_keys: this.store.duplicateRunKeys,
      rate_limited: this.rates.limited,
    };
  }

  reset(): void {
    this.store.reset();
    this.rates.reset();
    this.defaultWebhook = null;
    this.keyWebhooks.clear();
  }
}

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

/** The simulated Mailgun; see {@link createMailgunProvider}. */
class MailgunSimulator extends EmailSimulator<MailgunWebhook> implements Provider {
  readonly name = NAME;
  #domains: Set<string> | null = null;

  async handle(req: ProviderRequest): Promise<ProviderResponse> {
    const basic = /^Basic\s+(\S+)\s*$/i.exec(req.headers["authorization"] ?? "");
    let user = "";
    let apiKey = "";
    try {
      [user, apiKey] = basic ? atob(basic[1]).split(":", 2) : [];
    } catch {
      user = "";
    }
    if (user !== "api" || !apiKey) return { status: 401, body: "Forbidden" };
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

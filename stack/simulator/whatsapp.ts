/** The simulated WhatsApp Cloud API (Graph `/{phone-number-id}/messages`), its 24-hour window and signed webhooks. */
import { signMeta } from "../../shared/webhooks/meta.ts";
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

const NAME = "whatsapp";
const MESSAGES_PATH = /^\/v[0-9]+\.0\/([^/]+)\/messages$/;
/** The phone-number node: `GET /{version}/{phone-number-id}?fields=...`. */
const NUMBER_PATH = /^\/v[0-9]+\.0\/([0-9]+)$/;
const INVALID_TOKEN: GraphError = {
  status: 401,
  code: 190,
  message: "Invalid OAuth access token - Cannot parse access token",
};
const WINDOW_MS = 24 * 60 * 60 * 1000;
const WA_ID = /^[1-9][0-9]{6,14}$/;

/** A business phone number and the app it belongs to. */
type PhoneNumber = {
  phone_number_id: string;
  display_phone_number: string;
  /** The business name Meta shows (the phone-number node's `verified_name`). */
  verified_name: string;
  access_token: string;
  app_secret: string;
  waba_id: string;
  /** The app's webhook callback URL. */
  webhook_url: string | null;
  /** Approved templates: exact name and language code. */
  templates: { name: string; language: string }[];
  /** Numbers that are not on WhatsApp (131026). */
  non_users: string[];
  /** Statuses posted after each accepted message, in order. */
  statuses: string[];
  /** Minimum gap between two messages to the same user (131056). */
  pair_interval_ms: number;
};

/** An accepted message, as `GET /_sim/whatsapp/messages` lists it. */
export type WhatsAppMessageRecord = {
  id: string;
  phone_number_id: string;
  to: string;
  type: string;
  text: string | null;
  template: { name: string; language: string; parameters: string[] } | null;
  media_url: string | null;
  biz_opaque_callback_data: string | null;
  accepted_at_ms: number;
};

type GraphError = { status: number; code: number; message: string; details?: string };

function fail(e: GraphError, headers?: Record<string, string>): ProviderResponse {
  return {
    status: e.status,
    headers,
    body: {
      error: {
        message: e.message,
        type: "OAuthException",
        code: e.code,
        ...(e.details ? { error_data: { messaging_product: "whatsapp", details: e.details } } : {}),
        fbtrace_id: `A${crypto.randomUUID().replaceAll("-", "").slice(0, 22)}`,
      },
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function wamid(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(30));
  return `wamid.${btoa(String.fromCharCode(...bytes)).replaceAll("/", "_").replaceAll("+", "-")}`;
}

class WhatsAppSimulator implements Provider {
  readonly name = NAME;
  #state: SimState;
  #webhooks: WebhookDispatcher;
  #numbers = new Map<string, PhoneNumber>();
  #messages: WhatsAppMessageRecord[] = [];
  #byId = new Map<string, WhatsAppMessageRecord>();
  /** Last inbound message per number and user: the customer-service window. */
  #inbound = new Map<string, number>();
  /** Last message sent per number and user: the pair rate. */
  #lastSent = new Map<string, number>();
  #runKeys = new Map<string, number>();
  #accepted = 0;
  #duplicateRunKeys = 0;

  constructor(state: SimState, webhooks: WebhookDispatcher) {
    this.#state = state;
    this.#webhooks = webhooks;
  }

  async handle(req: ProviderRequest): Promise<ProviderResponse> {
    const node = NUMBER_PATH.exec(req.path);
    if (node && req.method === "GET") return this.#phoneNumber(req, decodeURIComponent(node[1]));
    const m = MESSAGES_PATH.exec(req.path);
    if (!m || req.method !== "POST") {
      return fail({
        status: 400,
        code: 100,
        message: "Unsupported request - method type or path is not supported",
      });
    }
    const number = this.#numbers.get(decodeURIComponent(m[1]));
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers["authorization"] ?? "")?.[1];
    if (!bearer || (number && bearer !== number.access_token)) return fail(INVALID_TOKEN);
    if (!number) {
      return fail({
        status: 400,
        code: 100,
        message: `Unsupported post request. Object with ID '${m[1]}' does not exist`,
      });
    }
    const problem = this.#check(number, req.body);
    if (problem) return fail(problem);
    const body = req.body as Record<string, unknown>;
    const to = String(body.to).replace(/^\+/, "");
    await req.processing();
    const now = this.#state.now();
    this.#lastSent.set(`${number.phone_number_id}:${to}`, now);
    const template = isRecord(body.template) ? body.template : null;
    const components = (template?.components ?? []) as { type: string; parameters?: { text?: string }[] }[];
    const record: WhatsAppMessageRecord = {
      id: wamid(),
      phone_number_id: number.phone_number_id,
      to,
      type: String(body.type),
      text: body.type === "text"
        ? String((body.text as Record<string, unknown>).body)
        : body.type === "image"
        ? String((body.image as Record<string, unknown>).caption ?? "")
        : null,
      template: template
        ? {
          name: String(template.name),
          language: String((template.language as Record<string, unknown>).code),
          parameters: components.filter((c) => c.type === "body").flatMap((c) => c.parameters ?? [])
            .map((p) => String(p.text ?? "")),
        }
        : null,
      media_url: body.type === "image" ? String((body.image as Record<string, unknown>).link) : null,
      biz_opaque_callback_data: typeof body.biz_opaque_callback_data === "string"
        ? body.biz_opaque_callback_data
        : null,
      accepted_at_ms: now,
    };
    this.#messages.push(record);
    this.#byId.set(record.id, record);
    this.#accepted++;
    if (record.biz_opaque_callback_data !== null) {
      const n = (this.#runKeys.get(record.biz_opaque_callback_data) ?? 0) + 1;
      this.#runKeys.set(record.biz_opaque_callback_data, n);
      if (n === 2) this.#duplicateRunKeys++;
    }
    if (number.webhook_url && number.statuses.length > 0) {
      this.#webhooks.sequence(number.statuses.map((s) => () => this.#status(number, record, s)), [
        1000,
        5000,
      ]);
    }
    return {
      status: 200,
      body: {
        messaging_product: "whatsapp",
        contacts: [{ input: String(body.to), wa_id: to }],
        messages: [{ id: record.id, ...(template ? { message_status: "accepted" } : {}) }],
      },
    };
  }

  /** Validates a send as the Cloud API does; null when it is accepted. */
  #check(number: PhoneNumber, body: unknown): GraphError | null {
    if (!isRecord(body)) return { status: 400, code: 100, message: "(#100) Invalid parameter" };
    if (body.messaging_product !== "whatsapp") {
      return { status: 400, code: 100, message: "(#100) The parameter messaging_product is required." };
    }
    const to = typeof body.to === "string" ? body.to.replace(/^\+/, "") : "";
    if (!WA_ID.test(to)) {
      return { status: 400, code: 100, message: "(#100) Invalid parameter", details: "to" };
    }
    if (number.non_users.includes(to)) {
      return {
        status: 400,
        code: 131026,
        message: "Message undeliverable",
        details: "The recipient is not a WhatsApp user",
      };
    }
    const last = this.#lastSent.get(`${number.phone_number_id}:${to}`);
    if (last !== undefined && this.#state.now() - last < number.pair_interval_ms) {
      return {
        status: 400,
        code: 131056,
        message: "(Business Account, Consumer Account) pair rate limit hit",
        details:
          "Too many messages sent from this phone number to the same phone number in a short period of time.",
      };
    }
    if (body.type === "text" || body.type === "image") {
      if (body.type === "text") {
        const text = isRecord(body.text) ? body.text.body : undefined;
        if (typeof text !== "string" || text === "") {
          return { status: 400, code: 100, message: "(#100) The parameter text['body'] is required." };
        }
        if (text.length > 4096) {
          return {
            status: 400,
            code: 100,
            message: "(#100) Param text['body'] must be at most 4096 characters long.",
          };
        }
      } else if (!isRecord(body.image) || typeof body.image.link !== "string") {
        return { status: 400, code: 100, message: "(#100) The parameter image['link'] is required." };
      }
      const inbound = this.#inbound.get(`${number.phone_number_id}:${to}`);
      if (inbound === undefined || this.#state.now() - inbound >= WINDOW_MS) {
        return {
          status: 400,
          code: 131047,
          message: "Re-engagement message",
          details:
            "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        };
      }
      return null;
    }
    if (body.type === "template") {
      const t = isRecord(body.template) ? body.template : {};
      const code = isRecord(t.language) ? t.language.code : undefined;
      if (!number.templates.some((x) => x.name === t.name && x.language === code)) {
        return {
          status: 404,
          code: 132001,
          message: "Template name does not exist in the translation",
          details: `template name (${String(t.name)}) does not exist in ${String(code)}`,
        };
      }
      return null;
    }
    return { status: 400, code: 100, message: "(#100) Invalid parameter", details: "type" };
  }

  /** The phone-number node with the requested fields (all when none are asked for). */
  #phoneNumber(req: ProviderRequest, id: string): ProviderResponse {
    const number = this.#numbers.get(id);
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers["authorization"] ?? "")?.[1];
    if (!bearer || (number && bearer !== number.access_token)) return fail(INVALID_TOKEN);
    if (!number) {
      return fail({
        status: 400,
        code: 100,
        message: `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded due to ` +
          "missing permissions, or does not support this operation",
      });
    }
    const node: Record<string, unknown> = {
      verified_name: number.verified_name,
      display_phone_number: number.display_phone_number,
      quality_rating: "GREEN",
      code_verification_status: "VERIFIED",
      platform_type: "CLOUD_API",
      throughput: { level: "STANDARD" },
    };
    const fields = (req.query.get("fields") ?? "").split(",").map((f) => f.trim()).filter(Boolean);
    const picked = fields.length === 0
      ? node
      : Object.fromEntries(fields.filter((f) => f in node).map((f) => [f, node[f]]));
    return { status: 200, body: { ...picked, id } };
  }

  /** The webhook notification wrapping one change of the number. */
  #notification(
    number: PhoneNumber,
    value: Record<string, unknown>,
    type: string,
    eventId: string,
  ): WebhookSend {
    const body = JSON.stringify({
      object: "whatsapp_business_account",
      entry: [{
        id: number.waba_id,
        changes: [{
          field: "messages",
          value: {
            messaging_product: "whatsapp",
            metadata: {
              display_phone_number: number.display_phone_number,
              phone_number_id: number.phone_number_id,
            },
            ...value,
          },
        }],
      }],
    });
    return {
      provider: NAME,
      url: number.webhook_url!,
      type,
      eventId,
      body,
      extra: {},
      headers: async () => ({
        "content-type": "application/json",
        "user-agent": "facebookexternalua",
        "x-hub-signature-256": await signMeta(number.app_secret, body),
      }),
    };
  }

  #status(number: PhoneNumber, m: WhatsAppMessageRecord, status: string, errorCode?: number): WebhookSend {
    const event: Record<string, unknown> = {
      id: m.id,
      status,
      timestamp: String(Math.floor(this.#state.now() / 1000)),
      recipient_id: m.to,
      ...(m.biz_opaque_callback_data !== null
        ? { biz_opaque_callback_data: m.biz_opaque_callback_data }
        : {}),
    };
    if (status === "failed") {
      event.errors = [{
        code: errorCode ?? 131000,
        title: "Something went wrong",
        message: "Something went wrong",
      }];
    }
    return this.#notification(number, { statuses: [event] }, `status.${status}`, `${m.id}:${status}`);
  }

  faultResponse(rule: FaultRule): ProviderResponse {
    const headers: Record<string, string> = {};
    if (rule.retry_after_s !== null) headers["retry-after"] = String(rule.retry_after_s);
    const code = rule.name ? Number(rule.name) : rule.status === 429 ? 130429 : rule.status >= 500 ? 2 : 100;
    const message = rule.message ??
      (code === 130429
        ? "Rate limit hit"
        : rule.status >= 500
        ? "Service temporarily unavailable"
        : "Invalid parameter");
    return fail({ status: rule.status, code, message }, headers);
  }

  configure(input: Record<string, unknown>): void {
    const id = optionalString(input, "phone_number_id");
    if (id === undefined) return;
    const token = optionalString(input, "access_token");
    const secret = optionalString(input, "app_secret");
    if (!token || !secret) throw new ControlError("`access_token` and `app_secret` are required");
    const templates = (input.templates ?? []) as unknown[];
    if (
      !Array.isArray(templates) ||
      templates.some((t) => !isRecord(t) || typeof t.name !== "string" || typeof t.language !== "string")
    ) {
      throw new ControlError("`templates` must be an array of {name, language}");
    }
    this.#numbers.set(id, {
      phone_number_id: id,
      display_phone_number: optionalString(input, "display_phone_number") ?? "15550001111",
      verified_name: optionalString(input, "verified_name") ?? "Studio",
      access_token: token,
      app_secret: secret,
      waba_id: optionalString(input, "waba_id") ?? "102290129340398",
      webhook_url: optionalString(input, "webhook_url") ?? null,
      templates: templates as { name: string; language: string }[],
      non_users: ((input.non_users ?? []) as string[]).map((n) => n.replace(/^\+/, "")),
      statuses: (input.statuses ?? ["sent", "delivered", "read"]) as string[],
      pair_interval_ms: optionalNumber(input, "pair_interval_ms") ?? 6000,
    });
  }

  describeConfig(): Record<string, unknown> {
    return {
      phone_numbers: [...this.#numbers.values()].map((n) => ({
        ...n,
        access_token: `${n.access_token.slice(0, 4)}…`,
        app_secret: "…",
      })),
    };
  }

  async control(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    const input = isRecord(body) ? body : {};
    if (path === "/messages" && method === "GET") {
      const run = query.get("run");
      return {
        status: 200,
        body: this.#messages.filter((m) => run === null || m.biz_opaque_callback_data === run),
      };
    }
    const fire = /^\/messages\/([^/]+)\/statuses$/.exec(path);
    if (fire && method === "POST") {
      const m = this.#byId.get(decodeURIComponent(fire[1]));
      if (!m) return { status: 404, body: { error: "no such message" } };
      const number = this.#numbers.get(m.phone_number_id)!;
      if (!number.webhook_url) throw new ControlError("the number has no `webhook_url`", 409);
      if (!Array.isArray(input.statuses)) throw new ControlError("`statuses` must be an array");
      const answers: (number | null)[] = [];
      for (const s of input.statuses as string[]) {
        answers.push(
          await this.#webhooks.attempt(this.#status(number, m, s, optionalNumber(input, "error_code"))),
        );
      }
      return { status: 200, body: { statuses: answers } };
    }
    if (path === "/inbound" && method === "POST") {
      const number = this.#numbers.get(optionalString(input, "phone_number_id") ?? "");
      if (!number) throw new ControlError("`phone_number_id` must be a configured number");
      if (!number.webhook_url) throw new ControlError("the number has no `webhook_url`", 409);
      const from = (optionalString(input, "from") ?? "").replace(/^\+/, "");
      if (!WA_ID.test(from)) throw new ControlError("`from` must be a phone number");
      const ago = optionalNumber(input, "ago_ms") ?? 0;
      const at = this.#state.now() - ago;
      const key = `${number.phone_number_id}:${from}`;
      this.#inbound.set(key, Math.max(this.#inbound.get(key) ?? 0, at));
      const id = wamid();
      const send = this.#notification(
        number,
        {
          contacts: [{ profile: { name: "Couple" }, wa_id: from }],
          messages: [{
            from,
            id,
            timestamp: String(Math.floor(at / 1000)),
            type: "text",
            text: { body: optionalString(input, "text") ?? "Hello!" },
          }],
        },
        "message",
        id,
      );
      return { status: 200, body: { id, status: await this.#webhooks.attempt(send) } };
    }
    return undefined;
  }

  stats(): Record<string, number> {
    return { accepted: this.#accepted, duplicate_run_keys: this.#duplicateRunKeys };
  }

  reset(): void {
    this.#numbers.clear();
    this.#messages = [];
    this.#byId.clear();
    this.#inbound.clear();
    this.#lastSent.clear();
    this.#runKeys.clear();
    this.#accepted = 0;
    this.#duplicateRunKeys = 0;
  }
}

/** Creates the simulated WhatsApp Cloud API, served under `/whatsapp` (base URL `<simulator>/whatsapp`). */
export function createWhatsAppProvider(state: SimState, webhooks: WebhookDispatcher): Provider {
  return new WhatsAppSimulator(state, webhooks);
}

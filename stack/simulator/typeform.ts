/** The simulated Typeform API: `GET /me` (Bearer personal access token), form webhooks, and signed form_response events. */
import { signTypeform } from "../../shared/webhooks/typeform.ts";
import {
  ControlError,
  type FaultRule,
  optionalString,
  type Provider,
  type ProviderRequest,
  type ProviderResponse,
  type SimState,
} from "./state.ts";
import type { WebhookDispatcher } from "./webhooks.ts";

const NAME = "typeform";

/** A form webhook as Typeform keeps it (`PUT /forms/{form_id}/webhooks/{tag}`). */
type FormWebhook = {
  id: string;
  form_id: string;
  tag: string;
  url: string;
  enabled: boolean;
  verify_ssl: boolean;
  secret: string | null;
  token: string;
  created_at: string;
  updated_at: string;
};

/** Typeform's error answer: `{ code, description }`. */
function fail(status: number, code: string, description: string): ProviderResponse {
  return { status, body: { code, description } };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Creates the simulated Typeform, served under `/typeform`. */
export function createTypeformProvider(state: SimState, webhooks: WebhookDispatcher): Provider {
  /** Known personal access tokens (configured by tests) and the forms each one owns. */
  let tokens = new Map<string, Set<string>>();
  let hooks = new Map<string, FormWebhook>();
  const key = (form: string, tag: string) => `${form}\u0000${tag}`;

  function view(h: FormWebhook): Record<string, unknown> {
    const { token: _, secret: __, ...rest } = h;
    return rest;
  }

  function answer(req: ProviderRequest): ProviderResponse {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers["authorization"] ?? "")?.[1];
    const forms = bearer ? tokens.get(bearer) : undefined;
    if (!forms) {
      return fail(
        403,
        "AUTHENTICATION_FAILED",
        "Authentication credentials not found on the Request Headers",
      );
    }
    if (req.method === "GET" && req.path === "/me") {
      return {
        status: 200,
        body: { alias: "Studio", email: "studio@example.com", language: "en", user_id: "sim" },
      };
    }
    const m = /^\/forms\/([^/]+)\/webhooks(?:\/([^/]+))?$/.exec(req.path);
    if (!m) return fail(404, "NOT_FOUND", "Endpoint not found");
    const form = decodeURIComponent(m[1]);
    if (!forms.has(form)) return fail(404, "FORM_NOT_FOUND", `Form ${form} not found`);
    if (!m[2]) {
      if (req.method !== "GET") return fail(405, "METHOD_NOT_ALLOWED", "Method not allowed");
      const items = [...hooks.values()].filter((h) => h.form_id === form && h.token === bearer).map(view);
      return { status: 200, body: { items } };
    }
    const tag = decodeURIComponent(m[2]);
    const existing = hooks.get(key(form, tag));
    if (req.method === "PUT") {
      const body = isRecord(req.body) ? req.body : {};
      if (typeof body.url !== "string" || !/^https?:\/\//.test(body.url)) {
        return fail(400, "VALIDATION_ERROR", "url: is required and must be a URL");
      }
      if (typeof body.enabled !== "boolean") return fail(400, "VALIDATION_ERROR", "enabled: is required");
      const now = new Date(state.now()).toISOString();
      const hook: FormWebhook = {
        id: existing?.id ?? crypto.randomUUID().replaceAll("-", "").slice(0, 26).toUpperCase(),
        form_id: form,
        tag,
        url: body.url,
        enabled: body.enabled,
        verify_ssl: body.verify_ssl !== false,
        secret: typeof body.secret === "string" ? body.secret : null,
        token: bearer!,
        created_at: existing?.created_at ?? now,
        updated_at: now,
      };
      hooks.set(key(form, tag), hook);
      return { status: existing ? 200 : 201, body: view(hook) };
    }
    if (!existing) return fail(404, "WEBHOOK_NOT_FOUND", "Webhook not found");
    if (req.method === "GET") return { status: 200, body: view(existing) };
    if (req.method === "DELETE") {
      hooks.delete(key(form, tag));
      return { status: 204, body: "" };
    }
    return fail(405, "METHOD_NOT_ALLOWED", "Method not allowed");
  }

  return {
    name: NAME,
    handle: (req) => Promise.resolve(answer(req)),
    faultResponse: (rule: FaultRule) =>
      fail(
        rule.status,
        rule.name ?? (rule.status >= 500 ? "INTERNAL_ERROR" : "ERROR"),
        rule.message ?? "Error",
      ),
    configure(input) {
      // {access_token, form_ids}: a personal access token and the forms it may manage.
      const token = optionalString(input, "access_token");
      if (token === undefined) return;
      const forms = input.form_ids ?? [];
      if (!Array.isArray(forms) || forms.some((f) => typeof f !== "string")) {
        throw new ControlError("`form_ids` must be an array of strings");
      }
      tokens.set(token, new Set([...(tokens.get(token) ?? []), ...forms as string[]]));
    },
    describeConfig: () => ({ tokens: tokens.size, webhooks: hooks.size }),
    async control(method, path, _query, body) {
      if (method === "GET" && path === "/webhooks") {
        return {
          status: 200,
          body: [...hooks.values()].map((h) => ({ ...view(h), has_secret: h.secret !== null })),
        };
      }
      // POST /_sim/typeform/forms/{id}/responses {tag?, event?}: one signed form_response to the registered URL.
      const m = /^\/forms\/([^/]+)\/responses$/.exec(path);
      if (method !== "POST" || !m) return undefined;
      const input = isRecord(body) ? body : {};
      const hook = hooks.get(
        key(decodeURIComponent(m[1]), optionalString(input, "tag") ?? "wedding-journeys"),
      );
      if (!hook) throw new ControlError("no webhook is registered for this form", 409);
      const eventId = crypto.randomUUID();
      const payload = JSON.stringify({
        event_id: eventId,
        event_type: "form_response",
        form_response: {
          form_id: hook.form_id,
          token: eventId,
          submitted_at: new Date().toISOString(),
          answers: [],
          ...(isRecord(input.form_response) ? input.form_response : {}),
        },
      });
      const status = await webhooks.attempt({
        provider: NAME,
        url: hook.url,
        type: "form_response",
        eventId,
        body: payload,
        headers: async () => ({
          "content-type": "application/json",
          ...(hook.secret ? { "typeform-signature": await signTypeform(hook.secret, payload) } : {}),
        }),
      }, 1);
      return { status: 200, body: { event_id: eventId, status } };
    },
    stats: () => ({ webhooks: hooks.size }),
    reset() {
      tokens = new Map();
      hooks = new Map();
    },
  };
}

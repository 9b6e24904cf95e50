/** The simulated Jotform API (submissions, form webhooks) and its unsigned multipart webhooks. */
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

const NAME = "jotform";

/** One answer of a submission, keyed by question id. */
export type JotformSimAnswer = { name: string; answer: unknown; text?: string; type?: string };

/** A stored submission, as `GET /submission/{id}` returns it in `content`. */
export type JotformSimSubmission = {
  id: string;
  form_id: string;
  ip: string;
  created_at: string;
  status: "ACTIVE";
  new: "1";
  answers: Record<string, JotformSimAnswer>;
};

/** Jotform's envelope: `{responseCode, message, content, duration, limit-left}`. */
function envelope(status: number, message: string, content: unknown): ProviderResponse {
  return {
    status,
    body: { responseCode: status, message, content, duration: "12.34ms", "limit-left": 999 },
  };
}

function unauthorized(path: string): ProviderResponse {
  return envelope(401, `You're not authorized to use (${path}) `, "");
}

/** Builds the simulated Jotform provider. */
export function createJotformProvider(state: SimState, webhooks: WebhookDispatcher): Provider {
  /** Submissions by id, with the API key of the account that owns them. */
  let submissions = new Map<string, { submission: JotformSimSubmission; apiKey: string }>();
  /** Webhook URLs per (api key, form id). */
  let formWebhooks = new Map<string, string[]>();
  /** Accounts registered through `POST /_sim/config`: API key → username and (optionally) its forms. */
  let accounts = new Map<string, { username: string; formIds: string[] | null }>();
  let seq = 0;

  const apiKeyOf = (req: ProviderRequest) => req.headers["apikey"] ?? req.query.get("apiKey") ?? "";
  const hookKey = (apiKey: string, formId: string) => `${apiKey}\u0000${formId}`;

  /** The webhook Jotform posts: multipart/form-data with the ids and the raw answers. */
  async function webhookFor(url: string, s: JotformSimSubmission): Promise<WebhookSend> {
    const raw: Record<string, unknown> = {};
    for (const [qid, a] of Object.entries(s.answers)) raw[`q${qid}_${a.name}`] = a.answer;
    const form = new FormData();
    form.set("action", "");
    form.set("webhookURL", url);
    form.set("username", "studio");
    form.set("formID", s.form_id);
    form.set("type", "WEB");
    form.set("formTitle", "Questionnaire");
    form.set("submissionID", s.id);
    form.set("ip", s.ip);
    form.set(
      "pretty",
      Object.values(s.answers).map((a) => `${a.text ?? a.name}:${String(a.answer)}`).join(", "),
    );
    form.set("rawRequest", JSON.stringify(raw));
    const encoded = new Response(form);
    const contentType = encoded.headers.get("content-type")!;
    const body = await encoded.text();
    return {
      provider: NAME,
      url,
      type: "submission",
      eventId: s.id,
      body,
      headers: () => Promise.resolve({ "content-type": contentType }),
      extra: { submission_id: s.id, form_id: s.form_id },
    };
  }

  /** Answers a request to Jotform's API paths. */
  function answer(req: ProviderRequest): ProviderResponse {
    const apiKey = apiKeyOf(req);
    const submission = /^\/submission\/([^/]+)$/.exec(req.path);
    if (req.method === "GET" && submission) {
      if (!apiKey) return unauthorized(req.path);
      const stored = submissions.get(decodeURIComponent(submission[1]));
      if (!stored) return envelope(404, "Submission not found", "");
      if (stored.apiKey !== apiKey) return unauthorized(req.path);
      return envelope(200, "success", stored.submission);
    }
    if (req.path === "/user") {
      const account = accounts.get(apiKey);
      if (!account) return unauthorized(req.path);
      if (req.method !== "GET") return envelope(405, "Method not allowed", "");
      return envelope(200, "success", {
        username: account.username,
        name: account.username,
        email: `${account.username}@studio.example`,
        account_type: "https://api.jotform.com/system/plan/BRONZE",
        status: "ACTIVE",
      });
    }
    const hooks = /^\/form\/([0-9]+)\/webhooks(?:\/([0-9]+))?$/.exec(req.path);
    if (hooks) {
      if (!apiKey) return unauthorized(req.path);
      const account = accounts.get(apiKey);
      if (account?.formIds && !account.formIds.includes(hooks[1])) {
        return envelope(404, "Form not found", "");
      }
      const key = hookKey(apiKey, hooks[1]);
      const list = formWebhooks.get(key) ?? [];
      if (hooks[2] !== undefined) {
        // DELETE /form/{id}/webhooks/{webhookID}: the id is the webhook's index in the list.
        if (req.method !== "DELETE") return envelope(405, "Method not allowed", "");
        const index = Number(hooks[2]);
        if (index >= list.length) return envelope(404, "Webhook not found", "");
        list.splice(index, 1);
        formWebhooks.set(key, list);
      } else if (req.method === "POST") {
        const body = (req.body ?? {}) as Record<string, unknown>;
        const url = typeof body.webhookURL === "string" ? body.webhookURL : "";
        if (!/^https?:\/\//.test(url)) return envelope(400, "webhookURL is required", "");
        if (!list.includes(url)) list.push(url);
        formWebhooks.set(key, list);
      } else if (req.method !== "GET") {
        return envelope(405, "Method not allowed", "");
      }
      return envelope(200, "success", Object.fromEntries(list.map((u, i) => [String(i), u])));
    }
    return envelope(404, `Requested URL (${req.path}) is not available!`, "");
  }

  return {
    name: NAME,

    handle(req) {
      return Promise.resolve(answer(req));
    },

    faultResponse(rule: FaultRule) {
      const response = envelope(
        rule.status,
        rule.message ?? (rule.status >= 500 ? "Internal Server Error" : "Error"),
        "",
      );
      if (rule.retry_after_s !== null) response.headers = { "retry-after": String(rule.retry_after_s) };
      return response;
    },

    /** `{provider: "jotform", api_key, username?, form_ids?}` registers an account (`GET /user` needs one). */
    configure(input) {
      const apiKey = optionalString(input, "api_key");
      if (apiKey === undefined) return;
      const formIds = input.form_ids;
      if (
        formIds !== undefined &&
        (!Array.isArray(formIds) || formIds.some((f) => typeof f !== "string" || !/^[0-9]+$/.test(f)))
      ) {
        throw new ControlError("`form_ids` must be an array of numeric form ids");
      }
      accounts.set(apiKey, {
        username: optionalString(input, "username") ?? "studio",
        formIds: (formIds as string[] | undefined) ?? null,
      });
    },

    describeConfig() {
      return {
        accounts: accounts.size,
        submissions: submissions.size,
        forms_with_webhooks: formWebhooks.size,
      };
    },

    async control(method, path, _query, body) {
      if (method === "GET" && path === "/webhooks") {
        // Webhooks registered through the API, for tests to assert.
        return {
          status: 200,
          body: [...formWebhooks].flatMap(([key, urls]) => {
            const [apiKey, formId] = key.split("\u0000");
            return urls.map((url) => ({ form_id: formId, url, api_key: `${apiKey.slice(0, 4)}…` }));
          }),
        };
      }
      if (method === "GET" && path === "/submissions") {
        return { status: 200, body: [...submissions.values()].map((s) => s.submission) };
      }
      if (method !== "POST" || path !== "/submissions") return undefined;
      // Simulates a couple submitting a form: stores the submission and posts the webhook to every
      // URL registered for the form (or `webhook_url`), returning the receivers' statuses.
      const input = (body ?? {}) as Record<string, unknown>;
      const apiKey = optionalString(input, "api_key");
      const formId = optionalString(input, "form_id");
      if (!apiKey || !formId || !/^[0-9]+$/.test(formId)) {
        throw new ControlError("`api_key` and a numeric `form_id` are required");
      }
      const answers = input.answers;
      if (!answers || typeof answers !== "object" || Array.isArray(answers)) {
        throw new ControlError("`answers` must be an object of {name, answer} by question id");
      }
      const id = `${Math.floor(state.now() / 1000)}${String(++seq).padStart(9, "0")}`;
      const submission: JotformSimSubmission = {
        id,
        form_id: formId,
        ip: "203.0.113.7",
        created_at: new Date(state.now()).toISOString().replace("T", " ").slice(0, 19),
        status: "ACTIVE",
        new: "1",
        answers: answers as Record<string, JotformSimAnswer>,
      };
      submissions.set(id, { submission, apiKey });
      const urls = [
        ...(formWebhooks.get(hookKey(apiKey, formId)) ?? []),
        ...(optionalString(input, "webhook_url") ? [input.webhook_url as string] : []),
      ];
      const statuses: (number | null)[] = [];
      for (const url of urls) statuses.push(await webhooks.attempt(await webhookFor(url, submission)));
      return { status: 200, body: { submission, statuses } };
    },

    stats() {
      return { submissions: submissions.size };
    },

    reset() {
      submissions = new Map();
      formWebhooks = new Map();
      accounts = new Map();
    },
  };
}

/** The simulated Acuity Scheduling API (`GET /api/v1/appointments/{id}`, Basic auth) and its signed form-post webhooks. */
import { signAcuity } from "../../shared/webhooks/acuity.ts";
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

const NAME = "acuity";

type Account = { user_id: string; api_key: string; webhook_url: string | null; timezone: string };
/** A dynamic webhook made with `POST /api/v1/webhooks`. */
type Subscription = { id: number; owner: string; event: string; target: string; status: "active" };

/** The events of Acuity's webhooks API. */
const WEBHOOK_EVENTS = new Set([
  "appointment.scheduled",
  "appointment.rescheduled",
  "appointment.canceled",
  "appointment.changed",
  "order.completed",
]);
/** Acuity allows at most 25 dynamic webhooks per account. */
const MAX_WEBHOOKS = 25;

const error = (status: number, code: string, message: string): ProviderResponse => ({
  status,
  body: { status_code: status, error: code, message },
});
type Appointment = {
  id: number;
  firstName: string;
  lastName: string;
  email: string;
  datetime: string;
  duration: string;
  appointmentTypeID: number;
  calendarID: number;
  canceled: boolean;
  location: string;
  confirmationPage: string;
  owner: string;
};

/** Acuity's own datetime form, e.g. `2026-04-14T15:00:00+0000` (offset without a colon). */
function acuityDatetime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "+0000");
}

class AcuitySimulator implements Provider {
  readonly name = NAME;
  #webhooks: WebhookDispatcher;
  #accounts = new Map<string, Account>();
  #appointments = new Map<number, Appointment>();
  #subscriptions = new Map<number, Subscription>();
  #seq = 1000;

  constructor(_state: SimState, webhooks: WebhookDispatcher) {
    this.#webhooks = webhooks;
  }

  handle(req: ProviderRequest): Promise<ProviderResponse> {
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers["authorization"] ?? "")?.[1];
    const [user, key] = basic ? atob(basic).split(":") : [];
    const account = user ? this.#accounts.get(user) : undefined;
    if (!account || account.api_key !== key) {
      return Promise.resolve({
        status: 401,
        body: { status_code: 401, error: "unauthorized", message: "Unauthorized" },
      });
    }
    if (req.path === "/api/v1/me" && req.method === "GET") {
      return Promise.resolve({
        status: 200,
        body: {
          id: Number(account.user_id),
          email: `studio-${account.user_id}@studio.example`,
          name: "Studio",
          timezone: account.timezone,
          plan: "Emerging",
          schedulingPage: `https://app.acuityscheduling.com/schedule.php?owner=${account.user_id}`,
        },
      });
    }
    const hooks = /^\/api\/v1\/webhooks(?:\/(\d+))?$/.exec(req.path);
    if (hooks) return Promise.resolve(this.#webhooksApi(req, account, hooks[1]));
    const m = /^\/api\/v1\/appointments\/(\d+)$/.exec(req.path);
    if (req.method !== "GET" || !m) {
      return Promise.resolve({
        status: 404,
        body: { status_code: 404, error: "not_found", message: "Not Found" },
      });
    }
    const a = this.#appointments.get(Number(m[1]));
    if (!a || a.owner !== account.user_id) {
      return Promise.resolve({
        status: 404,
        body: { status_code: 404, error: "not_found", message: "Appointment not found." },
      });
    }
    const { owner: _owner, ...view } = a;
    return Promise.resolve({ status: 200, body: view });
  }

  /** Acuity's webhooks API: `POST /webhooks {event, target}`, `GET /webhooks`, `DELETE /webhooks/{id}`. */
  #webhooksApi(req: ProviderRequest, account: Account, id: string | undefined): ProviderResponse {
    const mine = [...this.#subscriptions.values()].filter((s) => s.owner === account.user_id);
    const view = ({ owner: _owner, ...s }: Subscription) => s;
    if (id !== undefined) {
      const sub = this.#subscriptions.get(Number(id));
      if (req.method !== "DELETE") return error(405, "method_not_allowed", "Method Not Allowed");
      if (!sub || sub.owner !== account.user_id) return error(404, "not_found", "Webhook not found.");
      this.#subscriptions.delete(sub.id);
      return { status: 204 };
    }
    if (req.method === "GET") return { status: 200, body: mine.map(view) };
    if (req.method !== "POST") return error(405, "method_not_allowed", "Method Not Allowed");
    const body = (typeof req.body === "object" && req.body !== null ? req.body : {}) as Record<
      string,
      unknown
    >;
    const event = typeof body.event === "string" ? body.event : "";
    const target = typeof body.target === "string" ? body.target : "";
    if (!WEBHOOK_EVENTS.has(event)) {
      return error(400, "invalid_event", `The event "${event}" is not a supported webhook event.`);
    }
    if (!/^https?:\/\//.test(target)) return error(400, "invalid_target", "The target must be a URL.");
    if (mine.length >= MAX_WEBHOOKS) {
      return error(400, "too_many_webhooks", `A maximum of ${MAX_WEBHOOKS} webhooks can be created.`);
    }
    const sub: Subscription = { id: ++this.#seq, owner: account.user_id, event, target, status: "active" };
    this.#subscriptions.set(sub.id, sub);
    return { status: 200, body: view(sub) };
  }

  faultResponse(rule: FaultRule): ProviderResponse {
    return {
      status: rule.status,
      headers: rule.retry_after_s !== null ? { "retry-after": String(rule.retry_after_s) } : {},
      body: {
        status_code: rule.status,
        error: rule.name ?? "simulated",
        message: rule.message ?? "Simulated failure.",
      },
    };
  }

  configure(input: Record<string, unknown>): void {
    const user = optionalString(input, "user_id");
    if (user === undefined) return;
    const key = optionalString(input, "api_key");
    if (!key) throw new ControlError("`api_key` is required with `user_id`");
    this.#accounts.set(user, {
      user_id: user,
      api_key: key,
      webhook_url: optionalString(input, "webhook_url") ?? null,
      timezone: optionalString(input, "timezone") ?? "America/New_York",
    });
  }

  describeConfig(): Record<string, unknown> {
    return { accounts: [...this.#accounts.keys()] };
  }

  stats(): Record<string, number> {
    return { appointments: this.#appointments.size };
  }

  reset(): void {
    this.#accounts.clear();
    this.#appointments.clear();
    this.#subscriptions.clear();
  }

  async control(
    method: string,
    path: string,
    _q: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    const input = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    if (method === "GET" && path === "/webhooks") {
      // Dynamic webhooks made through the API, for tests to assert.
      return { status: 200, body: [...this.#subscriptions.values()] };
    }
    if (method === "POST" && path === "/book") {
      const given = optionalString(input, "scheduler_url");
      const user = optionalString(input, "user_id");
      const account = user ? this.#accounts.get(user) : undefined;
      if (!given || !account) {
        throw new ControlError("`scheduler_url` and a configured `user_id` are required");
      }
      const url = new URL(given);
      const start = new Date(optionalString(input, "datetime") ?? Date.now() + 3 * 86_400_000);
      const a: Appointment = {
        id: ++this.#seq,
        firstName: url.searchParams.get("firstName") ?? "",
        lastName: url.searchParams.get("lastName") ?? "",
        email: url.searchParams.get("email") ?? "",
        datetime: acuityDatetime(start),
        duration: String(input.duration ?? 30),
        appointmentTypeID: Number(url.searchParams.get("appointmentType") ?? 0),
        calendarID: 1,
        canceled: false,
        location: "",
        confirmationPage:
          `https://app.acuityscheduling.com/schedule.php?owner=${account.user_id}&id[]=${this.#seq}&action=appt`,
        owner: account.user_id,
      };
      this.#appointments.set(a.id, a);
      return { status: 200, body: { id: a.id, statuses: await this.#notify(account, "scheduled", a) } };
    }
    const m = /^\/appointments\/(\d+)\/(cancel|reschedule)$/.exec(path);
    if (method === "POST" && m) {
      const a = this.#appointments.get(Number(m[1]));
      if (!a) throw new ControlError("no such appointment", 404);
      if (m[2] === "cancel") a.canceled = true;
      else a.datetime = acuityDatetime(new Date(optionalString(input, "datetime") ?? ""));
      const action = m[2] === "cancel" ? "canceled" : "rescheduled";
      return {
        status: 200,
        body: { id: a.id, statuses: await this.#notify(this.#accounts.get(a.owner)!, action, a) },
      };
    }
    return undefined;
  }

  /**
   * Posts `action=…&id=…&calendarID=…&appointmentTypeID=…`, signed with the account's API key, to the
   * static webhook URL and to every dynamic webhook subscribed to the event.
   */
  async #notify(account: Account, action: string, a: Appointment): Promise<(number | null)[]> {
    const targets = [
      ...(account.webhook_url ? [account.webhook_url] : []),
      ...[...this.#subscriptions.values()]
        .filter((s) => s.owner === account.user_id && s.event === `appointment.${action}`)
        .map((s) => s.target),
    ];
    const statuses: (number | null)[] = [];
    for (const url of targets) statuses.push(await this.#post(account, url, action, a));
    return statuses;
  }

  async #post(account: Account, url: string, action: string, a: Appointment): Promise<number | null> {
    const body = new URLSearchParams({
      action,
      id: String(a.id),
      calendarID: String(a.calendarID),
      appointmentTypeID: String(a.appointmentTypeID),
    }).toString();
    return await this.#webhooks.attempt({
      provider: NAME,
      url,
      type: action,
      eventId: `${action}:${a.id}`,
      body,
      headers: async () => ({
        "content-type": "application/x-www-form-urlencoded",
        "x-acuity-signature": await signAcuity(account.api_key, body),
      }),
    });
  }
}

/** Creates the simulated Acuity, served under `/acuity` (API base `<simulator>/acuity/api/v1`). */
export function createAcuityProvider(state: SimState, webhooks: WebhookDispatcher): Provider {
  return new AcuitySimulator(state, webhooks);
}

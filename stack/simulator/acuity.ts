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

type Account = { user_id: string; api_key: string; webhook_url: string | null };
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
  }

  async control(
    method: string,
    path: string,
    _q: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    const input = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
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

  /** Posts `action=…&id=…&calendarID=…&appointmentTypeID=…`, signed with the account's API key. */
  async #notify(account: Account, action: string, a: Appointment): Promise<(number | null)[]> {
    if (!account.webhook_url) return [];
    const body = new URLSearchParams({
      action,
      id: String(a.id),
      calendarID: String(a.calendarID),
      appointmentTypeID: String(a.appointmentTypeID),
    }).toString();
    const status = await this.#webhooks.attempt({
      provider: NAME,
      url: account.webhook_url,
      type: action,
      eventId: `${action}:${a.id}`,
      body,
      headers: async () => ({
        "content-type": "application/x-www-form-urlencoded",
        "x-acuity-signature": await signAcuity(account.api_key, body),
      }),
    });
    return [status];
  }
}

/** Creates the simulated Acuity, served under `/acuity` (API base `<simulator>/acuity/api/v1`). */
export function createAcuityProvider(state: SimState, webhooks: WebhookDispatcher): Provider {
  return new AcuitySimulator(state, webhooks);
}

/** The simulated Calendly API v2 (users/me, event types, single-use scheduling links, webhook subscriptions) and its signed invitee webhooks. */
import { signCalendly } from "../../shared/webhooks/calendly.ts";
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

const NAME = "calendly";
/** Calendly's resource URIs are absolute on its canonical host whatever base URL the client used. */
const API = "https://api.calendly.com";

type EventType = {
  uri: string;
  name: string;
  slug: string;
  duration: number;
  active: boolean;
  owner: string;
};
type Link = { code: string; url: string; owner: string; used: boolean };
type Subscription = {
  uri: string;
  url: string;
  user: string;
  organization: string;
  scope: "user" | "organization";
  events: string[];
  signing_key: string;
};
type Invitee = {
  uri: string;
  email: string;
  name: string;
  status: "active" | "canceled";
  event_type: string;
  start_time: string;
  end_time: string;
  event_uri: string;
  tracking: Record<string, string | null>;
};

/** A Calendly error answer: `{ title, message, details? }`. */
function fail(status: number, title: string, message: string, details?: unknown): ProviderResponse {
  return { status, body: details ? { title, message, details } : { title, message } };
}

function id(): string {
  return crypto.randomUUID();
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

class CalendlySimulator implements Provider {
  readonly name = NAME;
  #webhooks: WebhookDispatcher;
  #invalidTokens = new Set<string>();
  #users = new Map<string, string>();
  #eventTypes = new Map<string, EventType>();
  #links = new Map<string, Link>();
  #subscriptions: Subscription[] = [];
  #invitees = new Map<string, Invitee>();
  #linksCreated = 0;

  constructor(_state: SimState, webhooks: WebhookDispatcher) {
    this.#webhooks = webhooks;
  }

  /** The user URI of a token: every distinct token is its own Calendly user. */
  #user(token: string): string {
    let uri = this.#users.get(token);
    if (!uri) {
      uri = `${API}/users/${id()}`;
      this.#users.set(token, uri);
    }
    return uri;
  }

  handle(req: ProviderRequest): Promise<ProviderResponse> {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers["authorization"] ?? "")?.[1];
    if (!bearer || this.#invalidTokens.has(bearer)) {
      return Promise.resolve(fail(401, "Unauthenticated", "The access token is invalid"));
    }
    const user = this.#user(bearer);
    const { method, path } = req;
    if (method === "GET" && path === "/users/me") {
      return Promise.resolve({
        status: 200,
        body: {
          resource: {
            uri: user,
            current_organization: `${API}/organizations/${user.slice(-36)}`,
            name: "Vendor",
          },
        },
      });
    }
    const et = /^\/event_types\/([^/]+)$/.exec(path);
    if (method === "GET" && et) {
      const found = this.#eventTypes.get(`${API}/event_types/${et[1]}`);
      return Promise.resolve(
        found
          ? { status: 200, body: { resource: found } }
          : fail(404, "Resource Not Found", "The server could not find the requested resource."),
      );
    }
    if (method === "GET" && path === "/event_types") {
      const owner = req.query.get("user");
      if (!owner && !req.query.get("organization")) {
        return Promise.resolve(fail(400, "Invalid Argument", "The supplied parameters are invalid.", [
          { parameter: "user", message: "user or organization is required" },
        ]));
      }
      const list = [...this.#eventTypes.values()].filter((e) => !owner || e.owner === owner);
      return Promise.resolve({
        status: 200,
        body: { collection: list, pagination: { count: list.length, next_page: null } },
      });
    }
    if (method === "POST" && path === "/scheduling_links") return Promise.resolve(this.#createLink(req.body));
    if (method === "POST" && path === "/webhook_subscriptions") {
      return Promise.resolve(this.#subscribe(req.body, user));
    }
    if (method === "GET" && path === "/webhook_subscriptions") {
      return Promise.resolve(this.#listSubscriptions(req.query, user));
    }
    const sub = /^\/webhook_subscriptions\/([^/]+)$/.exec(path);
    if (sub && (method === "DELETE" || method === "GET")) {
      const found = this.#subscriptions.find((s) => s.uri === `${API}/webhook_subscriptions/${sub[1]}`);
      if (!found || found.user !== user) {
        return Promise.resolve(
          fail(404, "Resource Not Found", "The server could not find the requested resource."),
        );
      }
      if (method === "GET") {
        return Promise.resolve({ status: 200, body: { resource: this.#subscriptionView(found) } });
      }
      this.#subscriptions = this.#subscriptions.filter((s) => s !== found);
      return Promise.resolve({ status: 204 });
    }
    return Promise.resolve(
      fail(404, "Resource Not Found", "The server could not find the requested resource."),
    );
  }

  #createLink(body: unknown): ProviderResponse {
    if (!isRecord(body)) return fail(400, "Invalid Argument", "The supplied parameters are invalid.");
    const problems: { parameter: string; message: string }[] = [];
    if (body.max_event_count !== 1) {
      problems.push({ parameter: "max_event_count", message: "must be equal to 1" });
    }
    if (body.owner_type !== "EventType") {
      problems.push({ parameter: "owner_type", message: "must be EventType" });
    }
    if (typeof body.owner !== "string") problems.push({ parameter: "owner", message: "is required" });
    if (problems.length > 0) {
      return fail(400, "Invalid Argument", "The supplied parameters are invalid.", problems);
    }
    const owner = this.#eventTypes.get(body.owner as string);
    if (!owner) return fail(404, "Resource Not Found", "The server could not find the requested resource.");
    const code = id().slice(0, 8);
    const url = `https://calendly.com/d/${code}/${owner.slug}`;
    this.#links.set(code, { code, url, owner: owner.uri, used: false });
    this.#linksCreated++;
    return {
      status: 201,
      body: { resource: { booking_url: url, owner: owner.uri, owner_type: "EventType" } },
    };
  }

  #subscribe(body: unknown, user: string): ProviderResponse {
    if (!isRecord(body)) return fail(400, "Invalid Argument", "The supplied parameters are invalid.");
    const problems: { parameter: string; message: string }[] = [];
    if (typeof body.url !== "string" || !/^https?:\/\//.test(body.url)) {
      problems.push({ parameter: "url", message: "must be a URL" });
    }
    if (!Array.isArray(body.events) || body.events.length === 0) {
      problems.push({ parameter: "events", message: "is required" });
    }
    if (body.scope !== "user" && body.scope !== "organization") {
      problems.push({ parameter: "scope", message: "must be user or organization" });
    }
    if (typeof body.organization !== "string") {
      problems.push({ parameter: "organization", message: "is required" });
    }
    if (body.scope === "user" && body.user !== user) {
      problems.push({ parameter: "user", message: "must be the token's user" });
    }
    if (problems.length > 0) {
      return fail(400, "Invalid Argument", "The supplied parameters are invalid.", problems);
    }
    const existing = this.#subscriptions.find((s) => s.url === body.url && s.user === user);
    if (existing) return fail(409, "Already Exists", "Hook with this url already exists");
    const sub: Subscription = {
      uri: `${API}/webhook_subscriptions/${id()}`,
      url: body.url as string,
      user,
      organization: body.organization as string,
      scope: body.scope as Subscription["scope"],
      events: body.events as string[],
      signing_key: typeof body.signing_key === "string" ? body.signing_key : "",
    };
    this.#subscriptions.push(sub);
    return { status: 201, body: { resource: this.#subscriptionView(sub) } };
  }

  #subscriptionView(sub: Subscription): Record<string, unknown> {
    return {
      uri: sub.uri,
      callback_url: sub.url,
      events: sub.events,
      scope: sub.scope,
      state: "active",
      user: sub.user,
      organization: sub.organization,
    };
  }

  /** `GET /webhook_subscriptions?organization=…&scope=user&user=…`: organization and scope are required. */
  #listSubscriptions(query: URLSearchParams, user: string): ProviderResponse {
    const organization = query.get("organization");
    const scope = query.get("scope");
    if (!organization || (scope !== "user" && scope !== "organization")) {
      return fail(400, "Invalid Argument", "The supplied parameters are invalid.", [
        { parameter: "organization", message: "organization and scope are required" },
      ]);
    }
    const list = this.#subscriptions.filter((s) =>
      s.organization === organization && s.scope === scope && (scope === "organization" || s.user === user)
    );
    return {
      status: 200,
      body: {
        collection: list.map((s) => this.#subscriptionView(s)),
        pagination: { count: list.length, next_page: null },
      },
    };
  }

  faultResponse(rule: FaultRule): ProviderResponse {
    const headers: Record<string, string> = {};
    if (rule.status === 429) {
      headers["x-ratelimit-limit"] = "500";
      headers["x-ratelimit-remaining"] = "0";
      headers["x-ratelimit-reset"] = String(rule.retry_after_s ?? 1);
    }
    const title = rule.name ??
      (rule.status === 429
        ? "Too Many Requests"
        : rule.status >= 500
        ? "Internal Server Error"
        : "Invalid Argument");
    return { status: rule.status, headers, body: { title, message: rule.message ?? "Simulated failure." } };
  }

  configure(input: Record<string, unknown>): void {
    const invalid = input.invalid_tokens;
    if (invalid !== undefined) {
      if (!Array.isArray(invalid) || invalid.some((t) => typeof t !== "string")) {
        throw new ControlError("`invalid_tokens` must be an array of strings");
      }
      for (const t of invalid as string[]) this.#invalidTokens.add(t);
    }
  }

  describeConfig(): Record<string, unknown> {
    return { invalid_tokens: this.#invalidTokens.size, subscriptions: this.#subscriptions.length };
  }

  stats(): Record<string, number> {
    return { links_created: this.#linksCreated, bookings: this.#invitees.size };
  }

  reset(): void {
    this.#invalidTokens.clear();
    this.#users.clear();
    this.#eventTypes.clear();
    this.#links.clear();
    this.#subscriptions = [];
    this.#invitees.clear();
    this.#linksCreated = 0;
  }

  async control(
    method: string,
    path: string,
    _query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    const input = isRecord(body) ? body : {};
    if (method === "POST" && path === "/event_types") {
      const token = optionalString(input, "access_token");
      if (!token) throw new ControlError("`access_token` (the owner's token) is required");
      const name = optionalString(input, "name") ?? "Consultation";
      const et: EventType = {
        uri: `${API}/event_types/${id()}`,
        name,
        slug: name.toLowerCase().replace(/[^a-z0-9]+/g, "-"),
        duration: optionalNumber(input, "duration", 720) ?? 30,
        active: input.active !== false,
        owner: this.#user(token),
      };
      this.#eventTypes.set(et.uri, et);
      return { status: 201, body: et };
    }
    if (method === "GET" && path === "/links") return { status: 200, body: [...this.#links.values()] };
    if (method === "GET" && path === "/subscriptions") {
      return {
        status: 200,
        body: this.#subscriptions.map((s) => ({ ...s, signing_key: `${s.signing_key.slice(0, 4)}…` })),
      };
    }
    if (method === "POST" && path === "/book") return { status: 200, body: await this.#book(input) };
    if (method === "POST" && path === "/cancel") return { status: 200, body: await this.#cancel(input) };
    if (method === "POST" && path === "/reschedule") {
      return { status: 200, body: await this.#reschedule(input) };
    }
    return undefined;
  }

  /** The couple books through a single-use link: a second booking through it is refused. */
  async #book(input: Record<string, unknown>) {
    const given = optionalString(input, "booking_url");
    if (!given) throw new ControlError("`booking_url` is required");
    const url = new URL(given);
    const code = /^\/d\/([^/]+)/.exec(url.pathname)?.[1] ?? "";
    const link = this.#links.get(code);
    if (!link) throw new ControlError("no such scheduling link", 404);
    if (link.used) throw new ControlError("this single-use link has already been used", 409);
    link.used = true;
    const start = new Date(optionalString(input, "start_time") ?? Date.now() + 3 * 86_400_000);
    const invitee = this.#invitee(link.owner, start, {
      email: url.searchParams.get("email") ?? optionalString(input, "email") ?? "guest@example.com",
      name: url.searchParams.get("name") ?? "Guest",
      tracking: {
        utm_source: url.searchParams.get("utm_source"),
        utm_content: url.searchParams.get("utm_content"),
      },
    });
    const statuses = await this.#deliver(
      "invitee.created",
      invitee,
      {},
      optionalNumber(input, "times", 10) ?? 1,
    );
    return { invitee: invitee.uri, statuses };
  }

  #invitee(eventType: string, start: Date, who: Pick<Invitee, "email" | "name" | "tracking">): Invitee {
    const et = this.#eventTypes.get(eventType)!;
    const event = `${API}/scheduled_events/${id()}`;
    const invitee: Invitee = {
      uri: `${event}/invitees/${id()}`,
      status: "active",
      event_type: eventType,
      start_time: start.toISOString(),
      end_time: new Date(start.getTime() + et.duration * 60_000).toISOString(),
      event_uri: event,
      ...who,
    };
    this.#invitees.set(invitee.uri, invitee);
    return invitee;
  }

  #found(input: Record<string, unknown>): Invitee {
    const uri = optionalString(input, "invitee");
    const invitee = uri ? this.#invitees.get(uri) : undefined;
    if (!invitee) throw new ControlError("`invitee` must be the URI of a booking", 404);
    return invitee;
  }

  async #cancel(input: Record<string, unknown>) {
    const invitee = this.#found(input);
    invitee.status = "canceled";
    const statuses = await this.#deliver("invitee.canceled", invitee, {
      canceled: true,
      cancellation: { canceled_by: invitee.name, reason: "Simulated cancellation", canceler_type: "invitee" },
    }, optionalNumber(input, "times", 10) ?? 1);
    return { invitee: invitee.uri, statuses };
  }

  /** Calendly's reschedule: the old invitee is canceled (rescheduled: true) and a new one names it. */
  async #reschedule(input: Record<string, unknown>) {
    const old = this.#found(input);
    const start = optionalString(input, "start_time");
    if (!start) throw new ControlError("`start_time` is required");
    const fresh = this.#invitee(old.event_type, new Date(start), {
      email: old.email,
      name: old.name,
      tracking: old.tracking,
    });
    old.status = "canceled";
    const canceled = await this.#deliver("invitee.canceled", old, {
      rescheduled: true,
      new_invitee: fresh.uri,
    }, 1);
    const created = await this.#deliver("invitee.created", fresh, { old_invitee: old.uri }, 1);
    return { invitee: fresh.uri, statuses: [...canceled, ...created] };
  }

  /** Sends an invitee event to every subscription of the event type's owner, signed with its key. */
  async #deliver(
    event: string,
    inv: Invitee,
    extra: Record<string, unknown>,
    times: number,
  ): Promise<(number | null)[]> {
    const owner = this.#eventTypes.get(inv.event_type)!.owner;
    const subs = this.#subscriptions.filter((s) => s.user === owner && s.events.includes(event));
    const body = JSON.stringify({
      event,
      created_at: new Date().toISOString(),
      created_by: owner,
      payload: {
        uri: inv.uri,
        email: inv.email,
        name: inv.name,
        status: inv.status,
        cancel_url: `https://calendly.com/cancellations/${inv.uri.slice(-36)}`,
        reschedule_url: `https://calendly.com/reschedulings/${inv.uri.slice(-36)}`,
        rescheduled: false,
        old_invitee: null,
        new_invitee: null,
        questions_and_answers: [],
        tracking: inv.tracking,
        scheduled_event: {
          uri: inv.event_uri,
          event_type: inv.event_type,
          start_time: inv.start_time,
          end_time: inv.end_time,
          status: inv.status,
          location: {
            type: "google_conference",
            join_url: `https://meet.google.com/sim-${inv.uri.slice(-4)}`,
          },
        },
        ...extra,
      },
    });
    const statuses: (number | null)[] = [];
    for (const sub of subs) {
      const send: WebhookSend = {
        provider: NAME,
        url: sub.url,
        type: event,
        eventId: inv.uri,
        body,
        headers: async () => ({
          "content-type": "application/json",
          "calendly-webhook-signature": await signCalendly(
            sub.signing_key,
            Math.floor(Date.now() / 1000),
            body,
          ),
        }),
      };
      for (let i = 0; i < times; i++) statuses.push(await this.#webhooks.attempt(send, i + 1));
    }
    return statuses;
  }
}

/** Creates the simulated Calendly, served under `/calendly` (clients use `<simulator>/calendly` as base URL). */
export function createCalendlyProvider(state: SimState, webhooks: WebhookDispatcher): Provider {
  return new CalendlySimulator(state, webhooks);
}

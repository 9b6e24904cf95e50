/**
 * The simulated Google OAuth 2.0 (consent, token endpoint) and Calendar API v3 (freeBusy, events with Meet,
 * all-day events, update, delete that keeps the id as `cancelled` the way Google does).
 */
import {
  ControlError,
  type FaultRule,
  optionalString,
  type Provider,
  type ProviderRequest,
  type ProviderResponse,
  type SimState,
} from "./state.ts";

const NAME = "google";
const ACCESS_TOKEN_LIFETIME_S = 3599;
const EVENT_ID = /^[a-v0-9]{5,1024}$/;

type Grant = { user: string; scope: string; revoked: boolean };
type Code = { user: string; redirect_uri: string; scope: string; offline: boolean; consent: boolean };
type EventTime = { dateTime?: string; date?: string };
type CalendarEvent = Record<string, unknown> & {
  id: string;
  status: string;
  start: EventTime;
  end: EventTime;
  transparency?: string;
};

/** An event time as an instant (an all-day date starts at midnight UTC here: the simulator has no calendar zone). */
function instant(t: EventTime): string {
  return t.dateTime ?? `${t.date}T00:00:00Z`;
}

/** Whether a start or end is a dateTime or a date (all day), as Google requires. */
function validTime(t: unknown): t is EventTime {
  const v = t as EventTime | undefined;
  return !!v && (typeof v.dateTime === "string" && !Number.isNaN(Date.parse(v.dateTime)) ||
    typeof v.date === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v.date));
}

/** A Calendar API error: `{ error: { errors: [{domain, reason, message}], code, message } }`. */
function apiError(status: number, reason: string, message: string): ProviderResponse {
  return {
    status,
    body: { error: { errors: [{ domain: "global", reason, message }], code: status, message } },
  };
}

/** An OAuth token-endpoint error: `{ error, error_description }`. */
function oauthError(status: number, error: string, description: string): ProviderResponse {
  return { status, body: { error, error_description: description } };
}

function random(prefix: string): string {
  return prefix + crypto.randomUUID().replaceAll("-", "");
}

class GoogleSimulator implements Provider {
  readonly name = NAME;
  #state: SimState;
  #client: { id: string; secret: string } | null = null;
  #codes = new Map<string, Code>();
  #refresh = new Map<string, Grant>();
  #access = new Map<string, { user: string; expires: number }>();
  #consented = new Set<string>();
  #events = new Map<string, Map<string, CalendarEvent>>();
  #busy = new Map<string, { start: string; end: string }[]>();
  #invitations = 0;
  #refreshes = 0;

  constructor(state: SimState) {
    this.#state = state;
  }

  handle(req: ProviderRequest): Promise<ProviderResponse> {
    if (req.method === "GET" && req.path === "/o/oauth2/v2/auth") {
      return Promise.resolve(this.#consent(req.query));
    }
    if (req.method === "POST" && req.path === "/token") return Promise.resolve(this.#token(req));
    if (req.path.startsWith("/calendar/v3/")) return Promise.resolve(this.#calendar(req));
    return Promise.resolve(apiError(404, "notFound", "Not Found"));
  }

  /** The consent screen, answered at once as if the vendor clicked Allow: a redirect with a code. */
  #consent(q: URLSearchParams): ProviderResponse {
    if (!this.#client || q.get("client_id") !== this.#client.id) {
      return { status: 400, body: "Error 401: invalid_client. The OAuth client was not found." };
    }
    const redirect = q.get("redirect_uri");
    if (!redirect || q.get("response_type") !== "code" || !q.get("scope")) {
      return { status: 400, body: "Error 400: invalid_request. Required parameter is missing." };
    }
    const user = q.get("login_hint") ?? "vendor@example.com";
    const code = random("4/");
    this.#codes.set(code, {
      user,
      redirect_uri: redirect,
      scope: q.get("scope")!,
      offline: q.get("access_type") === "offline",
      consent: q.get("prompt")?.split(" ").includes("consent") ?? false,
    });
    const back = new URL(redirect);
    back.searchParams.set("code", code);
    if (q.get("state") !== null) back.searchParams.set("state", q.get("state")!);
    return { status: 302, headers: { location: back.toString() }, body: "" };
  }

  #issueAccess(user: string): string {
    const token = random("ya29.");
    this.#access.set(token, { user, expires: this.#state.now() + ACCESS_TOKEN_LIFETIME_S * 1000 });
    return token;
  }

  #token(req: ProviderRequest): ProviderResponse {
    if (!(req.headers["content-type"] ?? "").includes("application/x-www-form-urlencoded")) {
      return oauthError(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded");
    }
    const f = (req.body ?? {}) as Record<string, string>;
    if (!this.#client || f.client_id !== this.#client.id || f.client_secret !== this.#client.secret) {
      return oauthError(401, "invalid_client", "The OAuth client was not found.");
    }
    if (f.grant_type === "authorization_code") {
      const code = this.#codes.get(f.code ?? "");
      this.#codes.delete(f.code ?? "");
      if (!code) return oauthError(400, "invalid_grant", "Malformed auth code.");
      if (code.redirect_uri !== f.redirect_uri) {
        return oauthError(400, "redirect_uri_mismatch", "Bad Request");
      }
      const body: Record<string, unknown> = {
        access_token: this.#issueAccess(code.user),
        expires_in: ACCESS_TOKEN_LIFETIME_S,
        scope: code.scope,
        token_type: "Bearer",
      };
      // A refresh token comes with offline access, on first consent or when consent is prompted again.
      if (code.offline && (code.consent || !this.#consented.has(code.user))) {
        const refresh = random("1//");
        this.#refresh.set(refresh, { user: code.user, scope: code.scope, revoked: false });
        body.refresh_token = refresh;
      }
      this.#consented.add(code.user);
      return { status: 200, body };
    }
    if (f.grant_type === "refresh_token") {
      const grant = this.#refresh.get(f.refresh_token ?? "");
      if (!grant || grant.revoked) {
        return oauthError(400, "invalid_grant", "Token has been expired or revoked.");
      }
      this.#refreshes++;
      return {
        status: 200,
        body: {
          access_token: this.#issueAccess(grant.user),
          expires_in: ACCESS_TOKEN_LIFETIME_S,
          scope: grant.scope,
          token_type: "Bearer",
        },
      };
    }
    return oauthError(400, "unsupported_grant_type", "Invalid grant_type");
  }

  #calendar(req: ProviderRequest): ProviderResponse {
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers["authorization"] ?? "")?.[1];
    const access = bearer ? this.#access.get(bearer) : undefined;
    if (!access || access.expires <= this.#state.now()) {
      return apiError(401, "authError", "Invalid Credentials");
    }
    const path = req.path.slice("/calendar/v3".length);
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (req.method === "POST" && path === "/freeBusy") {
      const items = body.items as { id: string }[] | undefined;
      if (!Array.isArray(items) || typeof body.timeMin !== "string" || typeof body.timeMax !== "string") {
        return apiError(400, "badRequest", "Bad Request");
      }
      const [min, max] = [Date.parse(body.timeMin), Date.parse(body.timeMax)];
      const calendars: Record<string, unknown> = {};
      for (const item of items) {
        const owned = item.id === "primary" || item.id === access.user;
        if (!owned) {
          calendars[item.id] = { busy: [], errors: [{ domain: "global", reason: "notFound" }] };
          continue;
        }
        // Cancelled and transparent ("show as available") events do not make the calendar busy.
        const events = [...this.#calendarOf(access.user).values()]
          .filter((e) => e.status !== "cancelled" && e.transparency !== "transparent")
          .map((e) => ({ start: instant(e.start), end: instant(e.end) }));
        calendars[item.id] = {
          busy: [...(this.#busy.get(access.user) ?? []), ...events]
            .filter((b) => Date.parse(b.end) > min && Date.parse(b.start) < max)
            .sort((a, b) => Date.parse(a.start) - Date.parse(b.start)),
        };
      }
      return {
        status: 200,
        body: { kind: "calendar#freeBusy", timeMin: body.timeMin, timeMax: body.timeMax, calendars },
      };
    }
    const m = /^\/calendars\/([^/]+)\/events(?:\/([^/]+))?$/.exec(path);
    if (!m) return apiError(404, "notFound", "Not Found");
    const calendarId = decodeURIComponent(m[1]);
    if (calendarId !== "primary" && calendarId !== access.user) return apiError(404, "notFound", "Not Found");
    const events = this.#calendarOf(access.user);
    const eventId = m[2] ? decodeURIComponent(m[2]) : undefined;
    if (req.method === "POST" && !eventId) return this.#insert(events, body, req.query);
    if (!eventId) return apiError(405, "methodNotAllowed", "Method not allowed");
    const existing = events.get(eventId);
    if (!existing) return apiError(404, "notFound", "Not Found");
    if (req.method === "GET") return { status: 200, body: existing };
    if (req.method === "PUT") {
      if (!validTime(body.start) || !validTime(body.end)) {
        return apiError(400, "required", "Missing end time.");
      }
      const updated = {
        ...existing,
        ...body,
        id: eventId,
        sendUpdates: req.query.get("sendUpdates") ?? "none",
      };
      events.set(eventId, updated as CalendarEvent);
      return { status: 200, body: updated };
    }
    if (req.method === "DELETE") {
      if (existing.status === "cancelled") return apiError(410, "deleted", "Resource has been deleted");
      existing.status = "cancelled";
      return { status: 204 };
    }
    return apiError(405, "methodNotAllowed", "Method not allowed");
  }

  #calendarOf(user: string): Map<string, CalendarEvent> {
    let c = this.#events.get(user);
    if (!c) {
      c = new Map();
      this.#events.set(user, c);
    }
    return c;
  }

  #insert(
    events: Map<string, CalendarEvent>,
    body: Record<string, unknown>,
    q: URLSearchParams,
  ): ProviderResponse {
    const { start, end } = body;
    if (!validTime(start) || !validTime(end)) return apiError(400, "required", "Missing end time.");
    const id = typeof body.id === "string" ? body.id : random("").slice(0, 26);
    if (!EVENT_ID.test(id)) return apiError(400, "invalid", "Invalid resource id value.");
    if (events.has(id)) return apiError(409, "duplicate", "The requested identifier already exists.");
    const event: CalendarEvent = {
      kind: "calendar#event",
      status: "confirmed",
      ...body,
      id,
      start,
      end,
      htmlLink: `https://www.google.com/calendar/event?eid=${id}`,
    };
    const request = (body.conferenceData as { createRequest?: { requestId?: string } } | undefined)
      ?.createRequest;
    if (request) {
      if (q.get("conferenceDataVersion") === "1") {
        const meet = `https://meet.google.com/${id.slice(1, 4)}-${id.slice(4, 8)}-${id.slice(8, 11)}`;
        event.hangoutLink = meet;
        event.conferenceData = {
          createRequest: { ...request, status: { statusCode: "success" } },
          entryPoints: [{ entryPointType: "video", uri: meet }],
          conferenceSolution: { key: { type: "hangoutsMeet" } },
        };
      } else {
        // Without conferenceDataVersion=1 Google silently drops the conference request.
        delete event.conferenceData;
      }
    }
    event.sendUpdates = q.get("sendUpdates") ?? "none";
    if (q.get("sendUpdates") === "all" && Array.isArray(body.attendees)) {
      this.#invitations += body.attendees.length;
    }
    events.set(id, event);
    return { status: 200, body: event };
  }

  faultResponse(rule: FaultRule): ProviderResponse {
    const headers: Record<string, string> = rule.retry_after_s !== null
      ? { "retry-after": String(rule.retry_after_s) }
      : {};
    const reason = rule.name ??
      (rule.status === 429 ? "rateLimitExceeded" : rule.status >= 500 ? "backendError" : "badRequest");
    return { ...apiError(rule.status, reason, rule.message ?? "Simulated failure."), headers };
  }

  configure(input: Record<string, unknown>): void {
    const id = optionalString(input, "client_id");
    const secret = optionalString(input, "client_secret");
    if ((id === undefined) !== (secret === undefined)) {
      throw new ControlError("give `client_id` and `client_secret` together");
    }
    if (id && secret) this.#client = { id, secret };
  }

  describeConfig(): Record<string, unknown> {
    return { client_id: this.#client?.id ?? null };
  }

  stats(): Record<string, number> {
    return { invitations_sent: this.#invitations, token_refreshes: this.#refreshes };
  }

  reset(): void {
    this.#client = null;
    this.#codes.clear();
    this.#refresh.clear();
    this.#access.clear();
    this.#consented.clear();
    this.#events.clear();
    this.#busy.clear();
    this.#invitations = 0;
    this.#refreshes = 0;
  }

  control(
    method: string,
    path: string,
    _query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined> {
    const input = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    const grantOf = () => {
      const token = optionalString(input, "refresh_token");
      const grant = token ? this.#refresh.get(token) : undefined;
      if (!grant) throw new ControlError("`refresh_token` must be one the simulator issued", 404);
      return grant;
    };
    // A vendor who already consented (for tests that skip the consent screen).
    if (method === "POST" && path === "/grants") {
      const user = optionalString(input, "user") ?? `${random("vendor-").slice(0, 15)}@example.com`;
      const refresh = random("1//");
      this.#refresh.set(refresh, {
        user,
        scope: "https://www.googleapis.com/auth/calendar.events",
        revoked: false,
      });
      this.#consented.add(user);
      return Promise.resolve({ status: 201, body: { refresh_token: refresh, user } });
    }
    if (method === "POST" && path === "/revoke") {
      const grant = grantOf();
      grant.revoked = true;
      // Revoking access (the vendor removes the app from their Google account) ends its access tokens too.
      for (const a of this.#access.values()) if (a.user === grant.user) a.expires = 0;
      return Promise.resolve({ status: 200, body: { revoked: true } });
    }
    if (method === "POST" && path === "/expire_access_tokens") {
      for (const a of this.#access.values()) a.expires = 0;
      return Promise.resolve({ status: 200, body: { expired: this.#access.size } });
    }
    if (method === "POST" && path === "/busy") {
      const intervals = input.busy;
      if (!Array.isArray(intervals)) throw new ControlError("`busy` must be an array of {start, end}");
      this.#busy.set(grantOf().user, intervals as { start: string; end: string }[]);
      return Promise.resolve({ status: 200, body: { ok: true } });
    }
    if (method === "POST" && path === "/events") {
      // The events of the refresh token's user (POST so the token is not in a URL).
      return Promise.resolve({ status: 200, body: [...this.#calendarOf(grantOf().user).values()] });
    }
    return Promise.resolve(undefined);
  }
}

/** Creates the simulated Google, served under `/google` (OAuth at `/google/o/oauth2/v2/auth` and `/google/token`, Calendar at `/google/calendar/v3`). */
export function createGoogleProvider(state: SimState): Provider {
  return new GoogleSimulator(state);
}

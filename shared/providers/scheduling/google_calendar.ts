// Google OAuth 2.0 (authorization URL, code exchange, cached access-token refresh) and Calendar API v3
// (freeBusy, events.insert with Meet, events.get, events.update, events.delete, upsert by id) as raw fetch calls.
import {
  answerFailure,
  callProvider,
  type ProviderAnswer,
  type ProviderFailure,
  type ProviderRequest,
} from "../http.ts";

/** Our Google OAuth client and where Google's endpoints are (the simulator locally). */
export type GoogleClient = {
  clientId: string;
  clientSecret: string;
  /** `https://accounts.google.com/o/oauth2/v2/auth` */
  authUrl: string;
  /** `https://oauth2.googleapis.com/token` */
  tokenUrl: string;
  /** `https://www.googleapis.com/calendar/v3` */
  calendarUrl: string;
  timeoutMs: number;
  fetch?: typeof fetch;
};

/** The scope the meeting module needs: events and free/busy on the vendor's calendars. */
export const CALENDAR_SCOPES = [
  "https://www.googleapis.com/auth/calendar.events",
  "https://www.googleapis.com/auth/calendar.freebusy",
];

/** Usage-limit reasons Google answers with 403 that clear with backoff (everything else 403 is final). */
const RATE_REASONS = new Set(["userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"]);

/**
 * The consent URL a vendor is sent to. `access_type=offline` gets a refresh token and `prompt=consent`
 * gets one again when the vendor reconnects (Google otherwise issues it on first consent only).
 */
export function authorizationUrl(client: GoogleClient, redirectUri: string, state: string): string {
  const url = new URL(client.authUrl);
  url.search = new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: redirectUri,
    response_type: "code",
    scope: CALENDAR_SCOPES.join(" "),
    access_type: "offline",
    prompt: "consent",
    include_granted_scopes: "true",
    state,
  }).toString();
  return url.toString();
}

function tokenCall(client: GoogleClient, operation: string, form: Record<string, string>) {
  return callProvider({
    provider: "google",
    operation,
    method: "POST",
    url: client.tokenUrl,
    body: new URLSearchParams({ client_id: client.clientId, client_secret: client.clientSecret, ...form }),
    timeoutMs: client.timeoutMs,
    // Refreshing twice only mints two access tokens; exchanging a code twice fails the second time.
    idempotent: operation === "token.refresh",
    fetch: client.fetch,
  });
}

/** Exchanges an authorization code for tokens; the refresh token is what we keep. */
export async function exchangeCode(
  client: GoogleClient,
  code: string,
  redirectUri: string,
): Promise<ProviderAnswer & { refresh_token?: string; scope?: string }> {
  const answer = await tokenCall(client, "token.exchange", {
    grant_type: "authorization_code",
    code,
    redirect_uri: redirectUri,
  });
  if (!answer.ok) return answer;
  const body = answer.body as { refresh_token?: unknown; scope?: unknown };
  return {
    ...answer,
    refresh_token: typeof body?.refresh_token === "string" ? body.refresh_token : undefined,
    scope: typeof body?.scope === "string" ? body.scope : undefined,
  };
}

/** Thrown-free result of getting an access token: the token, or the classified failure. */
export type TokenResult =
  | { ok: true; token: string; calls: ProviderAnswer["call"][] }
  | { ok: false; answer: ProviderFailure; calls: ProviderAnswer["call"][] };

/**
 * Access tokens per refresh token, kept until a minute before they expire, so a batch of runs for
 * one vendor refreshes once. `invalid_grant` (HTTP 400 from the token endpoint) is permanent.
 */
export class AccessTokens {
  #cache = new Map<string, { token: string; expires: number }>();
  #inflight = new Map<string, Promise<TokenResult>>();

  constructor(private readonly client: GoogleClient, private readonly now: () => number = Date.now) {}

  /** A valid access token for the refresh token (from the cache when fresh). */
  get(refreshToken: string): Promise<TokenResult> {
    const hit = this.#cache.get(refreshToken);
    if (hit && hit.expires > this.now()) return Promise.resolve({ ok: true, token: hit.token, calls: [] });
    let pending = this.#inflight.get(refreshToken);
    if (!pending) {
      pending = this.#refresh(refreshToken).finally(() => this.#inflight.delete(refreshToken));
      this.#inflight.set(refreshToken, pending);
    }
    return pending;
  }

  /** Forgets a token Google refused (401), so the next get refreshes. */
  invalidate(refreshToken: string): void {
    this.#cache.delete(refreshToken);
  }

  async #refresh(refreshToken: string): Promise<TokenResult> {
    const answer = await tokenCall(this.client, "token.refresh", {
      grant_type: "refresh_token",
      refresh_token: refreshToken,
    });
    if (!answer.ok) return { ok: false, answer, calls: [answer.call] };
    const body = answer.body as { access_token?: unknown; expires_in?: unknown };
    if (typeof body?.access_token !== "string") {
      return {
        ok: false,
        answer: answerFailure(answer, "transient", "malformed_answer", "Google returned no access_token"),
        calls: [answer.call],
      };
    }
    const lifetime = typeof body.expires_in === "number" ? body.expires_in : 3600;
    this.#cache.set(refreshToken, { token: body.access_token, expires: this.now() + (lifetime - 60) * 1000 });
    return { ok: true, token: body.access_token, calls: [answer.call] };
  }
}

/** A Calendar API request made as the vendor. */
type CalendarRequest =
  & Omit<
    ProviderRequest,
    "provider" | "url" | "timeoutMs" | "headers" | "fetch" | "describeError"
  >
  & {
    path: string;
    query?: Record<string, string>;
  };

/** Calendar API answers with the calls made on the way (token refreshes included). */
export type CalendarAnswer = { answer: ProviderAnswer; calls: ProviderAnswer["call"][] };

/**
 * Calls the Calendar API as the owner of `refreshToken`: with a cached access token, refreshed once
 * when Google answers 401 (expired or revoked access token). 403 usage limits are transient.
 */
export async function calendarCall(
  client: GoogleClient,
  tokens: AccessTokens,
  refreshToken: string,
  req: CalendarRequest,
): Promise<CalendarAnswer> {
  const calls: ProviderAnswer["call"][] = [];
  for (let attempt = 0; attempt < 2; attempt++) {
    const token = await tokens.get(refreshToken);
    calls.push(...token.calls);
    if (!token.ok) return { answer: token.answer, calls };
    const url = new URL(`${client.calendarUrl.replace(/\/$/, "")}${req.path}`);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const answer = await callProvider({
      ...req,
      provider: "google",
      url: url.toString(),
      headers: { authorization: `Bearer ${token.token}` },
      timeoutMs: client.timeoutMs,
      fetch: client.fetch,
    });
    calls.push(answer.call);
    if (!answer.ok && answer.status === 401 && attempt === 0) {
      tokens.invalidate(refreshToken);
      continue;
    }
    if (!answer.ok && answer.status === 403 && RATE_REASONS.has(answer.error.code)) {
      return { answer: { ...answer, failure: "transient", retry_after_s: answer.retry_after_s }, calls };
    }
    return { answer, calls };
  }
  throw new Error("unreachable");
}

/** A busy interval from freeBusy. */
export type BusyInterval = { start: Date; end: Date };

/** Busy intervals of a calendar between two instants (`POST /freeBusy`). */
export async function freeBusy(
  client: GoogleClient,
  tokens: AccessTokens,
  refreshToken: string,
  input: { calendarId: string; timeMin: Date; timeMax: Date; timeZone: string },
): Promise<CalendarAnswer & { busy?: BusyInterval[] }> {
  const result = await calendarCall(client, tokens, refreshToken, {
    operation: "freebusy.query",
    method: "POST",
    path: "/freeBusy",
    idempotent: true,
    body: {
      timeMin: input.timeMin.toISOString(),
      timeMax: input.timeMax.toISOString(),
      timeZone: input.timeZone,
      items: [{ id: input.calendarId }],
    },
  });
  if (!result.answer.ok) return result;
  const cal = (result.answer.body as { calendars?: Record<string, { busy?: unknown; errors?: unknown }> })
    ?.calendars?.[input.calendarId];
  if (!cal || Array.isArray(cal.errors) && cal.errors.length > 0 || !Array.isArray(cal.busy)) {
    const answer = result.answer;
    return {
      calls: result.calls,
      answer: answerFailure(
        answer,
        "permanent",
        "calendar_unavailable",
        `Google Calendar has no free/busy for calendar "${input.calendarId}"`,
      ),
    };
  }
  const busy = (cal.busy as { start: string; end: string }[]).map((b) => ({
    start: new Date(b.start),
    end: new Date(b.end),
  }));
  return { ...result, busy };
}

/**
 * A Google event id derived from a stable key: base32hex characters (0-9, a-v), so hex qualifies.
 * A retry then inserts the same id and Google answers 409 instead of creating a second event.
 */
export async function eventIdFor(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return "j" + Array.from(digest.slice(0, 20), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A Calendar event as we write it. */
export type CalendarEvent = {
  id: string;
  summary: string;
  description?: string;
  location?: string;
  start: { dateTime: string; timeZone: string } | { date: string };
  end: { dateTime: string; timeZone: string } | { date: string };
  attendees?: { email: string; displayName?: string }[];
  /** `transparent` events do not block free/busy. */
  transparency?: "opaque" | "transparent";
  /** `confirmed` brings back an event deleted earlier (Google keeps deleted ids as `cancelled`). */
  status?: "confirmed";
  conferenceData?: {
    createRequest: { requestId: string; conferenceSolutionKey: { type: "hangoutsMeet" } };
  };
};

/**
 * `events.insert` with `sendUpdates=all` (attendees get Google's invitation; the default sends none)
 * and `conferenceDataVersion=1` (without it a Meet request is silently ignored).
 */
export function insertEvent(
  client: GoogleClient,
  tokens: AccessTokens,
  refreshToken: string,
  calendarId: string,
  event: CalendarEvent,
  sendUpdates: "all" | "none" = "all",
): Promise<CalendarAnswer> {
  return calendarCall(client, tokens, refreshToken, {
    operation: "events.insert",
    method: "POST",
    path: `/calendars/${encodeURIComponent(calendarId)}/events`,
    query: { sendUpdates, conferenceDataVersion: "1" },
    body: event,
  });
}

/** `events.get`. */
export function getEvent(
  client: GoogleClient,
  tokens: AccessTokens,
  refreshToken: string,
  calendarId: string,
  eventId: string,
): Promise<CalendarAnswer> {
  return calendarCall(client, tokens, refreshToken, {
    operation: "events.get",
    method: "GET",
    path: `/calendars/${encodeURIComponent(calendarId)}/events/${encodeURIComponent(eventId)}`,
    idempotent: true,
  });
}

/** `events.update` (a full replacement, so repeating it is harmless). */
export function updateEvent(
  client: GoogleClient,
  tokens: AccessTokens,
  refreshToken: string,
  calendarId: string,
  event: CalendarEvent,
): Promise<CalendarAnswer> {
  return calendarCall(client, tokens, refreshToken, {
    operation: "events.update",
    method: "PUT",
    path: `/calendars/${encodeURIComponent(calendarId)}/events/${encodeURIComponent(event.id)}`,
    query: { sendUpdates: "none" },
    body: event,
    idempotent: true,
  });
}

/**
 * Writes an event under our id whatever is there: `events.update`, and `events.insert` when Google has no
 * such event (404); an insert that loses a race (409) is followed by one more update. Repeating it
 * leaves one event, as the last call wrote it.
 */
export async function upsertEvent(
  client: GoogleClient,
  tokens: AccessTokens,
  refreshToken: string,
  calendarId: string,
  event: CalendarEvent,
): Promise<CalendarAnswer> {
  const calls: ProviderAnswer["call"][] = [];
  const updated = await updateEvent(client, tokens, refreshToken, calendarId, event);
  calls.push(...updated.calls);
  if (updated.answer.ok || updated.answer.status !== 404) return { answer: updated.answer, calls };
  const inserted = await insertEvent(client, tokens, refreshToken, calendarId, event, "none");
  calls.push(...inserted.calls);
  if (inserted.answer.ok || inserted.answer.status !== 409) return { answer: inserted.answer, calls };
  const again = await updateEvent(client, tokens, refreshToken, calendarId, event);
  return { answer: again.answer, calls: [...calls, ...again.calls] };
}

/** `events.delete`; an event already gone (404, or 410 once deleted) counts as deleted. */
export async function deleteEvent(
  client: GoogleClient,
  tokens: AccessTokens,
  refreshToken: string,
  calendarId: string,
  eventId: string,
): Promise<CalendarAnswer> {
  const result = await calendarCall(client, tokens, refreshToken, {
    operation: "events.delete",
    method: "DELETE",
    path: `/calendars/${encodeURIComponent(calendarId)}/events/${encodeURIComponent(eventId)}`,
    query: { sendUpdates: "none" },
    idempotent: true,
  });
  const a = result.answer;
  if (!a.ok && (a.status === 404 || a.status === 410)) {
    return {
      answer: { ok: true, status: a.status, headers: new Headers(), body: null, call: a.call },
      calls: result.calls,
    };
  }
  return result;
}

/** The Meet link of an event, if Google has attached one. */
export function meetLink(event: unknown): string | null {
  const e = event as {
    hangoutLink?: unknown;
    conferenceData?: { entryPoints?: { entryPointType?: string; uri?: string }[] };
  };
  if (typeof e?.hangoutLink === "string") return e.hangoutLink;
  const video = e?.conferenceData?.entryPoints?.find((p) => p.entryPointType === "video");
  return typeof video?.uri === "string" ? video.uri : null;
}

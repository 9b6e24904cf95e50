// Calendly API v2 adapter: single-use scheduling links, event types, the current user, webhook subscriptions.
import { answerFailure, callProvider, type ProviderAnswer } from "../http.ts";
import { retryAfterSeconds } from "../result.ts";

/** Where and as whom to call Calendly (a personal access token or an OAuth access token). */
export type CalendlyAccount = {
  accessToken: string;
  baseUrl: string;
  timeoutMs: number;
  fetch?: typeof fetch;
};

/** A Calendly event type, as much of it as we use. */
export type CalendlyEventType = { uri: string; name: string; active: boolean; duration: number };

function call(
  account: CalendlyAccount,
  operation: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  idempotent = method === "GET",
): Promise<ProviderAnswer> {
  return callProvider({
    provider: "calendly",
    operation,
    method,
    url: `${account.baseUrl.replace(/\/$/, "")}${path}`,
    headers: { authorization: `Bearer ${account.accessToken}` },
    body,
    timeoutMs: account.timeoutMs,
    idempotent,
    fetch: account.fetch,
    // Calendly says when a throttled client may retry in X-RateLimit-Reset (seconds), not Retry-After.
    describeError: (status, _body, headers) =>
      status === 429 ? { retryAfterS: retryAfterSeconds(headers.get("x-ratelimit-reset")) ?? 60 } : {},
  });
}

/** The resource of a Calendly answer (`{"resource": {...}}`). */
export function resourceOf(body: unknown): Record<string, unknown> {
  const r = (body as { resource?: unknown } | null)?.resource;
  return typeof r === "object" && r !== null ? r as Record<string, unknown> : {};
}

/**
 * Creates a single-use scheduling link for an event type (`max_event_count` accepts only 1). A lost
 * answer is retried like a transient failure: an unused link that nobody received does no harm.
 */
export async function createSchedulingLink(
  account: CalendlyAccount,
  eventTypeUri: string,
): Promise<ProviderAnswer & { booking_url?: string }> {
  const answer = await call(account, "scheduling_links.create", "POST", "/scheduling_links", {
    max_event_count: 1,
    owner: eventTypeUri,
    owner_type: "EventType",
  }, true);
  if (!answer.ok) return answer;
  const url = resourceOf(answer.body).booking_url;
  if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
    return answerFailure(answer, "transient", "malformed_answer", "Calendly returned no booking_url");
  }
  return { ...answer, booking_url: url };
}

/** Reads one event type by its URI (`https://api.calendly.com/event_types/<uuid>`). */
export async function getEventType(
  account: CalendlyAccount,
  uri: string,
): Promise<ProviderAnswer & { event_type?: CalendlyEventType }> {
  const uuid = /\/event_types\/([^/?#]+)$/.exec(uri)?.[1];
  if (!uuid) throw new RangeError(`Cannot read Calendly event type: "${uri}" is not an event type URI`);
  const answer = await call(account, "event_types.get", "GET", `/event_types/${encodeURIComponent(uuid)}`);
  if (!answer.ok) return answer;
  const r = resourceOf(answer.body);
  return {
    ...answer,
    event_type: {
      uri: String(r.uri ?? uri),
      name: String(r.name ?? ""),
      active: r.active === true,
      duration: Number(r.duration ?? 0),
    },
  };
}

/** The token's user and organization URIs (`GET /users/me`). */
export async function currentUser(
  account: CalendlyAccount,
): Promise<ProviderAnswer & { user?: string; organization?: string }> {
  const answer = await call(account, "users.me", "GET", "/users/me");
  if (!answer.ok) return answer;
  const r = resourceOf(answer.body);
  return { ...answer, user: String(r.uri ?? ""), organization: String(r.current_organization ?? "") };
}

/**
 * Subscribes `url` to invitee.created and invitee.canceled for one user, with our own signing key
 * (a personal access token gets no key otherwise). Returns the subscription's URI.
 */
export async function createWebhookSubscription(
  account: CalendlyAccount,
  input: { url: string; user: string; organization: string; signingKey: string },
): Promise<ProviderAnswer & { subscription?: string }> {
  const answer = await call(account, "webhook_subscriptions.create", "POST", "/webhook_subscriptions", {
    url: input.url,
    events: ["invitee.created", "invitee.canceled"],
    organization: input.organization,
    user: input.user,
    scope: "user",
    signing_key: input.signingKey,
  });
  if (!answer.ok) return answer;
  return { ...answer, subscription: String(resourceOf(answer.body).uri ?? "") };
}

/**
 * The booking URL pre-filled with the couple's name and email, and tagged with our meeting id in
 * `utm_content`, which Calendly hands back in the invitee's `tracking` so the booking finds its meeting.
 */
export function prefilledBookingUrl(
  bookingUrl: string,
  invitee: { name: string; email: string | null },
  meetingId: string,
): string {
  const url = new URL(bookingUrl);
  url.searchParams.set("name", invitee.name);
  if (invitee.email) url.searchParams.set("email", invitee.email);
  url.searchParams.set("utm_source", "journeys");
  url.searchParams.set("utm_content", meetingId);
  return url.toString();
}

// The one rate limiter of every provider account and sender: token buckets in Postgres
// (public.take_rate_limits), shared by every function instance; a provider's 429 puts its bucket in debt
// (public.report_rate_limited), so every instance waits out the Retry-After.
import type { Sql } from "../db/client.ts";
import { done } from "../runs/types.ts";
import type { Attempt, IntegrationCall, Outcome, RunError } from "../runs/types.ts";

/** A rate-limit wait up to this long is slept through; a longer one defers the run. */
export const MAX_RATE_SLEEP_S = 3;

/** A bucket's refill rate and size. */
export type Rate = { per_second: number; burst: number };

/**
 * Per-account rates of the calendar and CRM providers, in API requests (docs/rate-limits.md gives the
 * sources). Where the provider publishes no figure the rate is ours and its 429s correct it.
 */
export const ACCOUNT_RATES = {
  /** Calendly: 500 requests per user per minute on paid plans (50 on free ones, whose 429s add debt). */
  calendly: { per_second: 500 / 60, burst: 50 },
  /** Google Calendar: per-user quotas without a published figure; 429 and 403 usage limits add debt. */
  google_calendar: { per_second: 5, burst: 10 },
  /** Tave / VSCO Workspace API v2: a quota without a published figure; its 429 carries Retry-After. */
  tave: { per_second: 2, burst: 20 },
  /** An automation's webhook endpoint (Zapier, Make): no published figure; a 429 adds debt. */
  crm_webhooks: { per_second: 5, burst: 10 },
} as const satisfies Record<string, Rate>;

/** A provider of {@link ACCOUNT_RATES}. */
export type RatedProvider = keyof typeof ACCOUNT_RATES;

/** One bucket of public.take_rate_limits: a provider account, optionally narrowed by a scope. */
export type RateBucket = Rate & {
  provider: string;
  account: string;
  scope?: string;
  cost: number;
};

/** The bucket of one account of a calendar or CRM provider, for `cost` requests. */
export function accountBucket(provider: RatedProvider, account: string, cost = 1): RateBucket {
  const rate = ACCOUNT_RATES[provider];
  // A run needing more than a full bucket is let through on a full one and leaves it in debt.
  return { provider, account, cost: Math.max(1, cost), ...rate };
}

type RateDeps = { sql: Sql; now?: () => Date; sleep?: (ms: number) => Promise<void> };

/** The deferral of a run for `wait_s` seconds because of a rate limit (code `rate_limited`). */
function rateDeferral(deps: { now?: () => Date }, waitS: number, error: Omit<RunError, "code">): Outcome {
  const now = deps.now?.() ?? new Date();
  return {
    kind: "deferred",
    defer_until: new Date(now.getTime() + Math.ceil(Math.max(waitS, 1) * 1000)),
    error: { ...error, code: "rate_limited" },
  };
}

/**
 * Takes tokens from every bucket at once (all or none). A wait up to {@link MAX_RATE_SLEEP_S} reserves the
 * tokens and is slept through (concurrent callers queue behind it); a longer one takes nothing and returns
 * the deferral of the run (code `rate_limited`). Null when the caller may go.
 */
export async function takeRateLimits(
  deps: RateDeps,
  buckets: RateBucket[],
  reason: string,
): Promise<Outcome | null> {
  const [row] = await deps.sql<{ wait: number }[]>`
    select public.take_rate_limits(${
    JSON.stringify(buckets)
  }::text::jsonb, ${MAX_RATE_SLEEP_S}::float8) as wait`;
  if (row.wait > MAX_RATE_SLEEP_S) return rateDeferral(deps, row.wait, { message: reason });
  if (row.wait > 0) {
    const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    await sleep(Math.ceil(row.wait * 1000));
  }
  return null;
}

/** A failed provider call, as adapters classify it. */
type Failure = { failure: string; error: RunError; retry_after_s?: number };

/** Whether the provider said the account is over its rate: a 429, or Google's 403 usage limits (transient). */
function overRate(f: Failure): boolean {
  return f.failure === "transient" && (f.error.http_status === 429 || f.error.http_status === 403);
}

/**
 * The deferral of a run whose provider answered that the account is over its rate (code `rate_limited`,
 * due after the provider's Retry-After, no attempt used), keeping the provider's status and reason.
 */
export function rateLimitedOutcome(deps: { now?: () => Date }, failure: Failure): Outcome {
  const waitS = failure.retry_after_s ?? 1;
  return rateDeferral(deps, waitS, {
    provider: failure.error.provider,
    http_status: failure.error.http_status,
    message: `${failure.error.message} (the account's rate limit; retried after ${Math.ceil(waitS)} s)`,
  });
}

/**
 * When a provider answered that the account is over its rate: puts the buckets in debt for its
 * Retry-After (every instance then waits) and returns the attempt deferring the run
 * ({@link rateLimitedOutcome}) rather than failing it; null for any other failure.
 */
export async function rateLimitedAttempt(
  deps: RateDeps,
  buckets: RateBucket[],
  failure: Failure,
  calls: IntegrationCall[],
): Promise<Attempt | null> {
  if (!overRate(failure)) return null;
  await deps.sql`
    select public.report_rate_limited(${JSON.stringify(buckets)}::text::jsonb, ${
    failure.retry_after_s ?? 1
  })`;
  return done(rateLimitedOutcome(deps, failure), calls);
}

// The one rate limiter of every provider account and sender: token buckets in Postgres
// (public.take_rate_limits), shared by every function instance.
import type { Sql } from "../db/client.ts";
import type { Attempt } from "../runs/types.ts";

/** A rate-limit wait up to this long is slept through; a longer one defers the run. */
export const MAX_RATE_SLEEP_S = 3;

/** One bucket of public.take_rate_limits: a provider account, optionally narrowed by a scope. */
export type RateBucket = {
  provider: string;
  account: string;
  scope?: string;
  cost: number;
  per_second: number;
  burst: number;
};

/**
 * Takes tokens from every bucket at once (all or none); sleeps through a short wait. Returns the
 * deferral of the run (code `rate_limited`) when the wait is longer, else null.
 */
export async function takeRateLimits(
  deps: { sql: Sql; now?: () => Date; sleep?: (ms: number) => Promise<void> },
  buckets: RateBucket[],
  reason: string,
): Promise<Attempt | null> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (;;) {
    const [row] = await deps.sql<{ wait: number }[]>`
      select public.take_rate_limits(${JSON.stringify(buckets)}::text::jsonb) as wait`;
    if (row.wait <= 0) return null;
    if (row.wait <= MAX_RATE_SLEEP_S) {
      await sleep(Math.ceil(row.wait * 1000));
      continue;
    }
    const now = deps.now?.() ?? new Date();
    return {
      outcome: {
        kind: "deferred",
        defer_until: new Date(now.getTime() + Math.ceil(row.wait * 1000)),
        error: { code: "rate_limited", message: reason },
      },
      calls: [],
    };
  }
}

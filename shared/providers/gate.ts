// Admission of provider requests per provider account, in Postgres so every function instance shares it:
// the circuit breaker (public.provider_gate / provider_report) and the send-rate slots.
import type { Sql } from "../db/client.ts";
import type { RunError } from "../runs/types.ts";

/**
 * Spacing kept between requests beyond the provider's limit, as a fraction of the interval: requests
 * leave when their slot comes but reach the provider with some jitter, and the provider counts arrivals.
 */
export const RATE_HEADROOM = 0.1;

/** Seconds between two requests through an account limited to `perSecond` (0 when unlimited). */
export function slotInterval(perSecond: number | null): number {
  return perSecond && perSecond > 0 ? (1 + RATE_HEADROOM) / perSecond : 0;
}

/** What the gate answered: send (after `wait_s`), wait (the next slot is too far), or open (circuit). */
export type GateDecision = {
  decision: "send" | "wait" | "open";
  wait_s: number;
  circuit: "closed" | "open" | "half_open";
  consecutive_failures: number;
};

/** One provider account: who it is and how fast it may be called. */
export type AccountRef = { provider: string; account: string; supplierId: string | null };

/**
 * How long a function instance trusts a clean answer (closed circuit, no failure, nothing to wait for) for
 * an account without a rate limit before asking the database again. Any report from this instance drops
 * it at once; a circuit another instance opens is seen within this time (its calls in flight when it
 * opened would have gone out anyway).
 */
export const CLEAN_GATE_TTL_MS = 250;

const CLEAN: GateDecision = { decision: "send", wait_s: 0, circuit: "closed", consecutive_failures: 0 };
const cleanUntil = new Map<string, number>();
const accountKey = (ref: AccountRef) => `${ref.provider}\u0000${ref.account}`;

/**
 * Asks to send one request through `ref` (reserving a rate slot when the answer is `send`). An account
 * without a rate limit whose last answer was clean is not asked again for `CLEAN_GATE_TTL_MS`: the send
 * rate of one account would otherwise cost a database round trip per message.
 */
export async function providerGate(
  sql: Sql,
  ref: AccountRef,
  intervalS: number,
  maxWaitS: number,
  now: () => number = Date.now,
): Promise<GateDecision> {
  const unlimited = !(intervalS > 0);
  const key = accountKey(ref);
  if (unlimited && (cleanUntil.get(key) ?? 0) > now()) return CLEAN;
  const [row] = await sql<GateDecision[]>`
    select decision, wait_s, circuit, consecutive_failures
    from public.provider_gate(${ref.provider}, ${ref.account}, ${ref.supplierId}::uuid, ${intervalS}::float8,
      ${maxWaitS}::float8)`;
  const clean = row.decision === "send" && row.circuit === "closed" && row.consecutive_failures === 0 &&
    row.wait_s === 0;
  if (unlimited && clean) cleanUntil.set(key, now() + CLEAN_GATE_TTL_MS);
  else cleanUntil.delete(key);
  return row;
}

/** How a request through an account ended, for its circuit and rate state. */
export type ReportResult = "success" | "failure" | "rate_limited";

/** Circuit breaker tuning. */
export type CircuitOptions = { failureThreshold: number; cooldownS: number };

/** Reports the end of a request through `ref` (public.provider_report). */
export async function providerReport(
  sql: Sql,
  ref: AccountRef,
  result: ReportResult,
  circuit: CircuitOptions,
  error?: RunError,
  retryAfterS?: number,
): Promise<void> {
  cleanUntil.delete(accountKey(ref));
  await sql`
    select public.provider_report(${ref.provider}, ${ref.account}, ${result},
      ${error ? JSON.stringify(error) : null}::text::jsonb, ${retryAfterS ?? null}::float8,
      ${circuit.failureThreshold}::int, ${circuit.cooldownS}::float8)`;
}

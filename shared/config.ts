// Function configuration: read from the environment once at start-up into one typed object.
import { z } from "zod";

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const schema = z.object({
  SUPABASE_DB_URL: z.string().url(),
  /** Base URL of the Resend API (regions, sandboxes and the local simulator differ). */
  RESEND_BASE_URL: z.string().url().default("https://api.resend.com"),
  /** Provider request timeout; a call that times out has an unknown outcome. */
  PROVIDER_TIMEOUT_MS: positiveInt(10_000),
  /** Provider calls one function instance keeps in flight. */
  WORKER_CONCURRENCY: positiveInt(64),
  /** Runs claimed per claim query. */
  CLAIM_BATCH: positiveInt(100),
  /** Lease on a claimed run; an unfinished run is handed out again after it. */
  LEASE_SECONDS: positiveInt(60),
  /** How long a drain keeps polling for new due runs once the queue is empty. */
  LINGER_MS: z.coerce.number().int().nonnegative().default(1_000),
  /** How often a drain looks for newly due runs once the queue is drained (latency of a new run ≈ half). */
  POLL_MS: positiveInt(20),
  /** How long finished attempts wait for others so that their outcomes are recorded in one call. */
  RECORD_DELAY_MS: z.coerce.number().int().nonnegative().default(25),
  /** Upper bound of one drain (the platform's wall-clock limit is 150 s). */
  MAX_DRAIN_MS: positiveInt(60_000),
  /** Connections one function instance opens to Postgres. */
  DB_POOL_SIZE: positiveInt(4),
});

/** The typed configuration of a function. */
export type Config = z.output<typeof schema>;

/**
 * Reads the configuration from `env`, failing with every missing or invalid key named.
 * @param env the environment, e.g. `Deno.env.toObject()`.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  throw new TypeError(`Cannot start: invalid configuration: ${problems}`);
}

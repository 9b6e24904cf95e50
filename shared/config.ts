// Function configuration: read from the environment once at start-up into one typed object.
import { z } from "zod";

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const schema = z.object({
  SUPABASE_DB_URL: z.string().url(),
  /** Base URL of the Resend API (regions, sandboxes and the local simulator differ). */
  RESEND_BASE_URL: z.string().url().default("https://api.resend.com"),
  /** The project's public URL (Supabase sets it): functions build their own callback and webhook URLs. */
  SUPABASE_URL: z.string().url().optional(),
  /** Scheduling providers' API bases (the simulator locally). */
  CALENDLY_BASE_URL: z.string().url().default("https://api.calendly.com"),
  GOOGLE_AUTH_URL: z.string().url().default("https://accounts.google.com/o/oauth2/v2/auth"),
  GOOGLE_TOKEN_URL: z.string().url().default("https://oauth2.googleapis.com/token"),
  GOOGLE_CALENDAR_URL: z.string().url().default("https://www.googleapis.com/calendar/v3"),
  ACUITY_BASE_URL: z.string().url().default("https://acuityscheduling.com/api/v1"),
  /** Base URL of the Twilio REST API. */
  TWILIO_BASE_URL: z.string().url().default("https://api.twilio.com"),
  /** Base URL of the Meta Graph API (the version comes from the supplier's WhatsApp settings). */
  WHATSAPP_BASE_URL: z.string().url().default("https://graph.facebook.com"),
  /**
   * The public base of the functions as providers call them (default `<SUPABASE_URL>/functions/v1`).
   * Twilio signs the URL it called, which a function cannot see behind the gateway.
   */
  PUBLIC_FUNCTIONS_URL: z.string().url().optional(),
  /** Tave / VSCO Workspace New Lead API host (`/webservice/create-lead/{studio}`). */
  TAVE_LEAD_BASE_URL: z.string().url().default("https://tave.app"),
  /** VSCO Workspace public API v2. */
  TAVE_API_BASE_URL: z.string().url().default("https://workspace.vsco.co/api/v2"),
  /** Accept plain-http CRM webhook endpoints (local development only; production requires https). */
  CRM_ALLOW_HTTP_ENDPOINTS: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  /** Base URL of the Jotform API (EU and HIPAA accounts have their own hosts). */
  JOTFORM_BASE_URL: z.string().url().default("https://api.jotform.com"),
  /** Base URL of the Typeform API (EU data-center accounts use https://api.eu.typeform.com). */
  TYPEFORM_BASE_URL: z.string().url().default("https://api.typeform.com"),
  /** Provider request timeout; a call that times out has an unknown outcome. */
  PROVIDER_TIMEOUT_MS: positiveInt(10_000),
  /**
   * Provider calls one function instance keeps in flight. They are mostly waiting on the provider: at
   * 50 ms a call, 128 allow about 2,500 sends/s before the instance's own CPU is the limit (64 capped the
   * benchmark's drain at 64 slots / 82 ms per slot). Rate-limited accounts are paced by the gate whatever this is.
   */
  WORKER_CONCURRENCY: positiveInt(128),
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
  /** SendGrid's API host, and the one of EU-pinned subusers. */
  SENDGRID_BASE_URL: z.string().url().default("https://api.sendgrid.com"),
  SENDGRID_EU_BASE_URL: z.string().url().default("https://api.eu.sendgrid.com"),
  /** Mailgun's API hosts in its US and EU regions. */
  MAILGUN_BASE_URL: z.string().url().default("https://api.mailgun.net"),
  MAILGUN_EU_BASE_URL: z.string().url().default("https://api.eu.mailgun.net"),
  /** Failures in a row that open an email provider account's circuit. */
  CIRCUIT_FAILURE_THRESHOLD: positiveInt(3),
  /** How long an opened circuit stays open before one probe (doubles per opening in a row, up to 10 min). */
  CIRCUIT_COOLDOWN_S: positiveInt(30),
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

/** The public base URL of the functions (providers' callbacks, Twilio signatures, links in messages), without a trailing slash. */
export function publicFunctionsUrl(config: Config): string {
  const url = config.PUBLIC_FUNCTIONS_URL ??
    (config.SUPABASE_URL ? `${config.SUPABASE_URL.replace(/\/$/, "")}/functions/v1` : undefined);
  if (!url) throw new TypeError("Cannot start: set PUBLIC_FUNCTIONS_URL or SUPABASE_URL");
  return url.replace(/\/$/, "");
}

// What every module function's entry point builds from the environment: config, database, Vault, the
// links secret and public functions URL, the email channel, and the drain handler.
import { type EmailChannel, emailChannel } from "../channels/email.ts";
import { type Config, loadConfig, publicFunctionsUrl } from "../config.ts";
import { connect, type Sql } from "../db/client.ts";
import { moduleHandler } from "../runs/handler.ts";
import type { ModuleExecutor, RunType } from "../runs/types.ts";
import { type SecretStore, vaultSecrets } from "../secrets.ts";

/** The Vault secret that signs the links in couples' messages. */
export const LINKS_SECRET_NAME = "links_signing_secret";

/** A function instance's shared pieces. */
export type ModuleRuntime = {
  config: Config;
  sql: Sql;
  secrets: SecretStore;
  linksSecret: () => Promise<string>;
  /** Public base of the functions, e.g. `https://<ref>.supabase.co/functions/v1`. */
  linksBaseUrl: string;
  /** The one email channel every module sends through. */
  email: EmailChannel;
  twilio: { baseUrl: string; timeoutMs: number };
  /** The same public base, for Twilio's status callbacks. */
  publicFunctionsUrl: string;
};

/** Builds the runtime from `env` (read once at start-up). */
export function moduleRuntime(env: Record<string, string | undefined> = Deno.env.toObject()): ModuleRuntime {
  const config = loadConfig(env);
  const linksBaseUrl = publicFunctionsUrl(config);
  const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);
  const secrets = vaultSecrets(sql);
  return {
    config,
    sql,
    secrets,
    linksSecret: () => secrets.byName(LINKS_SECRET_NAME),
    linksBaseUrl,
    email: emailChannel({
      sql,
      secrets,
      providers: {
        resend: config.RESEND_BASE_URL,
        sendgrid: config.SENDGRID_BASE_URL,
        sendgridEu: config.SENDGRID_EU_BASE_URL,
        mailgun: config.MAILGUN_BASE_URL,
        mailgunEu: config.MAILGUN_EU_BASE_URL,
        timeoutMs: config.PROVIDER_TIMEOUT_MS,
      },
      functionsUrl: linksBaseUrl,
      circuit: { failureThreshold: config.CIRCUIT_FAILURE_THRESHOLD, cooldownS: config.CIRCUIT_COOLDOWN_S },
    }),
    twilio: { baseUrl: config.TWILIO_BASE_URL, timeoutMs: config.PROVIDER_TIMEOUT_MS },
    publicFunctionsUrl: linksBaseUrl,
  };
}

declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

/** The drain handler of the function that executes `module` runs, with the runtime's tuning. */
export function serveModule(
  module: RunType,
  runtime: ModuleRuntime,
  executor: ModuleExecutor,
): (req: Request) => Promise<Response> {
  const { config } = runtime;
  return moduleHandler({
    sql: runtime.sql,
    secrets: runtime.secrets,
    executor,
    options: {
      module,
      concurrency: config.WORKER_CONCURRENCY,
      batch: config.CLAIM_BATCH,
      leaseSeconds: config.LEASE_SECONDS,
      lingerMs: config.LINGER_MS,
      pollMs: config.POLL_MS,
      recordDelayMs: config.RECORD_DELAY_MS,
      maxMs: config.MAX_DRAIN_MS,
    },
    waitUntil: typeof EdgeRuntime === "undefined" ? undefined : (p) => EdgeRuntime.waitUntil(p),
  });
}

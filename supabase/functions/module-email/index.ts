// module-email: drains due email runs when the database kicks it (pg_net) or pg_cron sweeps.
import { loadConfig, publicFunctionsUrl } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { emailExecutor } from "../../../shared/modules/email/executor.ts";
import { moduleHandler } from "../../../shared/runs/handler.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);
const secrets = vaultSecrets(sql);
declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

Deno.serve(moduleHandler({
  sql,
  secrets,
  executor: emailExecutor({
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
    functionsUrl: publicFunctionsUrl(config),
    circuit: { failureThreshold: config.CIRCUIT_FAILURE_THRESHOLD, cooldownS: config.CIRCUIT_COOLDOWN_S },
  }),
  options: {
    module: "email",
    concurrency: config.WORKER_CONCURRENCY,
    batch: config.CLAIM_BATCH,
    leaseSeconds: config.LEASE_SECONDS,
    lingerMs: config.LINGER_MS,
    maxMs: config.MAX_DRAIN_MS,
  },
  waitUntil: typeof EdgeRuntime === "undefined" ? undefined : (p) => EdgeRuntime.waitUntil(p),
}));

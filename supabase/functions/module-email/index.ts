// module-email: drains due email runs when the database kicks it (pg_net) or pg_cron sweeps.
import { loadConfig } from "../../../shared/config.ts";
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
    resend: { baseUrl: config.RESEND_BASE_URL, timeoutMs: config.PROVIDER_TIMEOUT_MS },
  }),
  options: {
    module: "email",
    concurrency: config.WORKER_CONCURRENCY,
    batch: config.CLAIM_BATCH,
    leaseSeconds: config.LEASE_SECONDS,
    lingerMs: config.LINGER_MS,
    pollMs: config.POLL_MS,
    recordDelayMs: config.RECORD_DELAY_MS,
    maxMs: config.MAX_DRAIN_MS,
  },
  waitUntil: typeof EdgeRuntime === "undefined" ? undefined : (p) => EdgeRuntime.waitUntil(p),
}));

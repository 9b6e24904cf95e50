// crm-sync: drains due CRM runs (Tave / VSCO Workspace, signed webhooks) when the database kicks it.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { crmExecutor } from "../../../shared/modules/crm/executor.ts";
import { moduleHandler } from "../../../shared/runs/handler.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);
const secrets = vaultSecrets(sql);
declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

Deno.serve(moduleHandler({
  sql,
  secrets,
  executor: crmExecutor({
    sql,
    secrets,
    tave: { leadBaseUrl: config.TAVE_LEAD_BASE_URL, apiBaseUrl: config.TAVE_API_BASE_URL },
    timeoutMs: config.PROVIDER_TIMEOUT_MS,
    allowHttp: config.CRM_ALLOW_HTTP_ENDPOINTS,
  }),
  options: {
    module: "crm",
    concurrency: config.WORKER_CONCURRENCY,
    batch: config.CLAIM_BATCH,
    leaseSeconds: config.LEASE_SECONDS,
    lingerMs: config.LINGER_MS,
    maxMs: config.MAX_DRAIN_MS,
  },
  waitUntil: typeof EdgeRuntime === "undefined" ? undefined : (p) => EdgeRuntime.waitUntil(p),
}));

// crm-sync: drains due CRM runs (Tave / VSCO Workspace, signed webhooks) when the database kicks it.
import { crmExecutor } from "../../../shared/modules/crm/executor.ts";
import { moduleRuntime, serveModule } from "../../../shared/modules/runtime.ts";

const rt = moduleRuntime();
const { config } = rt;
Deno.serve(serveModule(
  "crm",
  rt,
  crmExecutor({
    sql: rt.sql,
    secrets: rt.secrets,
    tave: { leadBaseUrl: config.TAVE_LEAD_BASE_URL, apiBaseUrl: config.TAVE_API_BASE_URL },
    timeoutMs: config.PROVIDER_TIMEOUT_MS,
    allowHttp: config.CRM_ALLOW_HTTP_ENDPOINTS,
  }),
));

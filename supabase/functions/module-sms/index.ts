// module-sms: drains due SMS/WhatsApp runs when the database kicks it (pg_net) or pg_cron sweeps.
import { smsExecutor } from "../../../shared/modules/sms/executor.ts";
import { moduleRuntime, serveModule } from "../../../shared/modules/runtime.ts";

const rt = moduleRuntime();
const { config } = rt;
Deno.serve(serveModule(
  "sms",
  rt,
  smsExecutor({
    sql: rt.sql,
    secrets: rt.secrets,
    twilio: { baseUrl: config.TWILIO_BASE_URL, timeoutMs: config.PROVIDER_TIMEOUT_MS },
    whatsapp: { baseUrl: config.WHATSAPP_BASE_URL, timeoutMs: config.PROVIDER_TIMEOUT_MS },
    publicFunctionsUrl: rt.linksBaseUrl,
  }),
));

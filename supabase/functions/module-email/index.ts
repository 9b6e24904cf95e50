// module-email: drains due email runs when the database kicks it (pg_net) or pg_cron sweeps.
import { emailExecutor } from "../../../shared/modules/email/executor.ts";
import { moduleRuntime, serveModule } from "../../../shared/modules/runtime.ts";

const rt = moduleRuntime();
const { config } = rt;
Deno.serve(serveModule(
  "email",
  rt,
  emailExecutor({
    sql: rt.sql,
    secrets: rt.secrets,
    providers: {
      resend: config.RESEND_BASE_URL,
      sendgrid: config.SENDGRID_BASE_URL,
      sendgridEu: config.SENDGRID_EU_BASE_URL,
      mailgun: config.MAILGUN_BASE_URL,
      mailgunEu: config.MAILGUN_EU_BASE_URL,
      timeoutMs: config.PROVIDER_TIMEOUT_MS,
    },
    functionsUrl: rt.linksBaseUrl,
    circuit: { failureThreshold: config.CIRCUIT_FAILURE_THRESHOLD, cooldownS: config.CIRCUIT_COOLDOWN_S },
  }),
));

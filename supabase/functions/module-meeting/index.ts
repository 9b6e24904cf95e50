// module-meeting: drains due meeting runs (booking links, Google Calendar bookings, email/SMS reminders) when kicked.
import { loadConfig, publicFunctionsUrl } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { meetingExecutor } from "../../../shared/modules/meeting/executor.ts";
import { moduleHandler } from "../../../shared/runs/handler.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);
const secrets = vaultSecrets(sql);
const timeoutMs = config.PROVIDER_TIMEOUT_MS;
declare const EdgeRuntime: { waitUntil(p: Promise<unknown>): void } | undefined;

Deno.serve(moduleHandler({
  sql,
  secrets,
  executor: meetingExecutor({
    sql,
    secrets,
    resend: { baseUrl: config.RESEND_BASE_URL, timeoutMs },
    twilio: { baseUrl: config.TWILIO_BASE_URL, timeoutMs },
    publicFunctionsUrl: publicFunctionsUrl(config),
    calendly: { baseUrl: config.CALENDLY_BASE_URL, timeoutMs },
    google: {
      authUrl: config.GOOGLE_AUTH_URL,
      tokenUrl: config.GOOGLE_TOKEN_URL,
      calendarUrl: config.GOOGLE_CALENDAR_URL,
      timeoutMs,
    },
  }),
  options: {
    module: "meeting",
    concurrency: config.WORKER_CONCURRENCY,
    batch: config.CLAIM_BATCH,
    leaseSeconds: config.LEASE_SECONDS,
    lingerMs: config.LINGER_MS,
    maxMs: config.MAX_DRAIN_MS,
  },
  waitUntil: typeof EdgeRuntime === "undefined" ? undefined : (p) => EdgeRuntime.waitUntil(p),
}));

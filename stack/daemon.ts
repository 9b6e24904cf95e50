/** The local stack's background process: the functions gateway, the pg_net worker and the provider simulator. */
import { databaseTag, dbUrl, ports, simulatorUrl, stackPaths } from "./config.ts";
import { type Gateway, startGateway } from "./gateway.ts";
import { type NetWorker, startNetWorker } from "./net_worker.ts";
import { startSimulator } from "./simulator/server.ts";

function logger(component: string): (line: string) => void {
  return (line) => console.log(`${new Date().toISOString()} [${component}] ${line}`);
}

/** Runs until SIGTERM/SIGINT; then stops the gateway (and its function processes), the worker and the simulator. */
export async function runDaemon(): Promise<void> {
  const log = logger("daemon");
  await Deno.mkdir(stackPaths.logs, { recursive: true });
  await Deno.writeTextFile(stackPaths.daemonPid, `${Deno.pid}\n`);
  await Deno.writeTextFile(stackPaths.daemonDb, `${await databaseTag(dbUrl())}\n`);
  let simulator: { shutdown(): Promise<void> | void } | undefined;
  let worker: NetWorker | undefined;
  let gateway: Gateway | undefined;
  let stopping = false;

  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log("Shutting down");
    await Promise.allSettled([gateway?.shutdown(), worker?.stop(), simulator?.shutdown()]);
    const pidText = await Deno.readTextFile(stackPaths.daemonPid).catch(() => "");
    if (pidText.trim() === String(Deno.pid)) await Deno.remove(stackPaths.daemonPid).catch(() => {});
    log("Stopped");
    Deno.exit(code);
  };
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    Deno.addSignalListener(signal, () => void stop(0));
  }

  try {
    log(`Starting (pid ${Deno.pid})`);
    const started = await startSimulator({ port: ports.simulator });
    simulator = started;
    log(`Simulator at ${started.url}`);
    worker = startNetWorker({ url: dbUrl(), log: logger("net-worker") });
    log("pg_net worker serving net.http_request_queue");
    gateway = await startGateway({
      port: ports.gateway,
      log: logger("gateway"),
      env: functionsEnv(),
      captureFile: Deno.env.get("STACK_CAPTURE_RESPONSES") === "1" ? stackPaths.responses : undefined,
    });
    log(`Gateway at ${gateway.url}/functions/v1/ (${gateway.pool.names().join(", ") || "no functions"})`);
  } catch (error) {
    log(`Start-up failed: ${error instanceof Error ? error.stack ?? error.message : error}`);
    await stop(1);
  }
}

/**
 * Settings the local functions get: provider base URLs pointing at the simulator, plus the tuning
 * knobs of shared/config.ts when the daemon's own environment sets them (the benchmark does).
 */
export function functionsEnv(): Record<string, string> {
  const env: Record<string, string> = {
    RESEND_BASE_URL: `${simulatorUrl}/resend`,
    CALENDLY_BASE_URL: `${simulatorUrl}/calendly`,
    GOOGLE_AUTH_URL: `${simulatorUrl}/google/o/oauth2/v2/auth`,
    GOOGLE_TOKEN_URL: `${simulatorUrl}/google/token`,
    GOOGLE_CALENDAR_URL: `${simulatorUrl}/google/calendar/v3`,
    ACUITY_BASE_URL: `${simulatorUrl}/acuity/api/v1`,
    TWILIO_BASE_URL: `${simulatorUrl}/twilio`,
    WHATSAPP_BASE_URL: `${simulatorUrl}/whatsapp`,
    TAVE_LEAD_BASE_URL: `${simulatorUrl}/tave`,
    TAVE_API_BASE_URL: `${simulatorUrl}/tave/api/v2`,
    // Automations in the local stack are the simulator's plain-http catch hooks.
    CRM_ALLOW_HTTP_ENDPOINTS: "true",
    JOTFORM_BASE_URL: `${simulatorUrl}/jotform`,
    TYPEFORM_BASE_URL: `${simulatorUrl}/typeform`,
    SENDGRID_BASE_URL: `${simulatorUrl}/sendgrid`,
    SENDGRID_EU_BASE_URL: `${simulatorUrl}/sendgrid`,
    MAILGUN_BASE_URL: `${simulatorUrl}/mailgun`,
    MAILGUN_EU_BASE_URL: `${simulatorUrl}/mailgun`,
  };
  for (const key of tuningKeys) {
    const value = Deno.env.get(key);
    if (value !== undefined) env[key] = value;
  }
  return env;
}

const tuningKeys = [
  "PROVIDER_TIMEOUT_MS",
  "WORKER_CONCURRENCY",
  "CLAIM_BATCH",
  "LEASE_SECONDS",
  "LINGER_MS",
  "POLL_MS",
  "RECORD_DELAY_MS",
  "MAX_DRAIN_MS",
  "DB_POOL_SIZE",
];

if (import.meta.main) await runDaemon();

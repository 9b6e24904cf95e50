/** The local stack's background process: the functions gateway, the pg_net worker and the provider simulator. */
import { dbUrl, ports, stackPaths } from "./config.ts";
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
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) Deno.addSignalListener(signal, () => void stop(0));

  try {
    log(`Starting (pid ${Deno.pid})`);
    const started = await startSimulator({ port: ports.simulator });
    simulator = started;
    log(`Simulator at ${started.url}`);
    worker = startNetWorker({ url: dbUrl(), log: logger("net-worker") });
    log("pg_net worker serving net.http_request_queue");
    gateway = await startGateway({ port: ports.gateway, log: logger("gateway") });
    log(`Gateway at ${gateway.url}/functions/v1/ (${gateway.pool.names().join(", ") || "no functions"})`);
  } catch (error) {
    log(`Start-up failed: ${error instanceof Error ? error.stack ?? error.message : error}`);
    await stop(1);
  }
}

if (import.meta.main) await runDaemon();

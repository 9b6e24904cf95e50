/** `npm run stack -- up|down|reset|restart|status|template`: the local stack's commands, also exported for scripts and tests. */
import { databaseTag, dbUrl, gatewayUrl, ports, root, simulatorUrl, stackDir, stackPaths } from "./config.ts";
import {
  clusterPaths,
  connect,
  createDatabase,
  databaseExists,
  databaseUrl,
  destroyCluster,
  dropDatabase,
  ensurePackages,
  ensureVaultKeyFile,
  initCluster,
  managesCluster,
  portIsFree,
  type PostgresStatus,
  postgresStatus,
  redact,
  StackError,
  startPostgres,
  stopPostgres,
  withSql,
} from "./postgres.ts";
import { installStandins, standinsHash } from "./standins.ts";
import { appliedMigrations, applyMigrations, hasPendingWork, localMigrations } from "./migrations.ts";

/** Options shared by the commands. */
export interface CommandOptions {
  /** Progress lines (default: console.log). */
  log?: (line: string) => void;
}

/** Where the running stack answers. */
export interface StackInfo {
  dbUrl: string;
  gatewayUrl: string;
  simulatorUrl: string;
  daemonPid: number;
}

const localSetupFile = `${root}/stack/local_setup.sql`;
const daemonLog = `${stackPaths.logs}/daemon.log`;
// Sources whose change makes a running daemon stale (it would serve old code).
const daemonSources = ["supabase/functions", "supabase/config.toml", "shared", "stack", "deno.json"];

/**
 * Brings the whole stack up: packages, cluster, stand-ins, pending migrations and the seed (Supabase
 * CLI), stack/local_setup.sql, then the daemon (gateway, net worker, simulator); waits until all answer.
 * A second call is a quick check. A daemon older than the code it runs is restarted.
 */
export async function up(options: CommandOptions = {}): Promise<StackInfo> {
  return await withStackLock(() => upLocked(options));
}

async function upLocked(options: CommandOptions): Promise<StackInfo> {
  const log = options.log ?? console.log;
  await ensurePostgres(log);
  const url = dbUrl();
  await installStandins(url, { vaultKeyPath: await vaultKeyPath(), log });
  let migrated = false;
  if (await hasPendingWork(url, { seed: true })) {
    log("Applying migrations and seed with the Supabase CLI");
    await applyMigrations(url, { seed: true, log });
    migrated = true;
  }
  await runLocalSetup(url, migrated, log);
  const pid = await ensureDaemon(log);
  return { dbUrl: url, gatewayUrl, simulatorUrl, daemonPid: pid };
}

/** Stops the daemon (and with it every function process) and the managed Postgres. */
export async function down(options: CommandOptions = {}): Promise<void> {
  await withStackLock(async () => {
    const log = options.log ?? console.log;
    await stopDaemon(log);
    await stopPostgres(log);
  });
}

/**
 * Starts again from empty databases: stops everything, deletes the cluster (or, with SUPABASE_DB_URL,
 * drops and recreates database `postgres`), then runs `up`.
 */
export async function reset(options: CommandOptions = {}): Promise<StackInfo> {
  return await withStackLock(async () => {
    const log = options.log ?? console.log;
    await stopDaemon(log);
    if (managesCluster()) {
      await destroyCluster(log);
    } else {
      const name = decodeURIComponent(new URL(dbUrl()).pathname.slice(1)) || "postgres";
      log(`Dropping and recreating database ${name} at ${redact(dbUrl())}`);
      await dropDatabase(name);
      await createDatabase(name, { template: "template0" });
    }
    return await upLocked(options);
  });
}

/** Restarts only the daemon (gateway, functions, net worker, simulator), e.g. after editing a function. */
export async function restart(options: CommandOptions = {}): Promise<StackInfo> {
  return await withStackLock(async () => {
    const log = options.log ?? console.log;
    await stopDaemon(log);
    return await upLocked(options);
  });
}

/** What runs now. */
export interface StackStatus {
  postgres: PostgresStatus & { url: string; answering: boolean };
  daemon: { pid: number; startedAt: string; log: string } | null;
  gateway: { url: string; functions: Record<string, unknown> } | null;
  simulator: { url: string; answering: boolean };
  migrations: { applied: string[]; pending: string[] };
}

/** Reports the cluster, the daemon, the functions (pid, port, restarts), the simulator and the migrations. */
export async function status(): Promise<StackStatus> {
  const pg = await postgresStatus();
  const answering = await withSql(dbUrl(), (sql) => sql`select 1`).then(() => true, () => false);
  const pid = await daemonPid();
  const startedAt = pid ? (await Deno.stat(stackPaths.daemonPid)).mtime?.toISOString() ?? "" : "";
  const gateway = await fetchJson<{ functions: Record<string, unknown> }>(`${gatewayUrl}/_gateway/status`);
  let applied: string[] = [];
  if (answering) applied = (await appliedMigrations(dbUrl())).map((row) => row.version);
  const local = await localMigrations();
  return {
    postgres: { ...pg, url: redact(dbUrl()), answering },
    daemon: pid ? { pid, startedAt, log: daemonLog } : null,
    gateway: gateway ? { url: gatewayUrl, functions: gateway.functions } : null,
    simulator: { url: simulatorUrl, answering: await answers(simulatorUrl) },
    migrations: {
      applied,
      pending: answering ? local.filter((m) => !applied.includes(m.version)).map((m) => m.file) : [],
    },
  };
}

/** Options of prepareTemplate(). */
export interface TemplateOptions extends CommandOptions {
  /** Rebuild even when the template matches the current stand-ins and migrations. */
  force?: boolean;
}

/**
 * (Re)creates database `name` with the stand-ins and every migration applied by the Supabase CLI (no
 * seed), for tests to clone. Kept as is when neither the stand-ins nor the migrations changed since.
 * Only Postgres needs to run (it is started if needed). Returns the template's URL.
 */
export async function prepareTemplate(
  name = "journeys_template",
  options: TemplateOptions = {},
): Promise<string> {
  const log = options.log ?? (() => {});
  await ensurePostgres(log);
  const url = databaseUrl(name);
  const parts = [await standinsHash()];
  for (const migration of await localMigrations()) {
    parts.push(migration.file, await Deno.readTextFile(`${root}/supabase/migrations/${migration.file}`));
  }
  const stamp = `stack template sha256:${await sha256Hex(parts.join("\n"))}`;
  // Several test processes may ask at once: one builds, the others wait and then find it current.
  const lock = connect(dbUrl());
  try {
    await lock`select pg_advisory_lock(hashtext(${`stack:template:${name}`}))`;
    const [row] = await lock<{ comment: string | null }[]>`
      select shobj_description(oid, 'pg_database') as comment from pg_database where datname = ${name}`;
    if (!options.force && row?.comment === stamp) return url;
    log(`Building template database ${name}`);
    await dropDatabase(name);
    await createDatabase(name, { template: "template0" });
    await installStandins(url, { vaultKeyPath: await vaultKeyPath() });
    await applyMigrations(url, { seed: false });
    await lock.unsafe(`comment on database "${name.replaceAll('"', '""')}" is '${stamp}'`);
    return url;
  } finally {
    await lock.end({ timeout: 5 });
  }
}

/** Creates (or replaces) database `name` as a copy of `template`; returns its URL. */
export async function cloneDatabase(name: string, template: string): Promise<string> {
  if (!await databaseExists(template)) {
    throw new StackError(`Cannot clone ${name}: template database ${template} does not exist`);
  }
  await dropDatabase(name);
  await createDatabase(name, { template });
  return databaseUrl(name);
}

/** Packages, cluster and server: everything up to a Postgres that answers. */
async function ensurePostgres(log: (line: string) => void): Promise<void> {
  if (managesCluster()) {
    await ensurePackages(log);
    await initCluster(log);
    await ensureVaultKeyFile();
  }
  await startPostgres(log);
}

async function vaultKeyPath(): Promise<string | undefined> {
  return managesCluster() ? (await clusterPaths()).vaultKey : undefined;
}

/** Runs stack/local_setup.sql when it changed since it last ran on this database, or after migrations. */
async function runLocalSetup(url: string, migrated: boolean, log: (line: string) => void): Promise<void> {
  const source = await Deno.readTextFile(localSetupFile).catch(() => undefined);
  if (source === undefined) return;
  const text = source.replaceAll("__GATEWAY_URL__", gatewayUrl);
  const stamp = `stack local_setup sha256:${await sha256Hex(text)}`;
  await withSql(url, async (sql) => {
    const [row] = await sql<{ name: string; comment: string | null }[]>`
      select datname as name, shobj_description(oid, 'pg_database') as comment
      from pg_database where datname = current_database()`;
    if (!migrated && row.comment === stamp) return;
    log("Running stack/local_setup.sql");
    await sql.begin(async (tx) => {
      await tx.unsafe(text).simple();
      await tx.unsafe(`comment on database "${row.name.replaceAll('"', '""')}" is '${stamp}'`);
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// The daemon

/** Pid of the running daemon, or undefined (a stale pid file and leftover processes are cleaned up). */
export async function daemonPid(): Promise<number | undefined> {
  const text = await Deno.readTextFile(stackPaths.daemonPid).catch(() => undefined);
  if (text === undefined) return undefined;
  const pid = Number(text.trim());
  if (pid > 0 && await isDaemonProcess(pid)) return pid;
  if (pid > 0) await killGroup(pid, "SIGKILL");
  await Deno.remove(stackPaths.daemonPid).catch(() => {});
  return undefined;
}

async function isDaemonProcess(pid: number): Promise<boolean> {
  const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
  return cmdline.includes(`${root}/stack/daemon.ts`);
}

/** True while `pid` runs (a zombie, e.g. an exited child not yet reaped, counts as gone). */
async function processAlive(pid: number): Promise<boolean> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "" && state !== "Z" && state !== "X";
}

async function ensureDaemon(log: (line: string) => void): Promise<number> {
  let pid = await daemonPid();
  if (pid) {
    const started = (await Deno.stat(stackPaths.daemonPid)).mtime?.getTime() ?? 0;
    const changed = await newestChange(daemonSources.map((path) => `${root}/${path}`));
    const servedTag = (await Deno.readTextFile(stackPaths.daemonDb).catch(() => "")).trim();
    const reason = changed > started
      ? "code changed since it started"
      : servedTag !== await databaseTag(dbUrl())
      ? "it serves another database"
      : undefined;
    if (reason) {
      log(`Restarting the daemon: ${reason}`);
      await stopDaemon(log);
      pid = undefined;
    }
  }
  if (!pid) pid = await startDaemon(log);
  await waitForDaemon(pid, log);
  return pid;
}

async function startDaemon(log: (line: string) => void): Promise<number> {
  await Deno.mkdir(stackPaths.logs, { recursive: true });
  for (const [port, what] of [[ports.gateway, "gateway"], [ports.simulator, "simulator"]] as const) {
    if (!portIsFree(port)) throw new StackError(`Port ${port} (${what}) is taken by another process`);
  }
  log("Starting the daemon (gateway, net worker, simulator)");
  // Its own process group (detached) so `down` can end it with every function process it started.
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'exec "$0" run -A --no-prompt "$1" >>"$2" 2>&1 </dev/null',
      Deno.execPath(),
      `${root}/stack/daemon.ts`,
      daemonLog,
    ],
    cwd: root,
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  return child.pid;
}

async function waitForDaemon(pid: number, warn: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 120_000;
  let waiting = "the daemon";
  while (Date.now() < deadline) {
    if (!await processAlive(pid)) {
      throw new StackError(
        `The daemon exited during start-up. End of ${daemonLog}:\n${await tail(daemonLog, 25)}`,
      );
    }
    const gateway = await fetchJson<{ functions: Record<string, { ready: boolean; restarts: number }> }>(
      `${gatewayUrl}/_gateway/status`,
    );
    if (!gateway) {
      waiting = "the gateway";
    } else if (Object.values(gateway.functions).some((fn) => !fn.ready && fn.restarts < 2)) {
      waiting = `functions ${
        Object.entries(gateway.functions).filter(([, fn]) => !fn.ready).map(([n]) => n).join(", ")
      }`;
    } else if (!await answers(simulatorUrl)) {
      waiting = "the simulator";
    } else {
      for (const [name, fn] of Object.entries(gateway.functions)) {
        if (!fn.ready) warn(`Function ${name} keeps crashing (see ${stackPaths.logs}/function-${name}.log)`);
      }
      return;
    }
    await delay(100);
  }
  throw new StackError(
    `Timed out waiting for ${waiting}. End of ${daemonLog}:\n${await tail(daemonLog, 25)}`,
  );
}

async function stopDaemon(log: (line: string) => void): Promise<void> {
  const pid = await daemonPid();
  if (!pid) return;
  log(`Stopping the daemon (pid ${pid})`);
  try {
    Deno.kill(pid, "SIGTERM");
  } catch { /* already gone */ }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && await isDaemonProcess(pid)) await delay(50);
  await killGroup(pid, "SIGKILL");
  await Deno.remove(stackPaths.daemonPid).catch(() => {});
  await Deno.remove(stackPaths.daemonDb).catch(() => {});
}

/**
 * Sends `signal` to what is left of the daemon's process group (function processes). Only processes
 * running this project's code are touched, in case the pid was reused by something else.
 */
async function killGroup(pgid: number, signal: Deno.Signal): Promise<void> {
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
    // Fields after the parenthesised command: state, ppid, pgrp, ...
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) !== pgid) continue;
    const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    if (!cmdline.includes(`${root}/`)) continue;
    try {
      Deno.kill(Number(entry.name), signal);
    } catch { /* gone meanwhile */ }
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers

/** Serialises stack commands across processes (flock on .stack/stack.lock). */
async function withStackLock<T>(fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(stackDir, { recursive: true });
  const file = await Deno.open(`${stackDir}/stack.lock`, { create: true, write: true });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close();
  }
}

async function newestChange(paths: string[]): Promise<number> {
  let newest = 0;
  const visit = async (path: string): Promise<void> => {
    const info = await Deno.stat(path).catch(() => undefined);
    if (!info) return;
    newest = Math.max(newest, info.mtime?.getTime() ?? 0);
    if (!info.isDirectory) return;
    for await (const entry of Deno.readDir(path)) {
      if (!entry.name.startsWith(".") || entry.name === ".env") await visit(`${path}/${entry.name}`);
    }
  };
  for (const path of paths) await visit(path);
  return newest;
}

async function fetchJson<T>(url: string): Promise<T | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    return await response.json() as T;
  } catch {
    return undefined;
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

async function tail(path: string, lines: number): Promise<string> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function printStatus(s: StackStatus): void {
  const pg = s.postgres;
  const where = pg.external ? `external ${pg.url}` : `${pg.url} (data ${pg.dataDir})`;
  console.log(`postgres   ${pg.answering ? "up" : "down"}${pg.pid ? `, pid ${pg.pid}` : ""}, ${where}`);
  console.log(
    `daemon     ${
      s.daemon ? `up, pid ${s.daemon.pid}, since ${s.daemon.startedAt}, log ${s.daemon.log}` : "down"
    }`,
  );
  console.log(`gateway    ${s.gateway ? `up, ${s.gateway.url}/functions/v1/<name>` : "down"}`);
  for (const [name, fn] of Object.entries(s.gateway?.functions ?? {})) {
    const f = fn as {
      pid: number | null;
      port: number;
      restarts: number;
      ready: boolean;
      verifyJwt: boolean;
    };
    console.log(
      `  ${name.padEnd(24)} pid ${f.pid ?? "-"}, port ${f.port}, restarts ${f.restarts}, ${
        f.ready ? "ready" : "starting"
      }` +
        `, verify_jwt ${f.verifyJwt}`,
    );
  }
  console.log(`simulator  ${s.simulator.answering ? "up" : "down"}, ${s.simulator.url}`);
  console.log(
    `migrations ${s.migrations.applied.length} applied${
      s.migrations.applied.length ? ` (last ${s.migrations.applied.at(-1)})` : ""
    }`,
  );
  for (const file of s.migrations.pending) console.log(`  pending: ${file}`);
}

const usage = `Usage: npm run stack -- <command>
  up                 start Postgres, apply migrations + seed, start gateway / net worker / simulator
  down               stop everything
  reset              delete all data, then up
  restart            restart the gateway, functions, net worker and simulator (keeps the data)
  status             what runs (pids, ports, applied migrations)
  template [name]    (re)build the test template database (default journeys_template)`;

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const started = performance.now();
  const done = (what: string) =>
    console.log(`${what} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  switch (command) {
    case "up": {
      const info = await up();
      done(`Stack up: gateway ${info.gatewayUrl}, simulator ${info.simulatorUrl}, db ${redact(info.dbUrl)}`);
      return 0;
    }
    case "down":
      await down();
      done("Stack down");
      return 0;
    case "reset":
      await reset();
      done("Stack reset and up");
      return 0;
    case "restart":
      await restart();
      done("Daemon restarted");
      return 0;
    case "status":
      printStatus(await status());
      return 0;
    case "template": {
      const url = await prepareTemplate(rest[0], { log: console.log });
      done(`Template ready: ${redact(url)}`);
      return 0;
    }
    default:
      console.error(usage);
      return command ? 2 : 0;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    if (error instanceof StackError) {
      console.error(`stack: ${error.message}`);
      Deno.exit(1);
    }
    throw error;
  }
}

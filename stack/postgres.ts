/** Runs the local stack's PostgreSQL 15 cluster (pg_cron preloaded) and creates, clones and drops its databases. */
import postgres from "postgres";
import { dbUrl, ports, root, stackDir, stackPaths, usesExternalDatabase } from "./config.ts";

/** A postgres.js client (the `postgres` npm package). */
export type Sql = ReturnType<typeof postgres>;

/** Where Debian's PostgreSQL 15 binaries live. */
export const pgBin = "/usr/lib/postgresql/15/bin";

// runuser lives in /usr/sbin, which a root shell may not have on its PATH.
const runuser = ["/usr/sbin/runuser", "/sbin/runuser"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}) ?? "runuser";

/** The Debian packages the stack needs, and the apt-get command that installs them. */
export const requiredPackages = [
  "postgresql-15",
  "postgresql-15-cron",
  "postgresql-15-pgtap",
  "libtap-parser-sourcehandler-pgtap-perl",
] as const;
export const installCommand = `apt-get update && apt-get install -y ${requiredPackages.join(" ")}`;

/** A stack failure whose message is meant for the person running the command (no stack trace needed). */
export class StackError extends Error {
  override name = "StackError";
}

const isRoot = Deno.uid() === 0;
const serverUser = "postgres";

/** Files of the managed cluster. */
export interface ClusterPaths {
  /** Folder owned by the server's OS user holding the data directory. */
  base: string;
  /** The data directory (PGDATA). */
  data: string;
  /** The directory of the server's unix socket. */
  socketDir: string;
  /** The server's log file. */
  log: string;
  /** The Vault stand-in's key file (absolute; the server reads it with pg_read_file). */
  vaultKey: string;
}

let pathsPromise: Promise<ClusterPaths> | undefined;

/**
 * The managed cluster's paths: under `.stack/`, unless the server's OS user cannot reach `.stack`
 * (a clone under a private home directory), in which case they move to that user's home.
 */
export function clusterPaths(): Promise<ClusterPaths> {
  pathsPromise ??= resolveClusterPaths();
  return pathsPromise;
}

async function resolveClusterPaths(): Promise<ClusterPaths> {
  await Deno.mkdir(stackPaths.logs, { recursive: true });
  const tag = (await sha256Hex(root)).slice(0, 10);
  let base: string = stackPaths.pg;
  let log = `${stackPaths.logs}/postgres.log`;
  let vaultKey: string = stackPaths.vaultKey;
  if (isRoot && await serverUserExists()) {
    await Deno.chmod(stackDir, 0o755);
    await Deno.chmod(stackPaths.logs, 0o755);
    const reachable = await run(runuser, ["-u", serverUser, "--", "test", "-x", stackDir], {
      check: false,
    });
    if (!reachable.ok) {
      base = `${(await passwdEntry(serverUser))?.home ?? "/var/lib/postgresql"}/journeys-stack-${tag}`;
      log = `${base}/postgres.log`;
      vaultKey = `${base}/vault.key`;
    }
  }
  // A unix socket path is limited to 107 bytes; deep checkouts get theirs in /tmp.
  let socketDir = `${base}/run`;
  if (`${socketDir}/.s.PGSQL.${ports.postgres}.lock`.length > 100) socketDir = `/tmp/journeys-stack-${tag}`;
  return { base, data: `${base}/data`, socketDir, log, vaultKey };
}

/** The settings the stack runs Postgres with (written to `stack.conf`, included by postgresql.conf). */
export async function serverSettings(paths: ClusterPaths): Promise<Record<string, string | number>> {
  const memoryMb = await totalMemoryMb();
  const sharedBuffersMb = Math.max(128, Math.min(1024, Math.floor(memoryMb / 8)));
  return {
    listen_addresses: "'127.0.0.1'",
    port: ports.postgres,
    unix_socket_directories: `'${paths.socketDir}'`,
    max_connections: 200,
    password_encryption: "'scram-sha-256'",
    // pg_stat_statements as on hosted Supabase: the benchmark reads it to show where the database's time goes.
    shared_preload_libraries: "'pg_cron,pg_stat_statements'",
    "cron.database_name": "'postgres'",
    "cron.use_background_workers": "on",
    "cron.max_running_jobs": 16,
    // pg_cron's jobs take background workers; leave room for autovacuum, parallel query and the launcher.
    max_worker_processes: 32,
    max_parallel_workers: 2,
    max_parallel_workers_per_gather: 1,
    shared_buffers: `'${sharedBuffersMb}MB'`,
    effective_cache_size: `'${Math.max(512, Math.floor(memoryMb / 2))}MB'`,
    work_mem: "'8MB'",
    maintenance_work_mem: "'256MB'",
    wal_buffers: "'16MB'",
    min_wal_size: "'512MB'",
    max_wal_size: "'4GB'",
    checkpoint_completion_target: 0.9,
    random_page_cost: 1.1,
    effective_io_concurrency: 200,
    fsync: "on",
    timezone: "'UTC'",
    log_timezone: "'UTC'",
    log_line_prefix: "'%m [%p] %q%u@%d '",
    log_min_duration_statement: -1,
  };
}

/** True when the stack runs its own cluster (SUPABASE_DB_URL unset). */
export function managesCluster(): boolean {
  return !usesExternalDatabase();
}

/**
 * Makes sure the Debian packages are installed: as root installs the missing ones with apt-get,
 * otherwise throws a StackError that names the exact command to run.
 */
export async function ensurePackages(log: (line: string) => void = console.log): Promise<void> {
  const needed = [
    `${pgBin}/postgres`,
    "/usr/share/postgresql/15/extension/pg_cron.control",
    "/usr/share/postgresql/15/extension/pgtap.control",
    "/usr/bin/pg_prove",
  ];
  const missing = [];
  for (const path of needed) if (!await exists(path)) missing.push(path);
  if (missing.length === 0 && await serverUserExists()) return;
  if (!isRoot) {
    throw new StackError(
      `PostgreSQL 15 packages are missing (${missing.join(", ")}). Run as root:\n  ${installCommand}`,
    );
  }
  log(`Installing ${requiredPackages.join(", ")} with apt-get (missing: ${missing.join(", ")})`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update"], { env, inherit: true });
  await run("apt-get", ["install", "-y", ...requiredPackages], { env, inherit: true });
  if (!await serverUserExists()) {
    throw new StackError(`The "${serverUser}" OS user is still missing after apt-get install`);
  }
}

/** Creates the cluster's data directory with initdb if it does not exist yet. Returns true when it did. */
export async function initCluster(log: (line: string) => void = console.log): Promise<boolean> {
  const paths = await clusterPaths();
  if (await exists(`${paths.data}/PG_VERSION`)) return false;
  await ensureServerDir(paths.base, 0o700);
  // A data directory without PG_VERSION is a half-finished initdb: start over.
  await Deno.remove(paths.data, { recursive: true }).catch(() => {});
  log(`Creating a PostgreSQL 15 cluster in ${paths.data}`);
  const pwfile = `${paths.base}/.pwfile`;
  await Deno.writeTextFile(pwfile, "postgres\n", { mode: 0o600 });
  await chownToServer(pwfile);
  try {
    await runAsServer(`${pgBin}/initdb`, [
      "-D",
      paths.data,
      "-U",
      "postgres",
      `--pwfile=${pwfile}`,
      "--auth-local=scram-sha-256",
      "--auth-host=scram-sha-256",
      "--encoding=UTF8",
      "--locale=C.UTF-8",
      "--no-instructions",
    ], { cwd: paths.base });
  } finally {
    await Deno.remove(pwfile).catch(() => {});
  }
  const conf = `${paths.data}/postgresql.conf`;
  await Deno.writeTextFile(
    conf,
    "\n# Local stack settings (written by stack/postgres.ts on every start)\ninclude_if_exists = 'stack.conf'\n",
    {
      append: true,
    },
  );
  return true;
}

/** What the managed server is doing. */
export interface PostgresStatus {
  /** True when the stack manages no cluster (SUPABASE_DB_URL). */
  external: boolean;
  /** True when a data directory exists. */
  initialized: boolean;
  /** Pid of the running postmaster, if any. */
  pid?: number;
  port: number;
  dataDir?: string;
}

/** Reports whether the managed cluster exists and runs. */
export async function postgresStatus(): Promise<PostgresStatus> {
  if (!managesCluster()) {
    return { external: true, initialized: true, port: Number(new URL(dbUrl()).port || 5432) };
  }
  const paths = await clusterPaths();
  const initialized = await exists(`${paths.data}/PG_VERSION`);
  const pid = initialized ? await livePostmasterPid(paths.data) : undefined;
  return { external: false, initialized, pid, port: ports.postgres, dataDir: paths.data };
}

/**
 * Starts the managed cluster (idempotent) and waits until it accepts connections. Restarts a running
 * server whose settings changed. With SUPABASE_DB_URL set, only waits for that database.
 */
export async function startPostgres(log: (line: string) => void = console.log): Promise<void> {
  if (!managesCluster()) {
    await waitForPostgres(dbUrl(), 30_000);
    return;
  }
  const paths = await clusterPaths();
  if (!await exists(`${paths.data}/PG_VERSION`)) {
    throw new StackError(`No cluster in ${paths.data}: run "npm run stack -- up"`);
  }
  const changed = await writeSettings(paths);
  const pid = await livePostmasterPid(paths.data);
  if (pid && changed) {
    log("Postgres settings changed: restarting the server");
    await runAsServer(`${pgBin}/pg_ctl`, [
      "restart",
      "-D",
      paths.data,
      "-m",
      "fast",
      "-w",
      "-t",
      "120",
      "-s",
      "-l",
      paths.log,
    ], {
      cwd: paths.base,
    });
  } else if (!pid) {
    await removeStaleLocks(paths);
    if (!portIsFree(ports.postgres)) {
      throw new StackError(
        `Port ${ports.postgres} is taken by another process; stop it or set SUPABASE_DB_URL`,
      );
    }
    await ensureServerDir(paths.socketDir, 0o755);
    await ensureServerFile(paths.log);
    log(`Starting Postgres on 127.0.0.1:${ports.postgres}`);
    const started = await runAsServer(
      `${pgBin}/pg_ctl`,
      ["start", "-D", paths.data, "-l", paths.log, "-w", "-t", "120", "-s"],
      { cwd: paths.base, check: false },
    );
    if (!started.ok) {
      const tail = (await Deno.readTextFile(paths.log).catch(() => "")).split("\n").slice(-15).join("\n");
      throw new StackError(
        `Postgres did not start (pg_ctl: ${started.stderr.trim()}). End of ${paths.log}:\n${tail}`,
      );
    }
  }
  await waitForPostgres(dbUrl(), 60_000);
}

/** Stops the managed cluster (fast shutdown); a no-op when it is not running or not managed. */
export async function stopPostgres(log: (line: string) => void = console.log): Promise<void> {
  if (!managesCluster()) return;
  const paths = await clusterPaths();
  if (!await livePostmasterPid(paths.data)) return;
  log("Stopping Postgres");
  await runAsServer(`${pgBin}/pg_ctl`, ["stop", "-D", paths.data, "-m", "fast", "-w", "-t", "120", "-s"], {
    cwd: paths.base,
  });
}

/** Stops the managed cluster and deletes its data directory (the Vault key file is kept). */
export async function destroyCluster(log: (line: string) => void = console.log): Promise<void> {
  if (!managesCluster()) {
    throw new StackError("SUPABASE_DB_URL is set: the stack manages no cluster to destroy");
  }
  await stopPostgres(log);
  const paths = await clusterPaths();
  log(`Removing ${paths.data}`);
  await Deno.remove(paths.data, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** Opens a postgres.js client with the stack's defaults (notices silenced, one connection unless told). */
export function connect(
  url = dbUrl(),
  options: postgres.Options<Record<string, postgres.PostgresType>> = {},
): Sql {
  return postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10, ...options });
}

/** Runs `fn` with a short-lived client and closes it afterwards. */
export async function withSql<T>(url: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = connect(url);
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Waits until `url` answers `select 1`, or throws after `timeoutMs`. */
export async function waitForPostgres(url = dbUrl(), timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await withSql(url, (sql) => sql`select 1`);
      return;
    } catch (error) {
      last = error;
      await delay(100);
    }
  }
  throw new StackError(`Postgres at ${redact(url)} did not answer within ${timeoutMs} ms: ${String(last)}`);
}

/** Options of createDatabase. */
export interface CreateDatabaseOptions {
  /** Database to copy (its other connections are terminated first). Defaults to template1. */
  template?: string;
}

/** Creates database `name`, optionally as a copy of `template`. Fails if it exists. */
export async function createDatabase(name: string, options: CreateDatabaseOptions = {}): Promise<void> {
  const template = options.template;
  await withSql(maintenanceUrl(name, template), async (sql) => {
    for (let attempt = 1;; attempt++) {
      try {
        if (template) {
          await terminateConnections(sql, template);
          await sql`create database ${sql(name)} template ${sql(template)}`;
        } else {
          await sql`create database ${sql(name)}`;
        }
        return;
      } catch (error) {
        // 55006: the template still had a session (e.g. a pooled client reconnecting).
        if ((error as { code?: string }).code !== "55006" || attempt >= 20) throw error;
        await delay(50 * attempt);
      }
    }
  });
}

/** Drops database `name` if it exists, terminating its connections. */
export async function dropDatabase(name: string): Promise<void> {
  await withSql(maintenanceUrl(name), async (sql) => {
    await sql`drop database if exists ${sql(name)} with (force)`;
  });
}

/** True when database `name` exists. */
export async function databaseExists(name: string): Promise<boolean> {
  return await withSql(maintenanceUrl(name), async (sql) => {
    const rows = await sql`select 1 from pg_database where datname = ${name}`;
    return rows.length > 0;
  });
}

async function terminateConnections(sql: Sql, database: string): Promise<void> {
  await sql`
    select pg_terminate_backend(pid) from pg_stat_activity
    where datname = ${database} and pid <> pg_backend_pid()`;
}

/** The URL of database `name` on the stack's server (with SUPABASE_DB_URL: on that server). */
export function databaseUrl(name: string): string {
  const url = new URL(dbUrl());
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

function maintenanceUrl(...databases: (string | undefined)[]): string {
  for (const candidate of ["postgres", "template1"]) {
    if (!databases.includes(candidate)) return databaseUrl(candidate);
  }
  return databaseUrl("template0");
}

async function writeSettings(paths: ClusterPaths): Promise<boolean> {
  const settings = await serverSettings(paths);
  const text = "# Written by stack/postgres.ts: the local stack's server settings. Edits are overwritten.\n" +
    Object.entries(settings).map(([key, value]) => `${key} = ${value}`).join("\n") + "\n";
  const file = `${paths.data}/stack.conf`;
  const current = await Deno.readTextFile(file).catch(() => undefined);
  if (current === text) return false;
  await Deno.writeTextFile(file, text, { mode: 0o600 });
  await chownToServer(file);
  return current !== undefined;
}

/** The pid in postmaster.pid when that process is alive and a postgres server; otherwise undefined. */
async function livePostmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await Deno.readTextFile(`${dataDir}/postmaster.pid`).catch(() => undefined);
  if (!text) return undefined;
  const pid = Number(text.split("\n")[0]);
  return pid > 0 && await isPostgresProcess(pid) ? pid : undefined;
}

async function isPostgresProcess(pid: number): Promise<boolean> {
  // /proc/<pid>/stat is "pid (comm) state ...": a killed postmaster nobody reaped is a zombie, not a server.
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => "");
  const match = stat.match(/^\d+ \((.*)\) (\S)/);
  return match !== null && (match[1] === "postgres" || match[1] === "postmaster") && match[2] !== "Z" &&
    match[2] !== "X";
}

/** After a crash or reboot the lock files may name a pid that is now another process: remove them. */
async function removeStaleLocks(paths: ClusterPaths): Promise<void> {
  const lockFiles = [`${paths.data}/postmaster.pid`, `${paths.socketDir}/.s.PGSQL.${ports.postgres}.lock`];
  for (const file of lockFiles) {
    const text = await Deno.readTextFile(file).catch(() => undefined);
    if (text === undefined) continue;
    const pid = Number(text.split("\n")[0]);
    if (pid > 0 && await isPostgresProcess(pid)) continue;
    await Deno.remove(file).catch(() => {});
    if (file.endsWith(".lock")) await Deno.remove(file.slice(0, -".lock".length)).catch(() => {});
  }
}

/** True when nothing listens on 127.0.0.1:`port`. */
export function portIsFree(port: number): boolean {
  try {
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
    return true;
  } catch {
    return false;
  }
}

interface PasswdEntry {
  uid: number;
  gid: number;
  home: string;
}

async function passwdEntry(user: string): Promise<PasswdEntry | undefined> {
  const text = await Deno.readTextFile("/etc/passwd").catch(() => "");
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === user) return { uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] };
  }
  return undefined;
}

async function serverUserExists(): Promise<boolean> {
  return !isRoot || (await passwdEntry(serverUser)) !== undefined;
}

/** Gives `path` to the server's OS user (only needed, and only possible, as root). */
export async function chownToServer(path: string): Promise<void> {
  if (!isRoot) return;
  const entry = await passwdEntry(serverUser);
  if (!entry) throw new StackError(`The "${serverUser}" OS user does not exist`);
  await Deno.chown(path, entry.uid, entry.gid);
}

async function ensureServerDir(path: string, mode: number): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
  await Deno.chmod(path, mode);
  await chownToServer(path);
}

async function ensureServerFile(path: string): Promise<void> {
  if (!await exists(path)) await Deno.writeTextFile(path, "", { mode: 0o640 });
  await chownToServer(path);
}

/**
 * Creates the Vault stand-in's key file once: 32 random bytes as hex, mode 0600, owned by the server's
 * OS user so that only the server (and root) can read it.
 */
export async function ensureVaultKeyFile(): Promise<string> {
  const paths = await clusterPaths();
  if (!await exists(paths.vaultKey)) {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    await Deno.writeTextFile(paths.vaultKey, `${hex}\n`, { mode: 0o600, createNew: true });
  }
  await Deno.chmod(paths.vaultKey, 0o600);
  await chownToServer(paths.vaultKey);
  return paths.vaultKey;
}

/** Result of a finished subprocess. */
export interface RunResult {
  ok: boolean;
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of run(). */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Throw a StackError when the command fails (default true). */
  check?: boolean;
  /** Let the command print to this process's terminal. */
  inherit?: boolean;
}

/** Runs a command to completion, capturing its output unless `inherit`. */
export async function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const output = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: options.inherit ? "inherit" : "piped",
    stderr: options.inherit ? "inherit" : "piped",
  }).output();
  const decoder = new TextDecoder();
  const result = {
    ok: output.success,
    code: output.code,
    stdout: options.inherit ? "" : decoder.decode(output.stdout),
    stderr: options.inherit ? "" : decoder.decode(output.stderr),
  };
  if (!result.ok && options.check !== false) {
    throw new StackError(
      `${cmd} ${args.join(" ")} failed (exit ${result.code}): ${
        result.stderr.trim() || result.stdout.trim()
      }`,
    );
  }
  return result;
}

/** Runs a server binary as the server's OS user (runuser as root; directly otherwise). */
function runAsServer(bin: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return isRoot ? run(runuser, ["-u", serverUser, "--", bin, ...args], options) : run(bin, args, options);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function totalMemoryMb(): Promise<number> {
  const text = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const match = text.match(/^MemTotal:\s+(\d+) kB/m);
  return match ? Math.floor(Number(match[1]) / 1024) : 2048;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "<invalid url>";
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

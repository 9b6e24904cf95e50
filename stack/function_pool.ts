/** Runs each function in supabase/functions as its own Deno process (as the edge runtime isolates them) and restarts it when it dies. */
import { parse as parseToml } from "smol-toml";
import { dbUrl, root as projectRoot, stackPaths } from "./config.ts";
import { localKeys } from "./keys.ts";

/** Options of FunctionPool. */
export interface FunctionPoolOptions {
  /** Project folder holding supabase/ (default: this repository). */
  root: string;
  /** The gateway's own URL, given to functions as SUPABASE_URL. */
  gatewayUrl: string;
  /** Where each function's output goes (`function-<name>.log`). Default `.stack/logs`. */
  logsDir?: string;
  /** Extra environment for every function (after the Supabase variables and supabase/functions/.env). */
  env?: Record<string, string>;
  log?: (line: string) => void;
}

/** What the gateway status reports about one function. */
export interface FunctionState {
  pid: number | null;
  port: number;
  restarts: number;
  ready: boolean;
  verifyJwt: boolean;
}

interface Spec {
  name: string;
  entrypoint: string;
  verifyJwt: boolean;
}

interface Proc {
  spec: Spec;
  port: number;
  child?: Deno.ChildProcess;
  ready: boolean;
  restarts: number;
  quickCrashes: number;
  everReady: boolean;
  alive: boolean;
  startedAt: number;
}

// Variables a Deno process needs to find its caches, certificates and proxies; everything else stays out.
const inheritedEnv = [
  "PATH",
  "HOME",
  "DENO_DIR",
  "TMPDIR",
  "LANG",
  "LC_ALL",
  "TZ",
  "NO_COLOR",
  "CI",
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  "NPM_CONFIG_REGISTRY",
  "DENO_CERT",
  "DENO_TLS_CA_STORE",
  "SSL_CERT_FILE",
  "XDG_CACHE_HOME",
];

/** Per-function settings from `[functions.<name>]` in supabase/config.toml. */
export interface FunctionConfig {
  /** Require a valid JWT in Authorization (Supabase's default: true). */
  verifyJwt: boolean;
  /** `enabled = false` hides the function. */
  enabled: boolean;
  /** Entry point relative to supabase/ (default `./functions/<name>/index.ts`). */
  entrypoint?: string;
}

/** Reads the `[functions.*]` tables of a supabase/config.toml text. */
export function parseFunctionsConfig(toml: string): Record<string, FunctionConfig> {
  const parsed = parseToml(toml) as { functions?: Record<string, Record<string, unknown>> };
  const result: Record<string, FunctionConfig> = {};
  for (const [name, table] of Object.entries(parsed.functions ?? {})) {
    if (typeof table !== "object" || table === null) continue;
    result[name] = {
      verifyJwt: table.verify_jwt !== false,
      enabled: table.enabled !== false,
      entrypoint: typeof table.entrypoint === "string" ? table.entrypoint : undefined,
    };
  }
  return result;
}

/** Where the gateway sends a request for one function (see GatewayTarget in gateway.ts). */
export interface FunctionTarget {
  verifyJwt: boolean;
  origin?: string;
}

/** The function processes behind the gateway. */
export class FunctionPool {
  #options: FunctionPoolOptions;
  #procs = new Map<string, Proc>();
  #stopping = false;
  #env: Record<string, string> = {};
  #lastScan = 0;
  #log: (line: string) => void;

  constructor(options: FunctionPoolOptions) {
    this.#options = options;
    this.#log = options.log ?? console.log;
  }

  /** Finds the functions, starts them all and waits until each accepts connections. */
  async start(): Promise<void> {
    this.#env = await this.#buildEnv();
    await Deno.mkdir(this.#logsDir(), { recursive: true });
    const specs = await discoverFunctions(this.#options.root);
    for (const spec of specs) this.#add(spec);
    // A function that cannot start (a syntax error, a crash at import) does not hold the others back:
    // it is logged, keeps being restarted, and answers 503 meanwhile.
    await Promise.all(
      [...this.#procs.values()].map((proc) =>
        this.#whenReady(proc, 60_000).catch((error) =>
          this.#log(String(error instanceof Error ? error.message : error))
        )
      ),
    );
    this.#lastScan = Date.now();
  }

  /** Names of the functions served. */
  names(): string[] {
    return [...this.#procs.keys()].sort();
  }

  /**
   * The target for `name`: its origin when it accepts connections; no origin while it restarts.
   * A function folder created after start-up is picked up here (and started).
   */
  async resolve(name: string): Promise<FunctionTarget | undefined> {
    let proc = this.#procs.get(name);
    if (!proc && !this.#stopping && Date.now() - this.#lastScan > 1000 && /^[A-Za-z0-9_-]+$/.test(name)) {
      this.#lastScan = Date.now();
      const spec = (await discoverFunctions(this.#options.root)).find((candidate) => candidate.name === name);
      if (spec && !this.#procs.has(name)) this.#add(spec);
      proc = this.#procs.get(name);
    }
    if (!proc) return undefined;
    // A first start is waited for; a restart answers 503 at once so callers retry.
    if (!proc.everReady) await this.#whenReady(proc, 30_000).catch(() => {});
    return {
      verifyJwt: proc.spec.verifyJwt,
      origin: proc.ready ? `http://127.0.0.1:${proc.port}` : undefined,
    };
  }

  /** Pid, port and restart count of every function (for tests and the benchmark, which read /proc/<pid>). */
  status(): { functions: Record<string, FunctionState> } {
    const functions: Record<string, FunctionState> = {};
    for (const [name, proc] of [...this.#procs].sort(([a], [b]) => a.localeCompare(b))) {
      functions[name] = {
        pid: proc.alive ? proc.child?.pid ?? null : null,
        port: proc.port,
        restarts: proc.restarts,
        ready: proc.ready,
        verifyJwt: proc.spec.verifyJwt,
      };
    }
    return { functions };
  }

  /** Ends every function process (SIGTERM, then SIGKILL after 3 s). */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.#procs.values()].map(async (proc) => {
      const child = proc.child;
      if (!child) return;
      try {
        child.kill("SIGTERM");
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, 3000);
      await child.status;
      clearTimeout(timer);
    }));
  }

  #add(spec: Spec): void {
    const proc: Proc = {
      spec,
      port: freePort(),
      ready: false,
      restarts: 0,
      quickCrashes: 0,
      everReady: false,
      alive: false,
      startedAt: 0,
    };
    this.#procs.set(spec.name, proc);
    this.#spawn(proc);
  }

  #spawn(proc: Proc): void {
    if (this.#stopping) return;
    proc.ready = false;
    proc.startedAt = Date.now();
    // A fresh port on every (re)start: the one picked before may have been taken meanwhile (an outgoing
    // connection's ephemeral port), and retrying it would fail the same way forever.
    if (proc.restarts > 0) proc.port = freePort();
    const env = { ...this.#env, DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${proc.port}` };
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-prompt", `--v8-flags=${functionV8Flags()}`, proc.spec.entrypoint],
      cwd: this.#options.root,
      env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    proc.child = child;
    proc.alive = true;
    const logFile = `${this.#logsDir()}/function-${proc.spec.name}.log`;
    for (const stream of [child.stdout, child.stderr]) {
      Deno.open(logFile, { create: true, append: true })
        .then((file) => stream.pipeTo(file.writable))
        .catch(() => {});
    }
    child.status.then((status) => this.#exited(proc, child, status));
    this.#waitForPort(proc, child);
  }

  async #waitForPort(proc: Proc, child: Deno.ChildProcess): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (proc.child === child && !this.#stopping && Date.now() < deadline) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: proc.port });
        conn.close();
        if (proc.child !== child) return;
        proc.ready = true;
        proc.everReady = true;
        if (proc.restarts > 0) this.#log(`${proc.spec.name} is back (pid ${child.pid}, port ${proc.port})`);
        return;
      } catch {
        await delay(20);
      }
    }
    if (proc.child === child && !this.#stopping) {
      this.#log(`${proc.spec.name} did not listen on port ${proc.port} within 60 s; killing it`);
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
  }

  #exited(proc: Proc, child: Deno.ChildProcess, status: Deno.CommandStatus): void {
    if (proc.child !== child) return;
    proc.ready = false;
    proc.alive = false;
    if (this.#stopping) return;
    proc.restarts++;
    // Killed from outside (chaos tests, OOM killer): back at once. Crashing on its own soon after
    // starting: a crash loop, restarted with growing delays (up to 5 s).
    const uptime = Date.now() - proc.startedAt;
    proc.quickCrashes = status.signal === null && uptime < 10_000 ? proc.quickCrashes + 1 : 0;
    const wait = proc.quickCrashes === 0 ? 50 : Math.min(5000, 100 * 2 ** Math.min(proc.quickCrashes, 6));
    const how = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
    this.#log(
      `${proc.spec.name} (pid ${child.pid}) died with ${how}; restart #${proc.restarts} in ${wait} ms`,
    );
    setTimeout(() => {
      try {
        this.#spawn(proc);
      } catch (error) {
        this.#log(`${proc.spec.name}: restart failed: ${error}`);
      }
    }, wait);
  }

  /** Waits until `proc` has accepted a connection once; fails on timeout or when it crash-loops. */
  async #whenReady(proc: Proc, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!proc.everReady) {
      const log = `${this.#logsDir()}/function-${proc.spec.name}.log`;
      if (proc.quickCrashes >= 2) {
        throw new Error(`${proc.spec.name} keeps crashing at start-up (see ${log})`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${proc.spec.name} did not start within ${timeoutMs} ms (see ${log})`);
      }
      await delay(20);
    }
  }

  #logsDir(): string {
    return this.#options.logsDir ?? stackPaths.logs;
  }

  async #buildEnv(): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    for (const name of inheritedEnv) {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    }
    const keys = await localKeys();
    Object.assign(env, {
      DENO_NO_UPDATE_CHECK: "1",
      SUPABASE_URL: this.#options.gatewayUrl,
      SUPABASE_DB_URL: dbUrl(),
      SUPABASE_ANON_KEY: keys.anonKey,
      SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
    });
    const dotenv = await Deno.readTextFile(`${this.#options.root}/supabase/functions/.env`).catch(() => "");
    Object.assign(env, parseDotenv(dotenv), this.#options.env ?? {});
    return env;
  }
}

/** The functions of a project: folders of supabase/functions with an index.ts (or a config.toml entrypoint). */
export async function discoverFunctions(root = projectRoot): Promise<Spec[]> {
  const toml = await Deno.readTextFile(`${root}/supabase/config.toml`).catch(() => "");
  const config = parseFunctionsConfig(toml);
  const specs: Spec[] = [];
  const seen = new Set<string>();
  try {
    for await (const entry of Deno.readDir(`${root}/supabase/functions`)) {
      if (!entry.isDirectory || entry.name.startsWith("_") || entry.name.startsWith(".")) continue;
      seen.add(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const name of Object.keys(config)) seen.add(name);
  for (const name of [...seen].sort()) {
    const settings = config[name];
    if (settings?.enabled === false) continue;
    const entrypoint = settings?.entrypoint
      ? new URL(settings.entrypoint, `file://${root}/supabase/`).pathname
      : `${root}/supabase/functions/${name}/index.ts`;
    if (!await Deno.stat(entrypoint).then((info) => info.isFile, () => false)) continue;
    specs.push({ name, entrypoint, verifyJwt: settings?.verifyJwt ?? true });
  }
  return specs;
}

/** Parses a .env file: `KEY=value` lines, `#` comments, optional `export` and quotes. */
export function parseDotenv(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const match = line.match(/^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/);
    if (!match) continue;
    let value = match[2];
    const quoted = value.match(/^(['"])(.*)\1$/);
    if (quoted) {
      value = quoted[1] === '"' ? quoted[2].replace(/\\n/g, "\n").replace(/\\"/g, '"') : quoted[2];
    } else {
      value = value.replace(/\s+#.*$/, "");
    }
    result[match[1]] = value;
  }
  return result;
}

/**
 * V8 heap limits of function processes. The edge runtime gives each function a bounded heap (256 MB
 * of memory in all); a plain Deno process sizes its heap to the machine instead (on 24 GB, module-email
 * grew to 400 MB of mostly garbage under load), so memory figures measured locally would mean nothing.
 * An 8 MB semi-space: with 4 MB, scavenges took about a tenth more of module-email's CPU at 1,000 sends/s
 * (peak RSS 120 MB with 4, 126 MB with 8). FUNCTION_V8_FLAGS overrides the default (comma-separated V8 flags).
 */
export function functionV8Flags(): string {
  return Deno.env.get("FUNCTION_V8_FLAGS") ?? "--max-old-space-size=128,--max-semi-space-size=8";
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

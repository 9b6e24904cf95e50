/** Where the local stack lives: ports, paths and the well-known local credentials (never used in production). */
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
export const stackDir = `${root}/.stack`;

// STACK_PORT_OFFSET moves every port, so several checkouts can run their own stacks side by side.
const offset = Number(Deno.env.get("STACK_PORT_OFFSET") ?? "0") || 0;

export const ports = {
  /** Supabase's local API port: the gateway serves /functions/v1/<name> here. */
  gateway: 54321 + offset,
  /** Supabase's local database port. */
  postgres: 54322 + offset,
  /** The provider simulator (Resend, and later the other providers). */
  simulator: 54330 + offset,
} as const;

/** The local JWT secret, as `supabase start` uses; the gateway signs and verifies anon/service_role keys with it. */
export const jwtSecret = "super-secret-jwt-token-with-at-least-32-characters-long";

export const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
export const simulatorUrl = `http://127.0.0.1:${ports.simulator}`;

/** Files and folders of the local stack, all under `.stack/` (git-ignored). */
export const stackPaths = {
  /** Logs of the daemon, the functions and Postgres. */
  logs: `${stackDir}/logs`,
  /** Every function's answers as JSON lines, when the daemon runs with `STACK_CAPTURE_RESPONSES=1`. */
  responses: `${stackDir}/responses.jsonl`,
  /** Pid of the background daemon (gateway, net worker, simulator); its mtime is the daemon's start time. */
  daemonPid: `${stackDir}/daemon.pid`,
  /** Hash of the database URL the running daemon serves (a daemon serving another one is restarted). */
  daemonDb: `${stackDir}/daemon.db`,
  /** The Vault stand-in's encryption key: outside the database, readable only by the server's OS user. */
  vaultKey: `${stackDir}/vault.key`,
  /** The managed PostgreSQL cluster (data directory, socket directory). */
  pg: `${stackDir}/pg`,
} as const;

/** The local Postgres superuser and its password (scram), as `supabase start` has them. */
export const dbCredentials = { user: "postgres", password: "postgres" } as const;

/** The database URL of the local stack, or the one given in SUPABASE_DB_URL. */
export function dbUrl(database = "postgres"): string {
  const given = Deno.env.get("SUPABASE_DB_URL");
  if (given) {
    const url = new URL(given);
    if (database !== "postgres") url.pathname = `/${database}`;
    return url.toString();
  }
  return `postgresql://postgres:postgres@127.0.0.1:${ports.postgres}/${database}`;
}

/** True when SUPABASE_DB_URL points at an existing database, so the stack manages no cluster of its own. */
export function usesExternalDatabase(): boolean {
  return Boolean(Deno.env.get("SUPABASE_DB_URL"));
}

/** A hash naming a database URL (what the daemon records about the database it serves; no password in files). */
export async function databaseTag(url: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(url));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

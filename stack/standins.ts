/** Installs the local stand-ins (Supabase roles and auth, Vault, pg_net) into a database where the real ones are missing. */
import { type Sql, withSql } from "./postgres.ts";
import { root } from "./config.ts";

/** One stand-in: a SQL file and the schema that marks it installed. */
export interface Standin {
  /** File under stack/standins/. */
  file: string;
  /** Schema whose comment records the installed version (and tells a stand-in from the real thing). */
  schema: string;
  /** Extension whose availability makes the stand-in unnecessary. */
  realExtension?: string;
}

/** The stand-ins, in installation order. */
export const standins: readonly Standin[] = [
  { file: "00_supabase.sql", schema: "auth" },
  { file: "10_vault.sql", schema: "vault", realExtension: "supabase_vault" },
  { file: "20_pg_net.sql", schema: "net", realExtension: "pg_net" },
];

const standinDir = `${root}/stack/standins`;
const marker = "local stand-in (stack/standins/";

/** Options of installStandins(). */
export interface InstallOptions {
  /** Absolute path of the Vault root key file on the database server; found or created when omitted. */
  vaultKeyPath?: string;
  log?: (line: string) => void;
}

/** What installStandins() did with each stand-in. */
export type InstallReport = Record<string, "installed" | "up to date" | "real one present">;

/**
 * Installs (or upgrades) every stand-in whose real counterpart is missing from the database at `url`.
 * Idempotent and cheap when nothing changed: each schema's comment records the installed file's hash.
 */
export async function installStandins(url: string, options: InstallOptions = {}): Promise<InstallReport> {
  const log = options.log ?? (() => {});
  const report: InstallReport = {};
  await withSql(url, async (sql) => {
    for (const standin of standins) {
      const state = await inspect(sql, standin);
      if (state.real) {
        report[standin.file] = "real one present";
        continue;
      }
      let text = await Deno.readTextFile(`${standinDir}/${standin.file}`);
      if (text.includes("{{vault_key_path}}")) {
        const keyPath = options.vaultKeyPath ?? await serverSideKeyFile(sql);
        text = text.replaceAll("{{vault_key_path}}", keyPath.replaceAll("'", "''"));
      }
      const hash = await sha256Hex(text);
      if (state.hash === hash) {
        report[standin.file] = "up to date";
        continue;
      }
      log(`Installing stand-in ${standin.file}`);
      const comment = `${marker}${standin.file}) sha256:${hash}`;
      await sql.begin(async (tx) => {
        await tx.unsafe(text).simple();
        await tx.unsafe(`comment on schema ${standin.schema} is '${comment}'`);
      });
      report[standin.file] = "installed";
    }
  });
  return report;
}

async function inspect(sql: Sql, standin: Standin): Promise<{ real: boolean; hash?: string }> {
  const [row] = await sql<{ comment: string | null; schema_exists: boolean; extension_available: boolean }[]>`
    select
      (select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = ${standin.schema}) as comment,
      exists (select 1 from pg_namespace where nspname = ${standin.schema}) as schema_exists,
      exists (select 1 from pg_available_extensions where name = ${
    standin.realExtension ?? ""
  }) as extension_available`;
  const ours = row.comment?.startsWith(marker) ?? false;
  if (row.schema_exists && !ours) return { real: true };
  if (!row.schema_exists && row.extension_available) return { real: true };
  return { real: false, hash: ours ? row.comment!.match(/sha256:([0-9a-f]+)/)?.[1] : undefined };
}

/**
 * For a database the stack does not manage (SUPABASE_DB_URL): a root key file in the server's data
 * directory, created by the server itself (so owned by its OS user, mode 0600). Needs superuser.
 */
async function serverSideKeyFile(sql: Sql): Promise<string> {
  const [{ dir }] = await sql<{ dir: string }[]>`select current_setting('data_directory') as dir`;
  const path = `${dir}/stack_vault.key`;
  const [{ present }] = await sql<
    { present: boolean }[]
  >`select pg_stat_file(${path}, true) is not null as present`;
  if (!present) {
    const literal = path.replaceAll("'", "''");
    await sql.unsafe(
      `copy (select encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text || clock_timestamp()::text, 'utf8')), 'hex')) to '${literal}'`,
    );
  }
  return path;
}

/** A hash of every stand-in file, for callers that cache databases built from them. */
export async function standinsHash(): Promise<string> {
  const parts = [];
  for (const standin of standins) parts.push(await Deno.readTextFile(`${standinDir}/${standin.file}`));
  return await sha256Hex(parts.join("\n--\n"));
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

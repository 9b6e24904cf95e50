/** Applies supabase/migrations (and the seed) to a database with the Supabase CLI, and tells what is pending. */
import { root } from "./config.ts";
import { run, StackError, withSql } from "./postgres.ts";

/** The Supabase CLI installed from npm (a devDependency). */
export const supabaseCli = `${root}/node_modules/.bin/supabase`;

/** Options of applyMigrations(). */
export interface ApplyOptions {
  /** Also run supabase/seed.sql (`--include-seed`); the CLI records it and skips it later. */
  seed?: boolean;
  /** Project folder holding `supabase/` (default: this repository). */
  workdir?: string;
  log?: (line: string) => void;
}

/** Runs `supabase db push --db-url <url>?sslmode=disable --yes --include-all [--include-seed]` from the project folder. */
export async function applyMigrations(url: string, options: ApplyOptions = {}): Promise<void> {
  const dbUrl = new URL(url);
  dbUrl.searchParams.set("sslmode", "disable");
  // --include-all: a local database may already have later migrations than one just merged in.
  const args = ["db", "push", "--db-url", dbUrl.toString(), "--yes", "--include-all"];
  if (options.seed) args.push("--include-seed");
  const result = await run(supabaseCli, args, { cwd: options.workdir ?? root, check: false });
  const output = `${result.stderr}\n${result.stdout}`.trim();
  if (!result.ok) throw new StackError(`supabase db push failed (exit ${result.code}):\n${output}`);
  for (const line of output.split("\n")) {
    if (/^(Applying|Seeding|Finished|Remote database is up to date)/.test(line.trim())) {
      options.log?.(line.trim());
    }
  }
}

/** Migration versions in `<workdir>/supabase/migrations`, named `<version>_<name>.sql`, in order. */
export async function localMigrations(workdir = root): Promise<{ version: string; file: string }[]> {
  const found = [];
  try {
    for await (const entry of Deno.readDir(`${workdir}/supabase/migrations`)) {
      const match = entry.isFile ? entry.name.match(/^(\d+)_.*\.sql$/) : null;
      if (match) found.push({ version: match[1], file: entry.name });
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found.sort((a, b) => a.version.localeCompare(b.version));
}

/** Versions recorded as applied in `supabase_migrations.schema_migrations` (none when it does not exist). */
export async function appliedMigrations(url: string): Promise<{ version: string; name: string | null }[]> {
  return await withSql(url, async (sql) => {
    const [{ present }] = await sql<{ present: boolean }[]>`
      select to_regclass('supabase_migrations.schema_migrations') is not null as present`;
    if (!present) return [];
    return await sql<{ version: string; name: string | null }[]>`
      select version, name from supabase_migrations.schema_migrations order by version`;
  });
}

/** Seed files recorded as applied by the CLI (`supabase_migrations.seed_files`), by path. */
export async function appliedSeeds(url: string): Promise<string[]> {
  return await withSql(url, async (sql) => {
    const [{ present }] = await sql<{ present: boolean }[]>`
      select to_regclass('supabase_migrations.seed_files') is not null as present`;
    if (!present) return [];
    const rows = await sql<{ path: string }[]>`select path from supabase_migrations.seed_files`;
    return rows.map((row) => row.path);
  });
}

/** True when a local migration is not applied yet, or (with `seed`) supabase/seed.sql was never run. */
export async function hasPendingWork(
  url: string,
  options: { seed?: boolean; workdir?: string } = {},
): Promise<boolean> {
  const workdir = options.workdir ?? root;
  const applied = new Set((await appliedMigrations(url)).map((row) => row.version));
  if ((await localMigrations(workdir)).some((migration) => !applied.has(migration.version))) return true;
  if (options.seed) {
    const seedExists = await Deno.stat(`${workdir}/supabase/seed.sql`).then(() => true, () => false);
    if (seedExists && !(await appliedSeeds(url)).some((path) => path.endsWith("seed.sql"))) return true;
  }
  return false;
}

// Secret hygiene: every credential in Vault is a canary that must appear in no log, no table and no
// response of our functions; couples' emails, phone numbers and message texts must appear in no log.
import { stackPaths } from "../stack/config.ts";
import type { Sql } from "../tests/helpers/db.ts";

/** A value that must not be found, and where it came from (a Vault secret's name and field, never the value). */
export type Needle = { value: string; origin: string };

/** Where a needle was found. */
export type Hit = { origin: string; where: string; count: number };

/** What one scan covered and found. */
export type HygieneReport = {
  canaries: number;
  personal_values: number;
  tables: number;
  columns: number;
  rows: number;
  log_files: number;
  log_bytes: number;
  responses: number;
  secret_hits: Hit[];
  personal_hits: Hit[];
};

// Short values would match by chance; every real credential here is longer.
const MIN_CANARY = 12;
// Fields of a secret that are identifiers or public keys rather than secrets (they may appear in URLs).
const NOT_SECRET = /(^|_)(id|sid|url|public_key|base_url|account|email|from|phone|number)$/i;

/** Collects the string leaves of a secret's JSON (or the whole text when it is not JSON). */
function leaves(value: unknown, path: string, out: [string, string][]): void {
  if (typeof value === "string") out.push([path, value]);
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) leaves(v, path ? `${path}.${k}` : k, out);
  }
}

/**
 * Every credential in Vault as a canary: the secrets of every integration the tests connected, and the
 * stack's own (invoke, links and OAuth state signing keys, the OAuth client secret).
 */
export async function vaultCanaries(sql: Sql): Promise<Needle[]> {
  const rows = await sql<{ name: string | null; s: string }[]>`
    select name, decrypted_secret as s from vault.decrypted_secrets
    where decrypted_secret is not null and coalesce(name, '') <> 'project_url'`;
  const found = new Map<string, string>();
  for (const row of rows) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.s);
    } catch {
      parsed = row.s;
    }
    const out: [string, string][] = [];
    leaves(parsed, "", out);
    for (const [field, value] of out) {
      if (value.length < MIN_CANARY || NOT_SECRET.test(field)) continue;
      found.set(value, `vault ${row.name ?? "(unnamed)"}${field ? `.${field}` : ""}`);
    }
  }
  return [...found].map(([value, origin]) => ({ value, origin }));
}

/** Couples' emails, phone numbers and message texts (SMS step texts, email templates): logs must not carry them. */
export async function personalValues(sql: Sql): Promise<Needle[]> {
  const rows = await sql<{ v: string; origin: string }[]>`
    select distinct email as v, 'client email' as origin from public.clients where email is not null
    union select distinct phone, 'client phone' from public.clients where phone is not null
    union select distinct subject, 'email template subject' from public.email_templates
    union select distinct config ->> 'text', 'message text' from public.journey_steps
      where length(config ->> 'text') >= 20
    union select distinct text, 'email template text' from public.email_templates where length(text) >= 20`;
  return rows.filter((r) => r.v.length >= 8).map((r) => ({ value: r.v, origin: r.origin }));
}

function count(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) n++;
  return n;
}

function addHits(text: string, where: string, needles: Needle[], hits: Hit[]): void {
  for (const needle of needles) {
    const n = count(text, needle.value);
    if (n > 0) hits.push({ origin: needle.origin, where, count: n });
  }
}

/**
 * Every text, varchar and json column of every table of the public and net schemas (audit calls, run
 * errors, the webhook inbox, deliveries, pg_net's responses...), searched in SQL for every canary.
 */
async function scanTables(sql: Sql, canaries: Needle[], report: HygieneReport): Promise<void> {
  const columns = await sql<{ schema: string; table: string; column: string }[]>`
    select c.table_schema as schema, c.table_name as table, c.column_name as column
    from information_schema.columns c join information_schema.tables t using (table_schema, table_name)
    where c.table_schema in ('public', 'net') and t.table_type = 'BASE TABLE'
      and c.data_type in ('text', 'character varying', 'json', 'jsonb', 'character', 'ARRAY', 'USER-DEFINED')
    order by 1, 2, 3`;
  const byTable = new Map<string, string[]>();
  for (const c of columns) {
    const key = `"${c.schema}"."${c.table.replaceAll('"', '""')}"`;
    byTable.set(key, [...(byTable.get(key) ?? []), c.column]);
  }
  const patterns = canaries.map((c) => `%${c.value.replace(/[\\%_]/g, (m) => `\\${m}`)}%`);
  report.tables = byTable.size;
  report.columns = columns.length;
  for (const [table, cols] of byTable) {
    const [{ n }] = await sql.unsafe<{ n: number }[]>(`select count(*)::int as n from ${table}`);
    report.rows += n;
    if (n === 0 || patterns.length === 0) continue;
    for (const col of cols) {
      const quoted = `"${col.replaceAll('"', '""')}"`;
      const hits = await sql.unsafe<{ p: string; n: number }[]>(
        `select p, count(*)::int as n from ${table}, unnest($1::text[]) p
         where ${quoted}::text like p group by p`,
        [patterns],
      );
      for (const h of hits) {
        const canary = canaries[patterns.indexOf(h.p)];
        report.secret_hits.push({ origin: canary.origin, where: `${table}.${quoted}`, count: h.n });
      }
    }
  }
}

/** Reads a file, or undefined when it does not exist. */
async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Scans the stack after whatever ran before: the logs of the daemon, gateway, every function, the net
 * worker and Postgres; every table; and every captured response of our functions.
 */
export async function scanHygiene(
  sql: Sql,
  dirs: { logs: string; responses: string } = { logs: stackPaths.logs, responses: stackPaths.responses },
): Promise<HygieneReport> {
  const canaries = await vaultCanaries(sql);
  const personal = await personalValues(sql);
  const report: HygieneReport = {
    canaries: canaries.length,
    personal_values: personal.length,
    tables: 0,
    columns: 0,
    rows: 0,
    log_files: 0,
    log_bytes: 0,
    responses: 0,
    secret_hits: [],
    personal_hits: [],
  };
  for await (const entry of Deno.readDir(dirs.logs)) {
    if (!entry.isFile) continue;
    const text = await Deno.readTextFile(`${dirs.logs}/${entry.name}`);
    report.log_files++;
    report.log_bytes += new TextEncoder().encode(text).length;
    addHits(text, `log ${entry.name}`, canaries, report.secret_hits);
    addHits(text, `log ${entry.name}`, personal, report.personal_hits);
  }
  const responses = await readIfExists(dirs.responses);
  if (responses !== undefined) {
    for (const line of responses.split("\n")) {
      if (line === "") continue;
      report.responses++;
      const r = JSON.parse(line) as { fn: string; body: string };
      addHits(r.body, `response of ${r.fn}`, canaries, report.secret_hits);
    }
  }
  await scanTables(sql, canaries, report);
  return report;
}

// Test databases: each integration test file gets its own database cloned from a migrated template.
import postgres from "postgres";
import { dbUrl } from "../../stack/config.ts";

/** The migrated template the test runner prepares (stand-ins + every migration, no seed). */
export const TEMPLATE_DB = Deno.env.get("TEST_TEMPLATE_DB") ?? "journeys_template";

/** A postgres.js client. */
export type Sql = postgres.Sql;

function client(database: string, max = 4): Sql {
  return postgres(dbUrl(database), { max, onnotice: () => {}, idle_timeout: 5 });
}

/**
 * Runs `fn` with a fresh database cloned from the template and drops it afterwards. `connect` opens
 * further clients on it (for concurrent claimers).
 */
export async function withTestDb(
  fn: (sql: Sql, connect: () => Sql) => Promise<void>,
): Promise<void> {
  const name = `test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = client("postgres", 1);
  const opened: Sql[] = [];
  try {
    await admin.unsafe(`create database ${name} template ${TEMPLATE_DB}`);
    const sql = client(name);
    opened.push(sql);
    await fn(sql, () => {
      const extra = client(name);
      opened.push(extra);
      return extra;
    });
  } finally {
    await Promise.all(opened.map((c) => c.end({ timeout: 1 })));
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

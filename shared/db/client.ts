// The Postgres client of a function instance: one small pool, reused by every request.
import postgres from "postgres";

/** A postgres.js client. */
export type Sql = postgres.Sql;

/**
 * Opens a pooled client. Prepared statements are used on direct connections and turned off behind
 * Supabase's transaction pooler (port 6543), which cannot keep them.
 */
export function connect(url: string, max: number): Sql {
  const pooler = new URL(url).port === "6543";
  return postgres(url, {
    max,
    prepare: !pooler,
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: "journey-functions" },
  });
}

/**
 * A Postgres array literal (`{"a","b"}`) for an array parameter, cast in SQL (`${pgArray(ids)}::bigint[]`).
 * Sent as text, it does not depend on the client knowing the array type's oid, which a fresh
 * connection may not yet (it then sent a one-element array as a bare scalar).
 */
export function pgArray(values: readonly (string | number | bigint | null)[]): string {
  const element = (v: string | number | bigint | null) =>
    v === null ? "NULL" : `"${String(v).replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  return `{${values.map(element).join(",")}}`;
}

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

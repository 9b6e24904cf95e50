// The SQL calls of the run pipeline: claim a batch, record a batch of outcomes.
import type { Sql } from "../db/client.ts";
import type { Attempt, ModuleRun, RunType } from "./types.ts";

/** Claims up to `limit` due runs of `module` with a lease (public.claim_runs). */
export async function claimRuns(
  sql: Sql,
  module: RunType,
  limit: number,
  leaseSeconds: number,
): Promise<ModuleRun[]> {
  const rows = await sql<ModuleRun[]>`
    select id::int, supplier_id, journey_instance_id, step_id, module_type, status, run_at, attempts,
      max_attempts, idempotency_key, fair_at
    from public.claim_runs(${module}::public.module_type, ${limit}::int, ${leaseSeconds}::int)`;
  return rows;
}

/** Records the outcomes of finished attempts in one call (public.record_outcomes). */
export async function recordOutcomes(
  sql: Sql,
  done: { run: ModuleRun; attempt: Attempt }[],
): Promise<number> {
  const payload = done.map(({ run, attempt }) => ({
    run_id: run.id,
    attempt: run.attempts,
    ...attempt.outcome,
    calls: attempt.calls,
  }));
  const [row] = await sql<{ n: number }[]>`select public.record_outcomes(${
    JSON.stringify(payload)
  }::text::jsonb) as n`;
  return row.n;
}

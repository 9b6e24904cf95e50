// What the form, info, review and referral modules know about a run (public.module_run_context), the
// merge values of its couple, and the outcomes they share.
import type { z } from "zod";
import type { Sql } from "../db/client.ts";
import type { EmailTarget } from "../channels/email.ts";
import type { Attempt } from "../runs/types.ts";
import { formatWeddingDate } from "../time/zones.ts";

/** A run's couple, supplier and email channel, loaded for a whole batch in one query. */
export type RunContext = EmailTarget & {
  client_id: string;
  journey_instance_id: string;
  step_id: string;
  instance_status: string;
  config: unknown;
  couple_name: string;
  phone: string | null;
  /** The couple's zone, or the supplier's when the couple has none. */
  time_zone: string;
  locale: string;
  wedding_date: string | null;
  venue: string | null;
  client_custom: Record<string, unknown>;
  supplier_name: string;
  supplier_time_zone: string;
};

/**
 * Loads the context of each run, joined with a module's own columns: `extra` is a SQL fragment of
 * `left join ... on ... = c.run_id` plus the select list it adds (`columns`).
 */
export async function loadRunContexts<T extends object>(
  sql: Sql,
  ids: number[],
  extra?: { columns: string; joins: string },
): Promise<Map<number, RunContext & T>> {
  const rows = await sql.unsafe<(RunContext & T)[]>(
    `select c.* ${extra ? `, ${extra.columns}` : ""}
     from public.module_run_context($1::bigint[]) c ${extra?.joins ?? ""}`,
    [ids],
  );
  return new Map(rows.map((row) => {
    row.run_id = Number(row.run_id);
    return [row.run_id, row];
  }));
}

/** Merge values every module message can use: `{{couple_name}}`, `{{wedding_date}}`, `{{custom.x}}`... */
export function coupleValues(ctx: RunContext): Record<string, string | null> {
  const values: Record<string, string | null> = {
    couple_name: ctx.couple_name,
    wedding_date: ctx.wedding_date ? formatWeddingDate(ctx.wedding_date, ctx.locale) : null,
    supplier_name: ctx.supplier_name,
    venue: ctx.venue,
  };
  for (const [k, v] of Object.entries(ctx.client_custom ?? {})) {
    values[`custom.${k}`] = typeof v === "string" ? v : String(v);
  }
  return values;
}

/** The run is not carried out, for a reason; the journey moves on. */
export const skipped = (code: string, message: string): Attempt => ({
  outcome: { kind: "skipped", error: { code, message } },
  calls: [],
});

/** The run cannot succeed (configuration, data); it is dead with the reason. */
export const failed = (code: string, message: string): Attempt => ({
  outcome: { kind: "permanent", error: { code, message } },
  calls: [],
});

/** Parses a step config, or fails the run naming every invalid field. */
export function parseStepConfig<S extends z.ZodType>(
  schema: S,
  config: unknown,
  module: string,
): { ok: true; config: z.output<S> } | { ok: false; attempt: Attempt } {
  const parsed = schema.safeParse(config);
  if (parsed.success) return { ok: true, config: parsed.data };
  const why = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  return {
    ok: false,
    attempt: failed("invalid_config", `Cannot run ${module} step: invalid step config: ${why}`),
  };
}

// The vendor app's journey management: step update / delete / reorder, pause / resume / cancel a couple's
// journey, cancel a booking, and a dry run. Each action is one SQL function run as the signed-in user.
import type { Sql } from "../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../http/errors.ts";
import { type UserClaims, userClaims } from "../http/user.ts";
import { parseOr422 } from "../http/validate.ts";
import { journeysRequest } from "../api/journeys.ts";
import { stepConfigSchemas } from "./registry.ts";
import type { ModuleType } from "../runs/types.ts";

/** Largest body read: a reorder of 1,000 steps fits. */
export const MAX_BODY = 64 * 1024;

const PG_ERRORS: Record<string, [number, string]> = {
  P0002: [404, "not_found"],
  "55000": [409, "wrong_state"],
  "22023": [422, "invalid_request"],
  "23505": [409, "conflict"],
  "23514": [422, "check_failed"],
  "42501": [403, "forbidden"],
};

/** `POST /journeys` with `{action, ...}` (see shared/api/journeys.ts). */
export function journeysHandler(deps: { sql: Sql; log?: (line: string) => void }) {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const claims = userClaims(req);
    const body = parseOr422(journeysRequest, parseJson(await readRawBody(req, MAX_BODY)), "journeys request");
    try {
      const result = await withClaims(deps.sql, claims, async (tx) => {
        switch (body.action) {
          case "update_step": {
            let config: unknown = null;
            if (body.config !== undefined) {
              const [step] = await tx<{ module_type: ModuleType }[]>`
                select module_type::text as module_type from public.journey_steps
                where id = ${body.step_id}::uuid and public.is_supplier_member(supplier_id)`;
              if (!step) throw new HttpError(404, "not_found", `Step ${body.step_id} not found`);
              const schema = stepConfigSchemas[step.module_type];
              if (!schema) {
                throw new HttpError(
                  422,
                  "module_not_available",
                  `Module type "${step.module_type}" is not available yet`,
                );
              }
              config = parseOr422(schema, body.config, `${step.module_type} step config`);
            }
            return await one(tx`select public.update_journey_step(${body.step_id}::uuid,
              ${config === null ? null : JSON.stringify(config)}::text::jsonb,
              ${body.timing === undefined ? null : JSON.stringify(body.timing)}::text::jsonb) as r`);
          }
          case "delete_step":
            return await one(
              tx`select public.delete_journey_step(${body.step_id}::uuid, ${body.reason ?? null}) as r`,
            );
          case "reorder_steps":
            return await one(
              tx`select public.reorder_journey_steps(${body.journey_id}::uuid, ${body.step_ids}::uuid[]) as r`,
            );
          case "pause":
            return await one(
              tx`select public.pause_journey_instance(${body.instance_id}::uuid, ${
                body.reason ?? null
              }) as r`,
            );
          case "resume":
            return await one(tx`select public.resume_journey_instance(${body.instance_id}::uuid) as r`);
          case "cancel":
            return await one(
              tx`select public.cancel_journey_instance(${body.instance_id}::uuid, ${
                body.reason ?? null
              }) as r`,
            );
          case "cancel_booking":
            return await one(
              tx`select public.cancel_couple_journeys(${body.client_id}::uuid, ${body.reason ?? null}) as r`,
            );
          case "dry_run":
            return await one(
              tx`select public.journey_dry_run(${body.journey_id}::uuid, ${body.client_id}::uuid,
              ${body.start_at ?? null}::timestamptz) as r`,
            );
        }
      });
      return json(result);
    } catch (error) {
      if (error instanceof HttpError) throw error;
      const code = (error as { code?: string }).code ?? "";
      const known = PG_ERRORS[code];
      if (known) {
        // Messages of these SQLSTATEs are our own (ids and states, no data of other suppliers).
        throw new HttpError(known[0], known[1], (error as Error).message);
      }
      throw error;
    }
  }, deps.log);
}

/**
 * Runs `work` in a transaction with the user's claims set, so auth.uid() is the user, on the function's
 * own role: the journey management SQL functions check membership themselves and are not callable by
 * the API roles (anon, authenticated).
 */
function withClaims<T>(sql: Sql, claims: UserClaims, work: (tx: Sql) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await tx`select set_config('request.jwt.claims', ${JSON.stringify(claims)}, true)`;
    return work(tx as unknown as Sql);
  }) as Promise<T>;
}

async function one(query: Promise<{ r: unknown }[]>): Promise<unknown> {
  const [row] = await query;
  return row.r;
}

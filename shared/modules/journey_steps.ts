// The journey builder's write endpoint for steps: every field validated (zod) before anything is written.
import { z } from "zod";
import type { Sql } from "../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../http/errors.ts";
import { asUser, userClaims } from "../http/user.ts";
import { parseOr422 } from "../http/validate.ts";
import { MODULE_TYPES } from "../runs/types.ts";
import { stepConfigSchemas } from "./registry.ts";
import { stepTiming } from "./timing.ts";

/** Request schema, exported for the fuzz suite's generators. */
export const stepBody = z.strictObject({
  journey_id: z.uuid(),
  position: z.number().int().min(1).max(1000),
  module_type: z.enum(MODULE_TYPES),
  config: z.record(z.string(), z.unknown()),
  timing: stepTiming.default(stepTiming.parse({})),
});

const PG_ERRORS: Record<string, [number, string, string]> = {
  "23505": [409, "position_taken", "The journey already has a step at this position"],
  "23514": [422, "check_failed", "The step was refused by a database check"],
  "42501": [403, "forbidden", "You cannot change this journey"],
};

/** `POST /journey-steps`: creates a step for a journey the signed-in user's supplier owns. */
export function journeyStepsHandler(deps: { sql: Sql; log?: (line: string) => void }) {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const claims = userClaims(req);
    const body = parseOr422(stepBody, parseJson(await readRawBody(req)), "step");
    const schema = stepConfigSchemas[body.module_type];
    if (!schema) {
      throw new HttpError(
        422,
        "module_not_available",
        `Module type "${body.module_type}" is not available yet`,
      );
    }
    const config = parseOr422(schema, body.config, `${body.module_type} step config`);
    try {
      const step = await asUser(deps.sql, claims, async (tx) => {
        const [journey] = await tx<{ supplier_id: string }[]>`
          select supplier_id from public.journeys where id = ${body.journey_id}::uuid`;
        if (!journey) throw new HttpError(404, "journey_not_found", `Journey ${body.journey_id} not found`);
        const [row] = await tx`
          insert into public.journey_steps (journey_id, supplier_id, position, module_type, config, timing)
          values (${body.journey_id}::uuid, ${journey.supplier_id}::uuid, ${body.position},
            ${body.module_type}::public.module_type, ${JSON.stringify(config)}::text::jsonb,
            ${JSON.stringify(body.timing)}::text::jsonb)
          returning id, journey_id, position, module_type, config, timing`;
        return row;
      });
      return json(step, 201);
    } catch (error) {
      const known = PG_ERRORS[(error as { code?: string }).code ?? ""];
      if (known) throw new HttpError(...known);
      throw error;
    }
  }, deps.log);
}

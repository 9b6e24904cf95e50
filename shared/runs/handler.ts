// The HTTP face of a module function: authenticate the kick, then drain the module's due runs.
import { z } from "zod";
import { requireInvokeToken } from "../http/auth.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../http/errors.ts";
import { parseOr422 } from "../http/validate.ts";
import { MissingSecretError, type SecretStore } from "../secrets.ts";
import { drain, type DrainDeps, type DrainOptions, type DrainSummary } from "./drain.ts";

/** Request schema, exported for the fuzz suite's generators. */
export const kickBody = z.strictObject({
  action: z.literal("drain"),
  /** Answer after the drain instead of at once (tests, manual re-drives). */
  wait: z.boolean().optional(),
});

/** What a module function needs. */
export type ModuleHandlerDeps = DrainDeps & {
  secrets: SecretStore;
  options: DrainOptions;
  /** Keeps background work alive after the response (EdgeRuntime.waitUntil on Supabase). */
  waitUntil?: (work: Promise<unknown>) => void;
};

/**
 * Builds the request handler of a module function. `POST {"action":"drain"}` with the invoke token
 * answers 202 at once and drains in the background; with `"wait": true` it answers with the summary.
 * One drain runs per instance at a time; a kick during a drain is absorbed by it.
 */
export function moduleHandler(deps: ModuleHandlerDeps): (req: Request) => Promise<Response> {
  let active: Promise<DrainSummary> | null = null;
  let kicked = false;
  const keepGoing = () => {
    const again = kicked;
    kicked = false;
    return again;
  };
  const start = (): Promise<DrainSummary> => {
    const total: DrainSummary = { claimed: 0, recorded: 0, failed_records: 0, ms: 0 };
    active = (async () => {
      try {
        for (;;) {
          kicked = false;
          const s = await drain(deps, { ...deps.options, keepGoing });
          total.claimed += s.claimed;
          total.recorded += s.recorded;
          total.failed_records += s.failed_records;
          total.ms += s.ms;
          // Checked and cleared in one synchronous step: a kick that arrived while the drain was
          // finishing starts another round instead of being lost.
          if (!kicked) {
            active = null;
            return total;
          }
        }
      } catch (error) {
        active = null;
        throw error;
      }
    })();
    return active;
  };
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    // Without the secret no token can be checked: refuse (401) rather than fail with a 500.
    const secret = await deps.secrets.byName("functions_invoke_secret").catch((error) => {
      if (error instanceof MissingSecretError) return "";
      throw error;
    });
    await requireInvokeToken(req, secret);
    const body = parseOr422(kickBody, parseJson(await readRawBody(req, 4096)), "kick body");
    if (body.wait) {
      if (active) await active.catch(() => undefined);
      return json({ module: deps.options.module, ...(await start()) });
    }
    if (active) {
      kicked = true;
      return json({ module: deps.options.module, status: "already_draining" }, 202);
    }
    const work = start().catch((error) => {
      (deps.log ?? console.error)(`drain of ${deps.options.module} failed: ${(error as Error).message}`);
    });
    deps.waitUntil?.(work);
    return json({ module: deps.options.module, status: "draining" }, 202);
  }, deps.log);
}

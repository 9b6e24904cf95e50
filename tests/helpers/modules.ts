// Fixtures for the form, info, review and referral modules end to end: a supplier wired to the
// simulator's Resend, journeys of module steps, the emails a run sent, and draining a module now.
import { FunctionsHttpError } from "@supabase/functions-js";
import type { Sql } from "./db.ts";
import {
  connectResend,
  createClient,
  createJourney,
  createSupplier,
  startJourney,
  type StepSpec,
} from "./fixtures.ts";
import { invokeToken, sim, supabase, waitFor } from "./stack.ts";

/** An email as the Resend simulator recorded it. */
export type SimEmail = {
  id: string;
  idempotency_key: string | null;
  to: string | string[];
  subject: string;
  html: string;
  text: string;
  tags: { name: string; value: string }[];
};

/** A module run as the tests read it. */
export type RunRow = {
  id: number;
  step_id: string;
  status: string;
  attempts: number;
  run_at: Date;
  provider_message_id: string | null;
  last_error: { code: string; message: string } | null;
  result: Record<string, unknown> | null;
  idempotency_key: string;
};

/** A supplier with its own Resend API key in Vault, a journey of `steps`, and `couples` couples started on it. */
export async function moduleScenario(
  sql: Sql,
  steps: StepSpec[],
  couples: Parameters<typeof createClient>[2][] = [{}],
) {
  const supplierId = await createSupplier(sql);
  await connectResend(sql, supplierId, {
    api_key: `re_test_${crypto.randomUUID().replaceAll("-", "")}`,
    webhook_secret: "whsec_dGVzdA==",
  });
  const { journeyId, stepIds } = await createJourney(sql, supplierId, steps);
  const clientIds: string[] = [];
  for (const c of couples) clientIds.push(await createClient(sql, supplierId, c));
  return {
    supplierId,
    journeyId,
    stepIds,
    clientIds,
    start: (i = 0) => startJourney(sql, supplierId, journeyId, clientIds[i]),
  };
}

/** The runs of a journey instance, oldest first. */
export async function runsOf(sql: Sql, instanceId: string): Promise<RunRow[]> {
  return await sql<RunRow[]>`
    select id::int, step_id::text, status::text, attempts, run_at, provider_message_id, last_error, result,
      idempotency_key
    from public.module_runs where journey_instance_id = ${instanceId}::uuid order by id`;
}

/** Waits until the instance's run of `stepId` satisfies `ok`. */
export function waitForRun(
  sql: Sql,
  instanceId: string,
  stepId: string,
  what: string,
  ok: (r: RunRow) => boolean,
): Promise<RunRow> {
  return waitFor(
    what,
    async () => (await runsOf(sql, instanceId)).find((r) => r.step_id === stepId && ok(r)),
  );
}

/** The emails the simulator accepted for a run. */
export async function emailsFor(runId: number): Promise<SimEmail[]> {
  const all = await sim<SimEmail[]>("/_sim/resend/emails");
  return all.filter((e) => e.tags?.some((t) => t.name === "run" && t.value === String(runId)));
}

/** The first link in an email's HTML whose URL contains `needle`. */
export function linkIn(email: SimEmail, needle: string): string {
  const hrefs = [...email.html.matchAll(/href="([^"]+)"/g)].map((m) => m[1].replaceAll("&amp;", "&"));
  const href = hrefs.find((h) => h.includes(needle));
  if (!href) throw new Error(`no link containing ${needle} in: ${hrefs.join(", ")}`);
  return href;
}

/**
 * Makes the run due now (a waiting run as if its wake time came) and drains `module` the way app code
 * invokes a function, waiting for it.
 */
export async function drainNow(sql: Sql, module: string, runId?: number): Promise<void> {
  if (runId !== undefined) {
    await sql`update public.module_runs set status = 'pending', run_at = now()
      where id = ${runId} and status in ('pending', 'waiting')`;
  }
  const { error } = await (await supabase()).functions.invoke(`module-${module}`, {
    body: { action: "drain", wait: true },
    headers: { Authorization: `Bearer ${await invokeToken(sql)}` },
  });
  if (error) throw error;
}

/** The HTTP status (and body) of a supabase-js function error, or 200 with the data. */
export async function statusOf(
  call: Promise<{ data: unknown; error: unknown }>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const { data, error } = await call;
  if (error instanceof FunctionsHttpError) {
    return { status: error.context.status, body: await error.context.json() };
  }
  if (error) throw error;
  return { status: 200, body: data as Record<string, unknown> };
}

/** The links signing secret of the local stack (tests sign expired tokens with it). */
export async function linksSecret(sql: Sql): Promise<string> {
  const [row] = await sql<{ s: string }[]>`
    select decrypted_secret as s from vault.decrypted_secrets where name = 'links_signing_secret'`;
  return row.s;
}

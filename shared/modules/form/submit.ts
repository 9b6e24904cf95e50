// Completing a form request from a submission (internal endpoint, Typeform, Jotform): the signed token
// names the request, run and couple; only the answers the step maps are stored.
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError } from "../../http/errors.ts";
import { verifyLinkToken } from "../../links/tokens.ts";
import { formStepConfig } from "./config.ts";

/** How a submission ended (public.submit_form). */
export type SubmissionResult = "submitted" | "duplicate" | "already_submitted" | "closed" | "not_found";

/** What completing a form needs. */
export type SubmitDeps = { sql: Sql; linksSecret: () => Promise<string>; now?: () => Date };

/** A submission from one source. */
export type Submission = {
  /** The `journey_token` hidden field / query parameter. */
  token: unknown;
  provider: "internal" | "typeform" | "jotform";
  /** The supplier whose integration received it (webhooks); checked against the request's. */
  supplierId?: string;
  /** The provider's form id, checked against the request's form when given. */
  formId?: string;
  /** The provider's id of this submission (a redelivery is a duplicate); null for internal ones. */
  submissionRef: string | null;
  /** The answer to the provider's field `ref`, or undefined. */
  answer: (ref: string) => unknown;
};

const MAX_ANSWERS_BYTES = 64 * 1024;
const MAX_TEXT = 10_000;
const tokenClaims = z.object({ sub: z.uuid(), run: z.number().int().positive(), cpl: z.uuid() });

/** Keeps an answer as JSON text, numbers, booleans, lists or objects of text; drops anything else. */
function normalize(value: unknown): unknown {
  if (typeof value === "string") return value.trim().slice(0, MAX_TEXT);
  if (typeof value === "number" || typeof value === "boolean") {
    return Number.isFinite(value) ? value : undefined;
  }
  if (Array.isArray(value)) return value.map(normalize).filter((v) => v !== undefined);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value).slice(0, 50)) {
      const n = normalize(v);
      if (n !== undefined && typeof n !== "object") out[k.slice(0, 100)] = n;
    }
    return out;
  }
  return undefined;
}

/**
 * Completes the form request a verified token names. A bad or foreign token → 400, expired → 410,
 * unknown request → 404, a submission for another form or source → 422; nothing is recorded then.
 */
export async function submitForm(deps: SubmitDeps, submission: Submission): Promise<SubmissionResult> {
  const verified = await verifyLinkToken(await deps.linksSecret(), "form", submission.token, deps.now?.());
  const claims = tokenClaims.safeParse(verified);
  if (!claims.success) {
    throw new HttpError(400, "invalid_link", "The form token does not name a form request");
  }
  const { sub, run, cpl } = claims.data;
  const [row] = await deps.sql<{ form_provider: string; form_id: string; config: unknown }[]>`
    select f.form_provider, f.form_id, st.config
    from public.form_requests f
    join public.module_runs r on r.id = f.run_id
    join public.journey_steps st on st.id = r.step_id
    where f.id = ${sub}::uuid and f.run_id = ${run} and f.client_id = ${cpl}::uuid
      and f.supplier_id = coalesce(${submission.supplierId ?? null}::uuid, f.supplier_id)`;
  if (!row) throw new HttpError(404, "form_not_found", "No form request matches this link");
  if (row.form_provider !== submission.provider) {
    throw new HttpError(
      422,
      "wrong_form_source",
      `This form request expects a ${row.form_provider} submission, not ${submission.provider}`,
    );
  }
  if (submission.formId !== undefined && submission.formId !== row.form_id) {
    throw new HttpError(422, "form_mismatch", "The submission is for another form than the one sent");
  }
  const fields = formStepConfig.shape.fields.safeParse((row.config as { fields?: unknown })?.fields);
  if (!fields.success) throw new HttpError(409, "invalid_config", "The form step has no valid field mapping");
  const answers: Record<string, unknown> = {};
  for (const [name, ref] of Object.entries(fields.data)) {
    const value = normalize(submission.answer(ref));
    if (value !== undefined && value !== "") answers[name] = value;
  }
  const payload = JSON.stringify(answers);
  if (new TextEncoder().encode(payload).byteLength > MAX_ANSWERS_BYTES) {
    throw new HttpError(413, "answers_too_large", `The mapped answers exceed ${MAX_ANSWERS_BYTES} bytes`);
  }
  const [done] = await deps.sql<{ result: SubmissionResult }[]>`
    select public.submit_form(${sub}::uuid, ${run}, ${cpl}::uuid, ${submission.provider},
      ${submission.submissionRef}, ${payload}::text::jsonb) as result`;
  return done.result;
}

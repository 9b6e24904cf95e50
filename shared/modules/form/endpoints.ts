// The form module's HTTP endpoints: the internal form endpoint (the vendor's web app), the Typeform
// webhook (signed) and the Jotform webhook (URL token, then the submission re-fetched from Jotform).
import { z } from "zod";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../../http/errors.ts";
import { parseOr422 } from "../../http/validate.ts";
import { connectedIntegration, credential } from "../../integrations.ts";
import { verifyLinkToken } from "../../links/tokens.ts";
import { getJotformSubmission, type JotformAnswer } from "../../providers/forms/jotform.ts";
import type { SecretStore } from "../../secrets.ts";
import { constantTimeEqualText } from "../../webhooks/hmac.ts";
import { WebhookVerificationError } from "../../webhooks/svix.ts";
import { verifyTypeform } from "../../webhooks/typeform.ts";
import { type SubmitDeps, submitForm } from "./submit.ts";

/** The hidden field / query parameter that carries the signed form token. */
export const TOKEN_FIELD = "journey_token";

const supplierParam = z.uuid();

function supplierOf(req: Request): string {
  const supplier = supplierParam.safeParse(new URL(req.url).searchParams.get("supplier"));
  if (!supplier.success) {
    throw new HttpError(400, "invalid_supplier", "Query parameter supplier must be the supplier's uuid");
  }
  return supplier.data;
}

/** Request schema, exported for the fuzz suite's generators. */
export const internalBody = z.strictObject({
  journey_token: z.string().min(1).max(2048),
  answers: z.record(z.string().max(200), z.unknown()),
});

/**
 * `GET /form-submissions?journey_token=...`: what the vendor's form page needs (form, fields, status, due
 * date). `POST /form-submissions {journey_token, answers}`: the internal form's submission. Called by the
 * vendor's web app (Supabase JWT at the gateway); the signed token binds it to the couple and the run.
 */
export function formSubmissionsHandler(deps: SubmitDeps & { log?: (line: string) => void }) {
  return withErrors(async (req) => {
    if (req.method === "GET") {
      const claims = await verifyLinkToken(
        await deps.linksSecret(),
        "form",
        new URL(req.url).searchParams.get(TOKEN_FIELD),
        deps.now?.(),
      );
      const [row] = await deps.sql<
        {
          form_id: string;
          status: string;
          due_at: Date | null;
          overdue: boolean;
          fields: Record<string, string>;
        }[]
      >`
        select f.form_id, f.status, f.due_at, f.overdue_at is not null as overdue, st.config -> 'fields' as fields
        from public.form_requests f
        join public.module_runs r on r.id = f.run_id
        join public.journey_steps st on st.id = r.step_id
        where f.id = ${claims.sub}::uuid and f.form_provider = 'internal'`;
      if (!row) throw new HttpError(404, "form_not_found", "No internal form request matches this link");
      return json({
        form_id: row.form_id,
        status: row.status,
        due_at: row.due_at,
        overdue: row.overdue,
        fields: Object.values(row.fields ?? {}),
      });
    }
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use GET or POST");
    const body = parseOr422(internalBody, parseJson(await readRawBody(req)), "form submission");
    const result = await submitForm(deps, {
      token: body.journey_token,
      provider: "internal",
      submissionRef: null,
      answer: (ref) => Object.hasOwn(body.answers, ref) ? body.answers[ref] : undefined,
    });
    switch (result) {
      case "submitted":
        return json({ status: "submitted" }, 201);
      case "closed":
        throw new HttpError(410, "form_closed", "This form is closed");
      case "not_found":
        throw new HttpError(404, "form_not_found", "No form request matches this link");
      default:
        throw new HttpError(409, "already_submitted", "This form was already submitted");
    }
  }, deps.log);
}

/** What a form webhook receiver needs. */
export type FormWebhookDeps = SubmitDeps & { secrets: SecretStore; log?: (line: string) => void };

/** Request schema, exported for the fuzz suite's generators. */
export const typeformEvent = z.object({
  event_id: z.string().min(1).max(200),
  event_type: z.string().min(1).max(100),
  form_response: z.object({
    form_id: z.string().min(1).max(100),
    hidden: z.record(z.string(), z.unknown()).optional(),
    answers: z.array(
      z.object({
        type: z.string(),
        field: z.object({ id: z.string().optional(), ref: z.string().optional() }).loose(),
      }).loose(),
    ).default([]),
  }).loose(),
});

/** The value of a Typeform answer: its typed field (`text`, `email`, `choice.label`, `choices.labels`...). */
function typeformValue(answer: Record<string, unknown>): unknown {
  const value = answer[answer.type as string];
  if (answer.type === "choice") {
    const c = value as { label?: string; other?: string } | undefined;
    return c?.label ?? c?.other;
  }
  if (answer.type === "choices") {
    const c = value as { labels?: string[]; other?: string } | undefined;
    return [...(c?.labels ?? []), ...(c?.other ? [c.other] : [])];
  }
  return value;
}

/** `POST /webhook-typeform?supplier=<uuid>`: Typeform's form_response, signed with the webhook's secret. */
export function typeformWebhookHandler(deps: FormWebhookDeps) {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const supplier = supplierOf(req);
    const raw = await readRawBody(req);
    const integration = await connectedIntegration(deps.sql, deps.secrets, supplier, "typeform");
    const secret = credential(integration, "webhook_secret");
    if (!secret) {
      throw new HttpError(
        401,
        "webhook_not_configured",
        "No Typeform webhook secret is configured for this supplier",
      );
    }
    try {
      await verifyTypeform(secret, req.headers.get("typeform-signature"), raw);
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        throw new HttpError(401, "invalid_signature", error.message);
      }
      throw error;
    }
    const event = parseOr422(typeformEvent, parseJson(raw), "Typeform event");
    if (event.event_type !== "form_response") return json({ received: true, result: "ignored" });
    const response = event.form_response;
    const token = response.hidden?.[TOKEN_FIELD];
    if (token === undefined) {
      throw new HttpError(422, "no_token", `The response has no ${TOKEN_FIELD} hidden field`);
    }
    const result = await submitForm(deps, {
      token,
      provider: "typeform",
      supplierId: supplier,
      formId: response.form_id,
      submissionRef: event.event_id,
      answer: (ref) => {
        const a = response.answers.find((x) => x.field.ref === ref || x.field.id === ref);
        return a ? typeformValue(a) : undefined;
      },
    });
    // Any settled result is 200, so Typeform stops redelivering it.
    return json({ received: true, result });
  }, deps.log);
}

/**
 * `POST /webhook-jotform?supplier=<uuid>&token=<webhook_token>`: Jotform does not sign webhooks, so the
 * URL carries an unguessable token and the submission is re-fetched through Jotform's API (with the
 * supplier's key) before anything in it is trusted.
 */
export function jotformWebhookHandler(
  deps: FormWebhookDeps & { jotform: { baseUrl: string; timeoutMs: number } },
) {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const supplier = supplierOf(req);
    const given = new URL(req.url).searchParams.get("token") ?? "";
    const raw = await readRawBody(req);
    const integration = await connectedIntegration(deps.sql, deps.secrets, supplier, "jotform");
    const expected = credential(integration, "webhook_token");
    const apiKey = credential(integration, "api_key");
    if (!expected || !apiKey) {
      throw new HttpError(
        401,
        "webhook_not_configured",
        "No Jotform webhook token and API key for this supplier",
      );
    }
    if (!constantTimeEqualText(given, expected)) {
      throw new HttpError(401, "invalid_token", "The webhook URL's token does not match");
    }
    let fields: FormData;
    try {
      fields = await new Response(raw as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": req.headers.get("content-type") ?? "" },
      }).formData();
    } catch {
      throw new HttpError(400, "invalid_body", "Expected Jotform's multipart/form-data webhook body");
    }
    const submissionId = String(fields.get("submissionID") ?? "");
    const formId = String(fields.get("formID") ?? "");
    if (!/^[0-9]{1,30}$/.test(submissionId) || !/^[0-9]{1,30}$/.test(formId)) {
      throw new HttpError(400, "invalid_body", "submissionID and formID must be Jotform ids");
    }
    const fetched = await getJotformSubmission(
      {
        apiKey,
        baseUrl: (integration!.settings.base_url as string | undefined) ?? deps.jotform.baseUrl,
        timeoutMs: deps.jotform.timeoutMs,
      },
      submissionId,
    );
    if (!fetched.ok) {
      // Not confirmed by Jotform: nothing is recorded. A 5xx makes Jotform deliver it again later.
      throw fetched.failure === "transient"
        ? new HttpError(502, "jotform_unavailable", fetched.error.message)
        : new HttpError(422, "submission_not_confirmed", fetched.error.message);
    }
    const submission = fetched.submission;
    if (submission.form_id !== formId) {
      throw new HttpError(422, "form_mismatch", "Jotform reports this submission for another form");
    }
    const answers: JotformAnswer[] = Object.values(submission.answers);
    const answerOf = (name: string) => answers.find((a) => a.name === name)?.answer;
    const result = await submitForm(deps, {
      token: answerOf(TOKEN_FIELD),
      provider: "jotform",
      supplierId: supplier,
      formId: submission.form_id,
      submissionRef: submission.id,
      answer: answerOf,
    });
    return json({ received: true, result });
  }, deps.log);
}

// Jotform adapter: fetches one submission through the API (GET /submission/{id}, APIKEY header), so a
// webhook (which Jotform does not sign) is trusted only once Jotform itself confirms it.
import type { IntegrationCall, RunError } from "../../runs/types.ts";

/** Where and as whom to call Jotform. */
export type JotformAccount = { apiKey: string; baseUrl: string; timeoutMs: number };

/** One answer of a submission, keyed by question id in `answers`. */
export type JotformAnswer = { name?: string; text?: string; type?: string; answer?: unknown };

/** A submission as Jotform's API returns it (`content`). */
export type JotformSubmission = {
  id: string;
  form_id: string;
  status?: string;
  answers: Record<string, JotformAnswer>;
};

/** The submission, or a classified failure. */
export type JotformResult =
  & { call: IntegrationCall }
  & (
    | { ok: true; submission: JotformSubmission }
    | { ok: false; failure: "transient" | "permanent"; error: RunError }
  );

/** Fetches submission `submissionId` with the account's API key. */
export async function getJotformSubmission(
  account: JotformAccount,
  submissionId: string,
): Promise<JotformResult> {
  const started = performance.now();
  const call = (http_status: number | null, error_code: string | null): IntegrationCall => ({
    provider: "jotform",
    operation: "submission.get",
    http_status,
    duration_ms: Math.round(performance.now() - started),
    error_code,
  });
  let res: Response;
  try {
    res = await fetch(
      `${account.baseUrl.replace(/\/$/, "")}/submission/${encodeURIComponent(submissionId)}`,
      {
        headers: { APIKEY: account.apiKey, accept: "application/json" },
        signal: AbortSignal.timeout(account.timeoutMs),
      },
    );
  } catch {
    return {
      ok: false,
      failure: "transient",
      error: { provider: "jotform", code: "no_response", message: "Jotform did not answer" },
      call: call(null, "no_response"),
    };
  }
  let body: { responseCode?: number; message?: string; content?: unknown } = {};
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  const content = body.content as Partial<JotformSubmission> | undefined;
  if (res.ok && body.responseCode === 200 && content && typeof content === "object" && content.answers) {
    return {
      ok: true,
      submission: {
        id: String(content.id),
        form_id: String(content.form_id),
        status: content.status,
        answers: content.answers,
      },
      call: call(res.status, null),
    };
  }
  const status = body.responseCode ?? res.status;
  const error = {
    provider: "jotform",
    http_status: res.status,
    code: `http_${status}`,
    message: `Jotform answered ${status}: ${String(body.message ?? "").slice(0, 200)}`,
  };
  const transient = res.status >= 500 || res.status === 429 || status >= 500 || status === 429;
  return {
    ok: false,
    failure: transient ? "transient" : "permanent",
    error,
    call: call(res.status, error.code),
  };
}

// Jotform adapter: fetches one submission through the API (GET /submission/{id}, APIKEY header), so a
// webhook (which Jotform does not sign) is trusted only once Jotform itself confirms it.
import type { IntegrationCall, RunError } from "../../runs/types.ts";
import { answerFailure, bodyRecord, callProvider, type ErrorReading } from "../http.ts";

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

/**
 * How Jotform reports an error: `responseCode` in the body (which may come with HTTP 200) or the status;
 * 429 and 5xx are worth retrying.
 */
function jotformError(status: number, body: unknown): ErrorReading & { code: string; message: string } {
  const b = bodyRecord(body);
  const code = typeof b.responseCode === "number" ? b.responseCode : status;
  return {
    code: `http_${code}`,
    message: `Jotform answered ${code}: ${String(b.message ?? "").slice(0, 200)}`,
    transient: status >= 500 || status === 429 || code >= 500 || code === 429,
  };
}

/** Fetches submission `submissionId` with the account's API key. A lost answer is transient (a read). */
export async function getJotformSubmission(
  account: JotformAccount,
  submissionId: string,
): Promise<JotformResult> {
  const answer = await callProvider({
    provider: "jotform",
    operation: "submission.get",
    method: "GET",
    url: `${account.baseUrl.replace(/\/$/, "")}/submission/${encodeURIComponent(submissionId)}`,
    headers: { APIKEY: account.apiKey },
    timeoutMs: account.timeoutMs,
    idempotent: true,
    describeError: jotformError,
  });
  if (!answer.ok) {
    return {
      ok: false,
      failure: answer.failure === "permanent" ? "permanent" : "transient",
      error: answer.error,
      call: answer.call,
    };
  }
  const body = bodyRecord(answer.body);
  const content = body.content as Partial<JotformSubmission> | undefined;
  if (body.responseCode === 200 && content && typeof content === "object" && content.answers) {
    return {
      ok: true,
      submission: {
        id: String(content.id),
        form_id: String(content.form_id),
        status: content.status,
        answers: content.answers,
      },
      call: answer.call,
    };
  }
  const reading = jotformError(answer.status, answer.body);
  const failed = answerFailure(
    answer,
    reading.transient ? "transient" : "permanent",
    reading.code,
    reading.message,
  );
  return {
    ok: false,
    failure: reading.transient ? "transient" : "permanent",
    error: failed.error,
    call: failed.call,
  };
}

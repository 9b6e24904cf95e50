// What a provider adapter returns: accepted with the provider's id, or a classified failure.
import type { IntegrationCall, Outcome, RunError } from "../runs/types.ts";

/** A provider call's result. `unknown` means the request may have been acted on (timeout, reset). */
export type SendResult =
  & { call: IntegrationCall }
  & (
    | { ok: true; provider_message_id: string }
    | {
      ok: false;
      failure: "transient" | "permanent" | "unknown";
      error: RunError;
      retry_after_s?: number;
      /** False when an unknown outcome cannot be settled by repeating the request (a batch's). */
      replay_safe?: false;
    }
  );

/** Parses a Retry-After header given in seconds or as an HTTP date; undefined when absent or bad. */
export function retryAfterSeconds(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

/** The run outcome of a failed provider answer: transient retries, permanent ends, unknown waits. */
export function failureOutcome(
  answer: { failure: "transient" | "permanent" | "unknown"; error: RunError; retry_after_s?: number },
  replaySafe: boolean,
): Outcome {
  switch (answer.failure) {
    case "transient":
      return { kind: "transient", error: answer.error, retry_after_s: answer.retry_after_s };
    case "permanent":
      return { kind: "permanent", error: answer.error };
    case "unknown":
      return { kind: "unknown", error: answer.error, replay_safe: replaySafe };
  }
}

/**
 * The run outcome of a provider result. `unknown` is replay-safe when the provider deduplicates a
 * repeated request (an idempotency key, or a receiver keyed on the message id).
 */
export function outcomeOf(
  result: SendResult,
  success: { provider: string; result?: Record<string, unknown> },
  replaySafe: boolean,
): Outcome {
  if (result.ok) {
    return { kind: "succeeded", provider_message_id: result.provider_message_id, ...success };
  }
  return failureOutcome(result, replaySafe);
}

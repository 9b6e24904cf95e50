// Which provider answers mean "these credentials are no good" (the integration is disconnected and its runs
// are held until the vendor replaces them), and which mean the sender itself is not verified.
import type { Sql } from "../db/client.ts";
import type { Attempt, IntegrationCall, RunError } from "../runs/types.ts";

/**
 * True when the provider rejected the credentials themselves: Resend 401/403 `invalid_api_key`, SendGrid
 * and Mailgun 401/403, Twilio 20003, Meta token error 190, Google `invalid_grant`, Calendly and Tave 401.
 * A 403 about an unverified sender is not one of them (see {@link senderUnverified}).
 */
export function credentialsRejected(error: RunError): boolean {
  const status = error.http_status;
  if (senderUnverified(error)) return false;
  switch (error.provider) {
    case "resend":
      return status === 401 || (status === 403 && error.code !== "validation_error");
    case "sendgrid":
    case "mailgun":
    case "tave":
      return status === 401 || status === 403;
    case "twilio":
      return error.code.startsWith("20003") || status === 401;
    case "whatsapp":
      return error.code === "190" || status === 401;
    case "google_calendar":
      return error.code === "invalid_grant";
    case "calendly":
    case "acuity":
      return status === 401;
    default:
      return status === 401;
  }
}

/** True when the provider refused the sender address or domain as not verified (a vendor set-up step). */
export function senderUnverified(error: RunError): boolean {
  if (error.http_status !== 403) return false;
  return /domain is not verified|not verified|verified sender identity|sender identity/i.test(error.message);
}

/** An integration as far as its health goes. */
export type IntegrationHealth = { id: string; provider: string; status_reason?: string | null };

/**
 * The attempt of a run whose only routes are disconnected integrations: held (it keeps its place and its
 * attempts) until `public.release_held_runs` releases it when the credentials are replaced.
 */
export function heldAttempt(rows: IntegrationHealth[], calls: IntegrationCall[] = []): Attempt {
  const first = rows[0];
  const names = [...new Set(rows.map((r) => r.provider))].join(", ");
  return {
    outcome: {
      kind: "held",
      error: {
        code: "integration_disconnected",
        provider: first.provider,
        integration_id: first.id,
        integration_ids: rows.map((r) => r.id),
        message: `Held: ${names} ${rows.length > 1 ? "are" : "is"} disconnected (${
          first.status_reason ?? "the provider rejected the credentials"
        }); it goes out by itself once the credentials are replaced`,
      },
    },
    calls,
  };
}

/**
 * Marks the integration disconnected (public.integration_rejected: once, with one notification to the
 * vendor). `seenSince` is the status_since loaded with the credentials used: a reconnect since wins.
 */
export async function rejectCredentials(
  sql: Sql,
  integrationId: string,
  error: RunError,
  seenSince?: string | null,
): Promise<void> {
  await sql`select public.integration_rejected(${integrationId}::uuid, ${error.code}, ${error.message},
    ${seenSince ?? null}::text::timestamptz)`;
}

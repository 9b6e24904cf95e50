// The email channel of the form, info, review and referral modules: checks that the couple can be
// emailed and that the vendor's Resend is set up, then sends through the Resend adapter.
import { failed, type RunContext, sendFailure, skipped } from "../modules/context.ts";
import { type EmailMessage, sendResendEmail } from "../providers/email/resend.ts";
import type { SendResult } from "../providers/result.ts";
import type { RenderedEmail } from "../render/template.ts";
import type { Attempt, IntegrationCall, RunError } from "../runs/types.ts";
import type { SecretStore } from "../secrets.ts";

/** What the email channel needs. */
export type EmailChannelDeps = { secrets: SecretStore; resend: { baseUrl: string; timeoutMs: number } };

/** What happened to one message. */
export type ChannelResult =
  | {
    status: "sent";
    provider: string;
    provider_message_id: string;
    recipient: string;
    call: IntegrationCall;
  }
  /** The couple cannot receive it on this channel (no address, no consent, suppressed): skip with why. */
  | { status: "unreachable"; error: RunError }
  /** The vendor's set-up is incomplete: retrying cannot help until it is fixed. */
  | { status: "misconfigured"; error: RunError }
  | { status: "failed"; result: Extract<SendResult, { ok: false }> };

/** Whether the couple can be emailed at all; the reason when not. */
export function emailUnreachable(ctx: RunContext): RunError | null {
  if (!ctx.email) return { code: "no_recipient", message: "The couple has no email address" };
  if (ctx.consent?.email === false) {
    return { code: "no_consent", message: "The couple has not agreed to email" };
  }
  if (ctx.email_suppressed) {
    return {
      code: "suppressed",
      message: "The address is on the supplier's suppression list (bounce, complaint or unsubscribe)",
    };
  }
  return null;
}

/**
 * Emails the couple through the vendor's Resend account with `idempotencyKey` (one key per distinct
 * message: a replay after an unknown outcome returns the original email instead of a second one).
 */
export async function emailCouple(
  deps: EmailChannelDeps,
  ctx: RunContext,
  content: RenderedEmail,
  idempotencyKey: string,
  tags: Record<string, string>,
): Promise<ChannelResult> {
  const unreachable = emailUnreachable(ctx);
  if (unreachable) return { status: "unreachable", error: unreachable };
  if (!ctx.resend_secret_id || ctx.resend_status !== "connected") {
    return {
      status: "misconfigured",
      error: {
        code: "integration_missing",
        message: "Cannot send email: Resend is not connected for this supplier",
      },
    };
  }
  const from = ctx.email_from ?? (ctx.resend_settings?.from as string | undefined);
  if (!from) {
    return {
      status: "misconfigured",
      error: {
        code: "no_sender",
        message: "Cannot send email: the supplier has no sender address (email_from)",
      },
    };
  }
  let apiKey: unknown;
  try {
    apiKey = JSON.parse(await deps.secrets.byId(ctx.resend_secret_id)).api_key;
  } catch {
    apiKey = undefined;
  }
  if (typeof apiKey !== "string" || apiKey === "") {
    return {
      status: "misconfigured",
      error: {
        code: "credentials_missing",
        message: "Cannot send email: the Resend secret in Vault has no api_key",
      },
    };
  }
  const message: EmailMessage = {
    from,
    to: ctx.email!,
    subject: content.subject,
    html: content.html,
    text: content.text,
    reply_to: ctx.reply_to ?? undefined,
    tags: Object.entries(tags).map(([name, value]) => ({ name, value })),
  };
  const baseUrl = (ctx.resend_settings?.base_url as string | undefined) ?? deps.resend.baseUrl;
  const result = await sendResendEmail(
    { apiKey, baseUrl, timeoutMs: deps.resend.timeoutMs },
    message,
    idempotencyKey,
  );
  if (!result.ok) return { status: "failed", result };
  return {
    status: "sent",
    provider: "resend",
    provider_message_id: result.provider_message_id,
    recipient: ctx.email!,
    call: result.call,
  };
}

/** A message the channel sent. */
export type Sent = Extract<ChannelResult, { status: "sent" }>;

/** The succeeded outcome of a sent email (record_outcomes writes its delivery). */
export function delivered(sent: Sent) {
  return {
    kind: "succeeded" as const,
    provider: sent.provider,
    provider_message_id: sent.provider_message_id,
    channel: "email" as const,
    recipient: sent.recipient,
  };
}

/**
 * The attempt of a message that was not sent: skipped when the couple cannot be reached, dead when the
 * vendor's set-up is incomplete, else as the provider's failure says (retry, dead, or reconcile).
 */
export function notSent(result: Exclude<ChannelResult, Sent>): Attempt {
  switch (result.status) {
    case "unreachable":
      return skipped(result.error.code, result.error.message);
    case "misconfigured":
      return failed(result.error.code, result.error.message);
    case "failed":
      return { outcome: sendFailure(result.result), calls: [result.result.call] };
  }
}

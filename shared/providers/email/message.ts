// What every email adapter sends and how it is called: one rendered message, one provider account.
import type { SendResult } from "../result.ts";

/** An email ready to send (already rendered and escaped). */
export type EmailMessage = {
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  reply_to?: string;
  tags: { name: string; value: string }[];
  headers?: Record<string, string>;
};

/** The email providers the email module can send through. */
export const EMAIL_PROVIDERS = ["resend", "sendgrid", "mailgun"] as const;
/** One email provider. */
export type EmailProvider = typeof EMAIL_PROVIDERS[number];

/**
 * Sends one email for a run. `runKey` is the run's idempotency key: Resend deduplicates on it; SendGrid
 * and Mailgun have no idempotency key, so it travels as a custom argument / variable and comes back in
 * their webhooks.
 */
export type EmailSend = (message: EmailMessage, runKey: string) => Promise<SendResult>;

/** Sends several emails in one provider request (`batchKey`: the request's idempotency key), one result each. */
export type EmailBatchSend = (
  messages: { message: EmailMessage; runKey: string }[],
  batchKey: string,
) => Promise<SendResult[]>;

// The one email channel of every module (email, form, info, review, referral, meeting): consent and
// suppressions, the supplier's providers in failover order behind the shared provider gate (circuit and
// rate), RFC 8058 one-click unsubscribe on anything not strictly transactional, the run's idempotency key,
// unknown outcomes pinned to their provider, and integration health: credentials the provider rejects
// disconnect the integration, and a message with no other route is held until they are replaced.
import { pgArray, type Sql } from "../db/client.ts";
import {
  type EmailRoute,
  emailRoute,
  type IntegrationRow,
  type ProviderUrls,
} from "../modules/email/routes.ts";
import { signUnsubscribeToken, unsubscribeKey, unsubscribeUrl } from "../modules/email/unsubscribe_token.ts";
import {
  credentialsRejected,
  heldAttempt,
  rejectCredentials,
  senderUnverified,
} from "../providers/credentials.ts";
import type { EmailMessage } from "../providers/email/message.ts";
import {
  type AccountRef,
  type CircuitOptions,
  type GateDecision,
  providerGate,
  providerReport,
} from "../providers/gate.ts";
import { rateLimitedOutcome } from "../providers/rate.ts";
import type { SendResult } from "../providers/result.ts";
import type { Attempt, IntegrationCall, Outcome, RunError } from "../runs/types.ts";
import type { SecretStore } from "../secrets.ts";

/** What the channel needs from its function (built once per function instance). */
export type EmailChannelConfig = {
  sql: Sql;
  secrets: SecretStore;
  providers: ProviderUrls;
  /** Public base URL of the functions, for the unsubscribe link. */
  functionsUrl: string;
  circuit: CircuitOptions;
  /** Longest a send waits in-process for its rate slot; a later slot defers the run instead. */
  maxRateWaitS?: number;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
};

/** A supplier's email integration as loaded with a run, whatever its health. */
export type EmailIntegration = IntegrationRow & {
  status: "connected" | "failing" | "disconnected";
  status_code: string | null;
  status_reason: string | null;
  status_since: string;
};

/** Who the message goes to and through which of the supplier's providers (loaded with the run). */
export type EmailTarget = {
  run_id: number;
  supplier_id: string;
  email: string | null;
  consent: Record<string, unknown> | null;
  suppression: { reason: string; created_at: string } | null;
  email_from: string | null;
  reply_to: string | null;
  /** In failover order (priority), every status. */
  email_integrations: EmailIntegration[];
  /** The provider an earlier attempt had an unknown outcome with: the message may only go there. */
  pinned_provider: string | null;
  /** The run's attempt (1: its first); only a first attempt's email may share a batch request. */
  attempt?: number;
};

/** The rendered message. */
export type EmailContent = { subject: string; html: string; text: string };

export type SendOptions = {
  /** The provider idempotency key / request tag: the run key, or one derived from it per message. */
  key: string;
  /** Transactional messages (a form link the couple asked for, a meeting invite) carry no unsubscribe. */
  transactional: boolean;
  tags: Record<string, string>;
};

/** A message the channel sent. */
export type Sent = {
  provider: string;
  provider_message_id: string;
  recipient: string;
  calls: IntegrationCall[];
};

/** Sent, or the attempt that says why not (skipped, held, deferred, retry, dead, unknown). */
export type ChannelResult = { sent: Sent } | { attempt: Attempt };

/** Sends for one claimed batch: routes (credentials, settings) are built once per batch. */
export type EmailBatch = {
  /** Why the couple cannot be emailed at all (skipped), or null. */
  unreachable(target: EmailTarget, transactional: boolean): Attempt | null;
  /** The one-click unsubscribe link of a run (also for the message body). */
  unsubscribeLink(target: EmailTarget): Promise<string>;
  send(target: EmailTarget, content: EmailContent, options: SendOptions): Promise<ChannelResult>;
};

export type EmailChannel = { batch(): EmailBatch };

const SUPPRESSION_REASONS: Record<string, string> = {
  bounced: "an earlier email to it bounced",
  complained: "the recipient marked an earlier email as spam",
  unsubscribed: "the recipient unsubscribed",
  manual: "the supplier suppressed it",
};

/**
 * How long an email waits for others through the same account to share one batch request. Runs claimed
 * together start together, so a drain's sends gather within a tick; a lone send waits this long.
 */
export const BATCH_GATHER_MS = 2;

/** The gate's answer for one email and, when it was sent, the provider's result for it. */
type Admitted = { gate: GateDecision; result?: SendResult };

/** An email waiting for its account's next batch request. */
type Waiting = {
  runId: number;
  message: EmailMessage;
  key: string;
  done: (admitted: Admitted) => void;
  failed: (error: unknown) => void;
};

/** Emails gathering for one request through one account. */
type Gathering = { route: EmailRoute; ref: AccountRef; circuit: CircuitOptions; waiting: Waiting[] };

/** The idempotency key of a batch request: the same emails in the same order give the same key. */
async function batchKeyOf(keys: string[]): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(keys.join("\n")));
  return `batch-${Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

const attempt = (outcome: Outcome, calls: IntegrationCall[] = []): { attempt: Attempt } => ({
  attempt: { outcome, calls },
});

/** The succeeded outcome of a sent email (record_outcomes writes its delivery). */
export function delivered(
  sent: Sent,
  result?: Record<string, unknown>,
): Extract<Outcome, { kind: "succeeded" | "waiting" }> {
  return {
    kind: "succeeded",
    provider: sent.provider,
    provider_message_id: sent.provider_message_id,
    channel: "email",
    recipient: sent.recipient,
    ...(result ? { result } : {}),
  };
}

/** The email channel of a function instance. */
export function emailChannel(config: EmailChannelConfig): EmailChannel {
  const { sql } = config;
  const now = config.now ?? (() => new Date());
  const sleep = config.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const maxRateWaitS = config.maxRateWaitS ?? 5;
  // The Vault store caches the secret (and picks up a rotation); deriving the key is a single HMAC.
  let keyOf: { secret: string; key: Promise<CryptoKey> } | undefined;
  const key = async () => {
    const secret = await config.secrets.byName("functions_invoke_secret");
    if (keyOf?.secret !== secret) keyOf = { secret, key: unsubscribeKey(secret) };
    return keyOf.key;
  };

  /** Reports a request's result to its account's circuit and rate state (once per request). */
  async function report(ref: AccountRef, circuit: CircuitOptions, gate: GateDecision, result: SendResult) {
    if (result.ok || result.failure === "permanent") {
      // The provider answered: it is up. A clean, closed circuit needs no write: the common case costs none.
      if (gate.circuit !== "closed" || gate.consecutive_failures > 0) {
        await providerReport(sql, ref, "success", circuit);
      }
    } else if (result.failure === "unknown") {
      await providerReport(sql, ref, "failure", circuit, result.error);
    } else if (result.error.http_status === 429) {
      // The account's bucket now owes Retry-After.
      await providerReport(sql, ref, "rate_limited", circuit, result.error, result.retry_after_s);
    } else {
      await providerReport(sql, ref, "failure", circuit, result.error);
    }
  }

  /** One request through an account: its gate (circuit and rate slot), the call, its report. */
  async function request(
    g: Omit<Gathering, "waiting">,
    send: () => Promise<SendResult[]>,
  ): Promise<{ gate: GateDecision; results?: SendResult[] }> {
    const gate = await providerGate(sql, g.ref, g.route.intervalS, maxRateWaitS);
    if (gate.decision !== "send") return { gate };
    if (gate.wait_s > 0) await sleep(gate.wait_s * 1000);
    const results = await send();
    // A batch's results share its answer: an email sent says the provider is up.
    const lead = results.find((r) => r.ok) ?? results.find((r) => !r.ok && r.failure === "permanent") ??
      results[0];
    await report(g.ref, g.circuit, gate, lead);
    return { gate, results };
  }

  // Emails gathering for a batch request, per integration (and its credentials' version).
  const gathering = new Map<string, Gathering>();

  /** Sends the emails gathered for one request: alone with the run's key, or as a batch with the batch's. */
  async function flush(g: Gathering): Promise<void> {
    const items = g.waiting;
    try {
      const done = items.length === 1
        ? await request(g, async () => [await g.route.send(items[0].message, items[0].key)])
        : await request(g, async () => {
          const batchKey = await batchKeyOf(items.map((i) => i.key));
          // Before the request: a worker that dies after it leaves these runs unknown, never resent.
          await sql`select public.mark_provider_batch(${
            pgArray(items.map((i) => i.runId))
          }::bigint[], ${batchKey})`;
          return await g.route.sendBatch!(
            items.map((i) => ({ message: i.message, runKey: i.key })),
            batchKey,
          );
        });
      items.forEach((item, i) => item.done({ gate: done.gate, result: done.results?.[i] }));
    } catch (error) {
      for (const item of items) item.failed(error);
    }
  }

  /**
   * Admits one email through a route. A first attempt through a route with a batch endpoint waits up to
   * `BATCH_GATHER_MS` for others through the same integration and shares their request (one rate slot,
   * one call); a retry goes alone with the run's own key, as its earlier attempt may have.
   */
  function admit(
    target: EmailTarget,
    route: EmailRoute,
    row: EmailIntegration,
    circuit: CircuitOptions,
    message: EmailMessage,
    key: string,
  ): Promise<Admitted> {
    const ref = { provider: route.provider, account: route.account, supplierId: target.supplier_id };
    if (!route.sendBatch || target.attempt !== 1 || target.pinned_provider) {
      return request({ route, ref, circuit }, async () => [await route.send(message, key)])
        .then(({ gate, results }) => ({ gate, result: results?.[0] }));
    }
    const id = `${row.id}\u0000${row.status_since}`;
    // Sends a gathering once: when it is full, or when its time is up if it is still open then.
    const close = (g: Gathering) => {
      if (gathering.get(id) !== g) return;
      gathering.delete(id);
      flush(g);
    };
    return new Promise<Admitted>((done, failed) => {
      let g = gathering.get(id);
      if (!g) {
        const fresh: Gathering = { route, ref, circuit, waiting: [] };
        gathering.set(id, g = fresh);
        setTimeout(() => close(fresh), BATCH_GATHER_MS);
      }
      g.waiting.push({ runId: target.run_id, message, key, done, failed });
      if (g.waiting.length >= (route.maxBatch ?? 1)) close(g);
    });
  }

  /**
   * Sends through the routes in order. Moves on only when a provider certainly did not take the email
   * (an HTTP error answer, a refused connection, rejected credentials) or its circuit is open; an unknown
   * outcome stops here and pins the run to that provider, so the email can never go out through two.
   */
  async function sendInOrder(
    target: EmailTarget,
    routes: { route: EmailRoute; row: EmailIntegration }[],
    disconnected: EmailIntegration[],
    build: (route: EmailRoute) => EmailMessage,
    key: string,
  ): Promise<ChannelResult> {
    const calls: IntegrationCall[] = [];
    let lastError: RunError | undefined;
    let retryAfter: number | undefined;
    let permanent: RunError | undefined;
    for (const { route, row } of routes) {
      const circuit = { ...config.circuit, cooldownS: route.circuitCooldownS ?? config.circuit.cooldownS };
      const { gate, result } = await admit(target, route, row, circuit, build(route), key);
      if (gate.decision === "open") {
        lastError = {
          provider: route.provider,
          code: "circuit_open",
          message: `${route.provider} is paused after repeated failures (circuit open)`,
        };
        retryAfter = Math.min(retryAfter ?? Infinity, gate.wait_s);
        continue;
      }
      if (gate.decision === "wait" || !result) {
        // Our own rate limit is back-pressure, not a failure: wait for this provider's slot.
        return attempt(
          { kind: "deferred", defer_until: new Date(now().getTime() + gate.wait_s * 1000) },
          calls,
        );
      }
      calls.push(result.call);
      if (result.ok) {
        return {
          sent: {
            provider: route.provider,
            provider_message_id: result.provider_message_id,
            recipient: target.email!,
            calls,
          },
        };
      }
      if (result.failure === "permanent") {
        // Rejected credentials or an unverified sender are the account's problem, not the message's:
        // tell the vendor and try the next provider.
        if (credentialsRejected(result.error)) {
          await rejectCredentials(sql, row.id, result.error, row.status_since);
          disconnected.push({ ...row, status: "disconnected", status_reason: result.error.message });
          continue;
        }
        if (senderUnverified(result.error)) {
          await sql`select public.notify_supplier(${target.supplier_id}::uuid, 'sending_domain_unverified',
            ${`sending_domain_unverified:${row.id}`}, ${
            JSON.stringify({ integration_id: row.id, provider: row.provider, reason: result.error.message })
          }::text::jsonb)`;
          permanent ??= result.error;
          continue;
        }
        return attempt({ kind: "permanent", error: result.error }, calls);
      }
      if (result.failure === "unknown") {
        return attempt({
          kind: "unknown",
          error: result.error,
          provider: route.provider,
          // Resend deduplicates on the idempotency key: replaying it settles the outcome (not a batch's:
          // another attempt would be another request, so its outcome is settled by Resend's events).
          replay_safe: route.provider === "resend" && result.replay_safe !== false,
        }, calls);
      }
      if (result.error.http_status === 429) {
        // The run waits for the account's Retry-After without using an attempt.
        return attempt(rateLimitedOutcome({ now }, result), calls);
      }
      lastError = result.error;
      retryAfter = result.retry_after_s;
    }
    if (!lastError && permanent) return attempt({ kind: "permanent", error: permanent }, calls);
    if (!lastError && disconnected.length > 0) return { attempt: heldAttempt(disconnected, calls) };
    if (calls.length === 0 && lastError?.code === "circuit_open" && retryAfter !== undefined) {
      // Every provider is paused and none was called: like our own rate limit, that is back-pressure, not
      // a failed attempt. Counting it would kill every queued email within a few cooldowns of an outage.
      return attempt({
        kind: "deferred",
        defer_until: new Date(now().getTime() + retryAfter * 1000),
        error: lastError,
      }, calls);
    }
    return attempt({
      kind: "transient",
      error: lastError ?? { code: "no_provider", message: "No email provider could take the email" },
      retry_after_s: retryAfter === Infinity ? undefined : retryAfter,
    }, calls);
  }

  return {
    batch(): EmailBatch {
      const built = new Map<string, Promise<EmailRoute | RunError>>();
      const routeOf = (row: IntegrationRow) => {
        let route = built.get(row.id);
        if (!route) built.set(row.id, route = emailRoute(row, config.secrets, config.providers));
        return route;
      };
      const unsubscribeLink = async (target: EmailTarget) =>
        unsubscribeUrl(
          config.functionsUrl,
          await signUnsubscribeToken(await key(), target.supplier_id, target.run_id),
        );

      function unreachable(target: EmailTarget, transactional: boolean): Attempt | null {
        const skip = (code: string, message: string): Attempt => ({
          outcome: { kind: "skipped", error: { code, message } },
          calls: [],
        });
        if (!target.email) return skip("no_recipient", "The couple has no email address");
        if (target.consent?.email === false) return skip("no_consent", "The couple has not agreed to email");
        const s = target.suppression;
        // An unsubscribe stops what is not transactional; a bounce, complaint or manual suppression stops all.
        if (s && !(transactional && s.reason === "unsubscribed")) {
          const why = SUPPRESSION_REASONS[s.reason] ?? s.reason;
          return skip(
            "suppressed",
            `Not sent: the address is on the supplier's suppression list since ${
              String(s.created_at).slice(0, 10)
            } (${why})`,
          );
        }
        return null;
      }

      return {
        unreachable,
        unsubscribeLink,
        async send(target, content, options) {
          const refused = unreachable(target, options.transactional);
          if (refused) return { attempt: refused };
          // A run whose send had an unknown outcome stays with that provider until the outcome is known.
          const rows = target.pinned_provider
            ? target.email_integrations.filter((i) => i.provider === target.pinned_provider)
            : target.email_integrations;
          if (rows.length === 0) {
            return attempt({
              kind: "permanent",
              error: {
                code: "integration_missing",
                message: target.pinned_provider
                  ? `Cannot send email: the earlier attempt through ${target.pinned_provider} has an unknown outcome and ${target.pinned_provider} is no longer connected`
                  : "Cannot send email: no email provider (Resend, SendGrid, Mailgun) is connected for this supplier",
              },
            });
          }
          const disconnected = rows.filter((r) => r.status === "disconnected");
          const routes: { route: EmailRoute; row: EmailIntegration }[] = [];
          let routeError: RunError | undefined;
          for (const row of rows) {
            if (row.status === "disconnected") continue;
            const route = await routeOf(row);
            if (!("send" in route)) routeError ??= route;
            else if (target.email_from || route.from) routes.push({ route, row });
            else {routeError ??= {
                code: "no_sender",
                message: "Cannot send email: the supplier has no sender address (email_from)",
              };}
          }
          if (routes.length === 0) {
            if (disconnected.length > 0 && !routeError) return { attempt: heldAttempt(disconnected) };
            return attempt({ kind: "permanent", error: routeError! });
          }
          const link = options.transactional ? undefined : await unsubscribeLink(target);
          const tags = Object.entries(options.tags).map(([name, value]) => ({ name, value }));
          return await sendInOrder(target, routes, [...disconnected], (route) => ({
            from: target.email_from ?? route.from!,
            to: target.email!,
            subject: content.subject,
            html: content.html,
            text: content.text,
            reply_to: target.reply_to ?? undefined,
            tags,
            // RFC 8058 one-click unsubscribe: mailbox providers POST to the link.
            headers: link
              ? { "List-Unsubscribe": `<${link}>`, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" }
              : undefined,
          }), options.key);
        },
      };
    },
  };
}

/** The attempt of a result that was not sent, with the calls made before (e.g. a calendar booking). */
export function notSent(result: { attempt: Attempt }, calls: IntegrationCall[] = []): Attempt {
  return { outcome: result.attempt.outcome, calls: [...calls, ...result.attempt.calls] };
}

// The email module: load each run's couple, supplier, template and providers, apply the checks and the
// send window, render in the supplier's branding with a one-click unsubscribe, and send through the
// supplier's providers in order: failing over on transient failures or open circuits, exactly once.
import type { Sql } from "../../db/client.ts";
import { pgArray } from "../../db/client.ts";
import { EMAIL_PROVIDERS, type EmailMessage } from "../../providers/email/message.ts";
import {
  type CircuitOptions,
  type GateDecision,
  providerGate,
  providerReport,
} from "../../providers/gate.ts";
import type { SendResult } from "../../providers/result.ts";
import type { Brand } from "../../render/brand.ts";
import { TemplateError } from "../../render/template.ts";
import type {
  Attempt,
  IntegrationCall,
  ModuleExecutor,
  ModuleRun,
  Outcome,
  RunError,
} from "../../runs/types.ts";
import type { SecretStore } from "../../secrets.ts";
import type { BusinessHours } from "../../time/zones.ts";
import { composeEmail } from "./compose.ts";
import { emailStepConfig } from "./config.ts";
import { type EmailRoute, emailRoute, type IntegrationRow, type ProviderUrls } from "./routes.ts";
import { sendWindow } from "./send_window.ts";
import { signUnsubscribeToken, unsubscribeKey, unsubscribeUrl } from "./unsubscribe_token.ts";

/** Everything one email run needs, loaded for a whole batch in one query. */
type EmailContext = {
  run_id: number;
  pinned_provider: string | null;
  instance_status: string;
  config: unknown;
  couple_name: string;
  email: string | null;
  locale: string;
  couple_time_zone: string | null;
  wedding_date: string | null;
  venue: string | null;
  client_custom: Record<string, unknown>;
  consent: Record<string, unknown>;
  supplier_name: string;
  supplier_time_zone: string;
  business_hours: BusinessHours;
  brand: Brand;
  email_from: string | null;
  reply_to: string | null;
  template_subject: string | null;
  template_html: string | null;
  template_text: string | null;
  integrations: IntegrationRow[];
  suppression: { reason: string; created_at: string } | null;
};

/** What the email module needs from its function. */
export type EmailModuleDeps = {
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

const skip = (code: string, message: string): Attempt => ({
  outcome: { kind: "skipped", error: { code, message } },
  calls: [],
});
const fail = (code: string, message: string): Attempt => ({
  outcome: { kind: "permanent", error: { code, message } },
  calls: [],
});

const SUPPRESSION_REASONS: Record<string, string> = {
  bounced: "an earlier email to it bounced",
  complained: "the recipient marked an earlier email as spam",
  unsubscribed: "the recipient unsubscribed",
  manual: "the supplier suppressed it",
};

async function loadContexts(sql: Sql, ids: number[]): Promise<Map<number, EmailContext>> {
  const rows = await sql<EmailContext[]>`
    select * from public.email_run_contexts(${pgArray(ids)}::bigint[], ${pgArray(EMAIL_PROVIDERS)}::text[])`;
  return new Map(rows.map((row) => [row.run_id, row]));
}

function accepted(result: SendResult & { ok: true }, provider: string, recipient: string): Outcome {
  return {
    kind: "succeeded",
    provider,
    provider_message_id: result.provider_message_id,
    channel: "email",
    recipient,
  };
}

/** The email module's executor. */
export function emailExecutor(deps: EmailModuleDeps): ModuleExecutor {
  const now = deps.now ?? (() => new Date());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const maxRateWaitS = deps.maxRateWaitS ?? 5;
  // The Vault store caches the secret (and picks up a rotation); deriving the key is a single HMAC.
  const key = async () => unsubscribeKey(await deps.secrets.byName("functions_invoke_secret"));

  /**
   * Sends through the routes in order. Moves on only when a provider certainly did not take the email
   * (an HTTP error answer, a refused connection) or its circuit is open; an unknown outcome stops here
   * and pins the run to that provider, so the email can never go out through two providers.
   */
  async function sendInOrder(
    run: ModuleRun,
    routes: EmailRoute[],
    build: (route: EmailRoute) => EmailMessage,
    recipient: string,
  ): Promise<Attempt> {
    const calls: IntegrationCall[] = [];
    let lastError: RunError | undefined;
    let retryAfter: number | undefined;
    for (const route of routes) {
      const ref = { provider: route.provider, account: route.account, supplierId: run.supplier_id };
      const circuit = { ...deps.circuit, cooldownS: route.circuitCooldownS ?? deps.circuit.cooldownS };
      const gate: GateDecision = await providerGate(deps.sql, ref, route.intervalS, maxRateWaitS);
      if (gate.decision === "open") {
        lastError = {
          provider: route.provider,
          code: "circuit_open",
          message: `${route.provider} is paused after repeated failures (circuit open)`,
        };
        retryAfter = Math.min(retryAfter ?? Infinity, gate.wait_s);
        continue;
      }
      if (gate.decision === "wait") {
        // Our own rate limit is back-pressure, not a failure: wait for this provider's slot.
        return {
          outcome: { kind: "deferred", defer_until: new Date(now().getTime() + gate.wait_s * 1000) },
          calls,
        };
      }
      if (gate.wait_s > 0) await sleep(gate.wait_s * 1000);
      const result = await route.send(build(route), run.idempotency_key);
      calls.push(result.call);
      // A clean, closed circuit needs no write on success: the common case costs no extra statement.
      const mustReport = gate.circuit !== "closed" || gate.consecutive_failures > 0;
      if (result.ok) {
        if (mustReport) await providerReport(deps.sql, ref, "success", circuit);
        return { outcome: accepted(result, route.provider, recipient), calls };
      }
      if (result.failure === "permanent") {
        // The provider answered: it is up, and the email itself is what it refused.
        if (mustReport) await providerReport(deps.sql, ref, "success", circuit);
        return { outcome: { kind: "permanent", error: result.error }, calls };
      }
      if (result.failure === "unknown") {
        await providerReport(deps.sql, ref, "failure", circuit, result.error);
        return {
          outcome: {
            kind: "unknown",
            error: result.error,
            provider: route.provider,
            // Resend deduplicates on the run's idempotency key: replaying it is how the outcome is settled.
            replay_safe: route.provider === "resend",
          },
          calls,
        };
      }
      if (result.error.http_status === 429) {
        await providerReport(deps.sql, ref, "rate_limited", circuit, result.error, result.retry_after_s);
        return {
          outcome: { kind: "transient", error: result.error, retry_after_s: result.retry_after_s },
          calls,
        };
      }
      await providerReport(deps.sql, ref, "failure", circuit, result.error);
      lastError = result.error;
      retryAfter = result.retry_after_s;
    }
    if (calls.length === 0 && lastError?.code === "circuit_open" && retryAfter !== undefined) {
      // Every provider is paused and none was called: like our own rate limit, that is back-pressure, not
      // a failed attempt. Counting it would kill every queued email within a few cooldowns of an outage.
      return {
        outcome: {
          kind: "deferred",
          defer_until: new Date(now().getTime() + retryAfter * 1000),
          error: lastError,
        },
        calls,
      };
    }
    return {
      outcome: {
        kind: "transient",
        error: lastError ?? { code: "no_provider", message: "No email provider could take the email" },
        retry_after_s: retryAfter === Infinity ? undefined : retryAfter,
      },
      calls,
    };
  }

  return {
    async prepare(runs) {
      const contexts = await loadContexts(deps.sql, runs.map((r) => r.id));
      // A batch's runs mostly share their steps and their suppliers' integrations: parse and build once.
      const configs = new Map<string, ReturnType<typeof emailStepConfig.safeParse>>();
      const stepConfig = (stepId: string, config: unknown) => {
        let parsed = configs.get(stepId);
        if (!parsed) configs.set(stepId, parsed = emailStepConfig.safeParse(config));
        return parsed;
      };
      const builtRoutes = new Map<string, Promise<EmailRoute | RunError>>();
      const routeOf = (row: IntegrationRow) => {
        let route = builtRoutes.get(row.id);
        if (!route) builtRoutes.set(row.id, route = emailRoute(row, deps.secrets, deps.providers));
        return route;
      };
      return async (run: ModuleRun): Promise<Attempt> => {
        const ctx = contexts.get(run.id);
        if (!ctx) {
          return fail("run_context_missing", `Cannot send email: run ${run.id} has no couple or step`);
        }
        if (ctx.instance_status !== "active") {
          return skip("journey_inactive", `The journey is ${ctx.instance_status}`);
        }
        const parsed = stepConfig(run.step_id ?? `run:${run.id}`, ctx.config);
        if (!parsed.success) {
          const why = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
          return fail("invalid_config", `Cannot send email: invalid step config: ${why}`);
        }
        const config = parsed.data;
        if (!ctx.email) return skip("no_recipient", "The couple has no email address");
        if (ctx.consent.email === false) return skip("no_consent", "The couple has not agreed to email");
        if (ctx.suppression) {
          const why = SUPPRESSION_REASONS[ctx.suppression.reason] ?? ctx.suppression.reason;
          return skip(
            "suppressed",
            `Not sent: the address is on the supplier's suppression list since ${
              ctx.suppression.created_at.slice(0, 10)
            } (${why})`,
          );
        }
        if (ctx.template_html === null || ctx.template_subject === null) {
          return fail(
            "template_not_found",
            `Cannot send email: template "${config.template}" not found for supplier ${run.supplier_id}`,
          );
        }

        // A run whose send had an unknown outcome stays with that provider until the outcome is known.
        const rows = ctx.pinned_provider
          ? ctx.integrations.filter((i) => i.provider === ctx.pinned_provider)
          : ctx.integrations;
        if (rows.length === 0) {
          return fail(
            "integration_missing",
            ctx.pinned_provider
              ? `Cannot send email: the earlier attempt through ${ctx.pinned_provider} has an unknown outcome and ${ctx.pinned_provider} is no longer connected`
              : "Cannot send email: no email provider (Resend, SendGrid, Mailgun) is connected for this supplier",
          );
        }
        const routes: EmailRoute[] = [];
        let routeError: RunError | undefined;
        for (const row of rows) {
          const route = await routeOf(row);
          if ("send" in route) routes.push(route);
          else routeError ??= route;
        }
        if (routes.length === 0) return { outcome: { kind: "permanent", error: routeError! }, calls: [] };
        if (!ctx.email_from && routes.every((r) => !r.from)) {
          return fail("no_sender", "Cannot send email: the supplier has no sender address (email_from)");
        }

        const waitUntil = sendWindow(config, {
          supplierTimeZone: ctx.supplier_time_zone,
          businessHours: ctx.business_hours,
          coupleTimeZone: ctx.couple_time_zone,
        }, now());
        if (waitUntil) return { outcome: { kind: "deferred", defer_until: waitUntil }, calls: [] };

        const link = unsubscribeUrl(
          deps.functionsUrl,
          await signUnsubscribeToken(await key(), run.supplier_id, run.id),
        );
        let rendered;
        try {
          rendered = composeEmail({
            templateKey: config.template,
            template: { subject: ctx.template_subject, html: ctx.template_html, text: ctx.template_text },
            couple: {
              couple_name: ctx.couple_name,
              wedding_date: ctx.wedding_date,
              locale: ctx.locale,
              venue: ctx.venue,
              custom: ctx.client_custom,
            },
            supplier: { name: ctx.supplier_name, brand: ctx.brand },
            stepCustom: config.custom,
            unsubscribeUrl: link,
          });
        } catch (error) {
          if (error instanceof TemplateError) return fail("missing_merge_tags", error.message);
          throw error;
        }
        const recipient = ctx.email;
        return await sendInOrder(run, routes.filter((r) => ctx.email_from || r.from), (route) => ({
          from: ctx.email_from ?? route.from!,
          to: recipient,
          subject: rendered.subject,
          html: rendered.html,
          text: rendered.text,
          reply_to: ctx.reply_to ?? undefined,
          tags: [
            { name: "module", value: "email" },
            { name: "supplier", value: run.supplier_id },
            { name: "run", value: String(run.id) },
          ],
          headers: {
            // RFC 8058 one-click unsubscribe: mailbox providers POST to the link.
            "List-Unsubscribe": `<${link}>`,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
          },
        }), recipient);
      };
    },
  };
}

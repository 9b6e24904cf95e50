// The CRM sync's executor: each crm run delivers one event to one target, Tave / VSCO Workspace or the
// vendor's signed webhook. A couple's events reach a target in order, one at a time.
import type { Sql } from "../../db/client.ts";
import { sendSignedWebhook } from "../../providers/crm/webhook.ts";
import { credentialsRejected, heldAttempt, rejectCredentials } from "../../providers/credentials.ts";
import { outcomeOf } from "../../providers/result.ts";
import { fieldErrors } from "../../http/validate.ts";
import { type Attempt, done, type ModuleExecutor, type ModuleRun } from "../../runs/types.ts";
import { accountBucket, rateLimitedAttempt, takeRateLimits } from "../../providers/rate.ts";
import type { SecretStore } from "../../secrets.ts";
import type { z } from "zod";
import { mappedFields, taveSecret, taveSettings, webhookSecret, webhookSettings } from "./config.ts";
import { type CrmContext, loadCrmContexts } from "./context.ts";
import { crmWebhookPayload, WEBHOOK_SCHEMA_VERSION } from "./payload.ts";
import { syncToTave } from "./tave_sync.ts";

/** What the CRM sync needs from its function. */
export type CrmModuleDeps = {
  sql: Sql;
  secrets: SecretStore;
  tave: { leadBaseUrl: string; apiBaseUrl: string };
  timeoutMs: number;
  /** Accept http:// webhook endpoints (local development). */
  allowHttp: boolean;
  now?: () => Date;
  fetch?: typeof fetch;
};

/** How long a run waits for an earlier run of the same couple and target to finish. */
const ORDER_WAIT_MS = 2_000;

const permanent = (code: string, message: string): Attempt => ({
  outcome: { kind: "permanent", error: { code, message } },
  calls: [],
});
const skipped = (code: string, message: string): Attempt => ({
  outcome: { kind: "skipped", error: { code, message } },
  calls: [],
});

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> | Attempt {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const why = fieldErrors(parsed.error).map((e) => `${e.path}: ${e.message}`).join("; ");
  return permanent("invalid_settings", `Cannot sync to the CRM: invalid ${what}: ${why}`);
}

const isAttempt = (v: unknown): v is Attempt =>
  typeof v === "object" && v !== null && "outcome" in v && "calls" in v;

async function secretOf(deps: CrmModuleDeps, ctx: CrmContext): Promise<unknown> {
  if (!ctx.secret_id) return undefined;
  try {
    return JSON.parse(await deps.secrets.byId(ctx.secret_id, ctx.integration_status_since ?? undefined));
  } catch {
    return undefined;
  }
}

/** The webhook body of an event: ids, the journey, and the mapped couple fields only. */
export function webhookPayload(ctx: CrmContext, fieldMap: Record<string, string>) {
  return crmWebhookPayload.parse({
    type: ctx.event_type,
    version: WEBHOOK_SCHEMA_VERSION,
    id: ctx.event_id,
    timestamp: new Date(ctx.occurred_at).toISOString(),
    data: {
      supplier_id: ctx.supplier_id,
      couple: { ...mappedFields(ctx, fieldMap), id: ctx.client_id },
      changes: ctx.changes.filter((f) => f in fieldMap).map((f) => fieldMap[f]),
      journey: ctx.journey_instance_id
        ? {
          instance_id: ctx.journey_instance_id,
          journey_id: ctx.journey_id,
          name: ctx.journey_name,
          status: ctx.journey_status,
        }
        : null,
      step: ctx.step_id
        ? { id: ctx.step_id, position: ctx.step_position, module_type: ctx.step_module }
        : null,
    },
  });
}

async function deliverWebhook(deps: CrmModuleDeps, ctx: CrmContext, now: Date): Promise<Attempt> {
  const settings = parse(webhookSettings, ctx.settings, "crm_webhooks settings");
  if (isAttempt(settings)) return settings;
  if (!settings.url) return skipped("no_endpoint", "The vendor's webhooks integration has no endpoint url");
  if (new URL(settings.url).protocol !== "https:" && !deps.allowHttp) {
    return permanent("insecure_endpoint", "Cannot send the webhook: the endpoint must be an https URL");
  }
  const secret = parse(webhookSecret, await secretOf(deps, ctx), "crm_webhooks secret");
  if (isAttempt(secret)) return secret;
  if (!secret.signing_secret) {
    return permanent(
      "credentials_missing",
      "Cannot sign the webhook: the Vault secret has no signing_secret",
    );
  }
  const bucket = accountBucket("crm_webhooks", ctx.integration_id!);
  const waiting = await takeRateLimits(deps, [bucket], "Request rate of the webhook endpoint");
  if (waiting) return done(waiting);
  const result = await sendSignedWebhook(
    { url: settings.url, secret: secret.signing_secret, timeoutMs: deps.timeoutMs, fetch: deps.fetch },
    {
      id: ctx.event_id,
      body: JSON.stringify(webhookPayload(ctx, settings.field_map)),
      timestamp: Math.floor(now.getTime() / 1000),
    },
  );
  if (!result.ok) {
    const limited = await rateLimitedAttempt(deps, [bucket], result, [result.call]);
    if (limited) return limited;
  }
  // Receivers deduplicate on webhook-id, so a delivery whose answer was lost is simply sent again.
  return done(outcomeOf(result, { provider: "crm_webhooks" }, true), [result.call]);
}

async function syncTave(deps: CrmModuleDeps, ctx: CrmContext): Promise<Attempt> {
  const settings = parse(taveSettings, ctx.settings, "tave settings");
  if (isAttempt(settings)) return settings;
  const secret = parse(taveSecret, await secretOf(deps, ctx), "tave secret");
  if (isAttempt(secret)) return secret;
  return await syncToTave(deps, ctx, settings, {
    studioId: secret.studio_id,
    secretKey: secret.secret_key,
    apiKey: secret.api_key,
    leadBaseUrl: settings.lead_base_url ?? deps.tave.leadBaseUrl,
    apiBaseUrl: settings.api_base_url ?? deps.tave.apiBaseUrl,
    timeoutMs: deps.timeoutMs,
    fetch: deps.fetch,
  });
}

async function execute(deps: CrmModuleDeps, run: ModuleRun, ctx: CrmContext | undefined): Promise<Attempt> {
  if (!ctx) return permanent("run_context_missing", `Cannot sync: run ${run.id} has no CRM event or couple`);
  const now = deps.now?.() ?? new Date();
  if (ctx.blocked) {
    return { outcome: { kind: "deferred", defer_until: new Date(now.getTime() + ORDER_WAIT_MS) }, calls: [] };
  }
  if (!ctx.integration_status) {
    return skipped("integration_removed", `The ${ctx.target} integration was removed`);
  }
  const integration = {
    id: ctx.integration_id!,
    provider: ctx.target,
    status_reason: ctx.integration_status_reason,
  };
  // Held while the CRM refuses the credentials: the sync goes out, in order, once they are replaced.
  if (ctx.integration_status === "disconnected") return heldAttempt([integration]);
  let attempt: Attempt;
  switch (ctx.target) {
    case "tave":
      attempt = await syncTave(deps, ctx);
      break;
    case "crm_webhooks":
      attempt = await deliverWebhook(deps, ctx, now);
      break;
    default:
      return permanent("unknown_target", `Cannot sync: no CRM target named ${ctx.target}`);
  }
  const o = attempt.outcome;
  if (o.kind === "permanent" && o.error.provider && credentialsRejected(o.error)) {
    await rejectCredentials(deps.sql, integration.id, o.error, ctx.integration_status_since);
    return heldAttempt([{ ...integration, status_reason: o.error.message }], attempt.calls);
  }
  return attempt;
}

/** The CRM sync's executor. */
export function crmExecutor(deps: CrmModuleDeps): ModuleExecutor {
  return {
    async prepare(runs) {
      const contexts = await loadCrmContexts(deps.sql, runs.map((r) => r.id));
      // Runs of one couple and target in this batch run one after another, oldest first, whatever
      // order the drain starts them in.
      const finished = new Map<number, { promise: Promise<void>; resolve: () => void }>();
      const previous = new Map<number, number>();
      const last = new Map<string, number>();
      for (const run of [...runs].sort((a, b) => a.id - b.id)) {
        const ctx = contexts.get(run.id);
        const key = ctx ? `${ctx.client_id}:${ctx.target}` : `run:${run.id}`;
        const before = last.get(key);
        if (before !== undefined) previous.set(run.id, before);
        last.set(key, run.id);
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        finished.set(run.id, { promise, resolve });
      }
      return async (run) => {
        const before = previous.get(run.id);
        if (before !== undefined) await finished.get(before)?.promise;
        try {
          return await execute(deps, run, contexts.get(run.id));
        } finally {
          finished.get(run.id)?.resolve();
        }
      };
    },
  };
}

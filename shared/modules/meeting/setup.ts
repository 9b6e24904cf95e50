// The vendor app's meeting set-up endpoint (signed-in user, RLS): connect Calendly (and subscribe to its
// booking webhooks with our own signing key), connect Acuity, start the Google Calendar OAuth flow, turn
// the wedding-timeline sync on or off, and validate a meeting step config field by field against the live
// providers. Plus the OAuth callback.
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../../http/errors.ts";
import { asUser, userClaims } from "../../http/user.ts";
import { type FieldError, parseOr422 } from "../../http/validate.ts";
import { toHex } from "../../webhooks/hmac.ts";
import {
  type CalendlyAccount,
  createWebhookSubscription,
  currentUser,
  getEventType,
} from "../../providers/scheduling/calendly.ts";
import {
  authorizationUrl,
  exchangeCode,
  type GoogleClient,
} from "../../providers/scheduling/google_calendar.ts";
import type { SecretStore } from "../../secrets.ts";
import { meetingStepConfig } from "./config.ts";
import { googleClientFromVault, vaultJson } from "./credentials.ts";
import { signOAuthState, verifyOAuthState } from "./oauth_state.ts";

/** What the set-up endpoints need. */
export type MeetingSetupDeps = {
  sql: Sql;
  secrets: SecretStore;
  /** The project's public URL; webhook and redirect URLs are built on it. */
  projectUrl: string;
  calendly: { baseUrl: string; timeoutMs: number };
  google: Omit<GoogleClient, "clientId" | "clientSecret">;
  fetch?: typeof fetch;
  log?: (line: string) => void;
};

/** Request schema, exported for the fuzz suite's generators. */
export const body = z.discriminatedUnion("action", [
  z.strictObject({
    action: z.literal("connect_calendly"),
    supplier_id: z.uuid(),
    access_token: z.string().min(20).max(4000),
  }),
  z.strictObject({
    action: z.literal("connect_acuity"),
    supplier_id: z.uuid(),
    user_id: z.string().regex(/^\d{1,15}$/, "must be the Acuity user id"),
    api_key: z.string().min(8).max(200),
    scheduler_url: z.url({ protocol: /^https$/ }),
  }),
  z.strictObject({ action: z.literal("google_authorize"), supplier_id: z.uuid() }),
  z.strictObject({ action: z.literal("validate_config"), supplier_id: z.uuid(), config: z.unknown() }),
  z.strictObject({
    action: z.literal("timeline_sync"),
    supplier_id: z.uuid(),
    enabled: z.boolean(),
    /** The calendar the timeline goes to; the integration's calendar_id (default primary) when absent. */
    calendar_id: z.string().trim().min(1).max(300).optional(),
  }),
]);

/** The redirect URI to register in the Google Cloud console. */
export function googleRedirectUri(projectUrl: string): string {
  return `${projectUrl.replace(/\/$/, "")}/functions/v1/google-oauth-callback`;
}

async function stateSecret(secrets: SecretStore): Promise<string> {
  try {
    return await secrets.byName("oauth_state_secret");
  } catch {
    throw new HttpError(503, "not_configured", "The Vault secret oauth_state_secret is missing");
  }
}

async function googleClient(deps: MeetingSetupDeps): Promise<GoogleClient> {
  const client = await googleClientFromVault(deps.secrets, deps.google, deps.fetch);
  if (!client) {
    throw new HttpError(
      503,
      "not_configured",
      "The Vault secret google_oauth_client is missing or incomplete",
    );
  }
  return client;
}

function connect(sql: Sql, supplier: string, provider: string, secret: unknown, settings: unknown) {
  return sql`select public.connect_integration(${supplier}::uuid, ${provider}, ${JSON.stringify(secret)},
    ${JSON.stringify(settings)}::text::jsonb)`;
}

/** `POST /meeting-setup`: set-up actions for the signed-in user's supplier. */
export function meetingSetupHandler(deps: MeetingSetupDeps): (req: Request) => Promise<Response> {
  const calendly = (accessToken: string): CalendlyAccount => ({
    accessToken,
    ...deps.calendly,
    fetch: deps.fetch,
  });

  async function connectCalendly(supplier: string, accessToken: string): Promise<Response> {
    const me = await currentUser(calendly(accessToken));
    if (!me.ok) {
      throw me.status === 401 || me.status === 403
        ? new HttpError(422, "invalid_token", "Calendly refused the access token", [{
          path: "access_token",
          message: "is not accepted by Calendly",
        }])
        : new HttpError(502, "provider_unavailable", `Cannot reach Calendly: ${me.error.message}`);
    }
    // Our own signing key: with a personal access token Calendly would otherwise sign with nothing we know.
    const signingKey = toHex(crypto.getRandomValues(new Uint8Array(32)));
    const url = `${deps.projectUrl.replace(/\/$/, "")}/functions/v1/webhook-calendly?supplier=${supplier}`;
    const sub = await createWebhookSubscription(calendly(accessToken), {
      url,
      user: me.user!,
      organization: me.organization!,
      signingKey,
    });
    if (!sub.ok) {
      throw new HttpError(
        sub.status === 403 ? 422 : 502,
        "webhook_subscription_failed",
        `Calendly refused the webhook subscription (webhooks need a paid Calendly plan): ${sub.error.message}`,
      );
    }
    await connect(deps.sql, supplier, "calendly", { access_token: accessToken, signing_key: signingKey }, {
      user: me.user,
      organization: me.organization,
      webhook_subscription: sub.subscription,
    });
    return json({ connected: "calendly", webhook_url: url, webhook_subscription: sub.subscription }, 201);
  }

  /** Field errors from live checks: the provider is connected, the Calendly event type exists and is active. */
  async function liveChecks(
    supplier: string,
    config: z.output<typeof meetingStepConfig>,
  ): Promise<FieldError[]> {
    const [integration] = await deps.sql<{ status: string; secret_id: string | null }[]>`
      select status, secret_id::text from public.supplier_integrations
      where supplier_id = ${supplier}::uuid and provider = ${config.provider}`;
    if (!integration || integration.status === "disconnected") {
      const name =
        { calendly: "Calendly", google_calendar: "Google Calendar", acuity: "Acuity" }[config.provider];
      return [{
        path: "provider",
        message: `${name} is not connected${integration ? `: reconnect ${name}` : ""}`,
      }];
    }
    if (config.provider !== "calendly") return [];
    const token = (await vaultJson(deps.secrets, integration.secret_id))?.access_token;
    if (typeof token !== "string") {
      return [{ path: "provider", message: "Calendly has no access token: reconnect Calendly" }];
    }
    const got = await getEventType(calendly(token), config.calendly_event_type!);
    if (!got.ok && got.status === 404) {
      return [{ path: "calendly_event_type", message: "does not exist in Calendly" }];
    }
    if (!got.ok) {
      throw new HttpError(
        502,
        "provider_unavailable",
        `Cannot check with Calendly now: ${got.error.message}`,
      );
    }
    const errors: FieldError[] = [];
    if (!got.event_type!.active) {
      errors.push({ path: "calendly_event_type", message: "is not active in Calendly" });
    }
    if (got.event_type!.duration !== config.duration) {
      errors.push({
        path: "duration",
        message: `must match the Calendly event type (${got.event_type!.duration} minutes)`,
      });
    }
    return errors;
  }

  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const claims = userClaims(req);
    const input = parseOr422(body, parseJson(await readRawBody(req, 16 * 1024)), "meeting set-up request");
    const member = await asUser(
      deps.sql,
      claims,
      (tx) => tx`select 1 from public.suppliers where id = ${input.supplier_id}::uuid`,
    );
    if (member.length === 0) {
      throw new HttpError(404, "supplier_not_found", `Supplier ${input.supplier_id} not found`);
    }

    switch (input.action) {
      case "connect_calendly":
        return await connectCalendly(input.supplier_id, input.access_token);
      case "connect_acuity":
        await connect(deps.sql, input.supplier_id, "acuity", {
          user_id: input.user_id,
          api_key: input.api_key,
        }, {
          scheduler_url: input.scheduler_url,
        });
        return json({
          connected: "acuity",
          webhook_url: `${
            deps.projectUrl.replace(/\/$/, "")
          }/functions/v1/webhook-acuity?supplier=${input.supplier_id}`,
        }, 201);
      case "google_authorize": {
        const state = await signOAuthState(
          { supplier_id: input.supplier_id, user_id: claims.sub },
          await stateSecret(deps.secrets),
        );
        const client = await googleClient(deps);
        return json({
          authorization_url: authorizationUrl(client, googleRedirectUri(deps.projectUrl), state),
        });
      }
      case "timeline_sync": {
        const [google] = await deps.sql<{ status: string }[]>`
          select status from public.supplier_integrations
          where supplier_id = ${input.supplier_id}::uuid and provider = 'google_calendar'`;
        if (!google || input.enabled && google.status === "disconnected") {
          throw new HttpError(
            409,
            "google_not_connected",
            "Connect Google Calendar before turning on the timeline sync",
          );
        }
        const [row] = await deps.sql<{ queued: number }[]>`
          select public.set_timeline_sync(${input.supplier_id}::uuid, ${input.enabled},
            ${input.calendar_id ?? null}) as queued`;
        return json({ timeline_sync: input.enabled, queued: row.queued });
      }
      case "validate_config": {
        const config = parseOr422(meetingStepConfig, input.config, "meeting step config");
        const errors = await liveChecks(input.supplier_id, config);
        if (errors.length > 0) {
          throw new HttpError(
            422,
            "validation_failed",
            `Invalid meeting step config: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
            errors,
          );
        }
        return json({ valid: true, config });
      }
    }
  }, deps.log);
}

function page(status: number, title: string, text: string): Response {
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return new Response(
    `<!doctype html><meta charset="utf-8"><title>${escape(title)}</title><h1>${escape(title)}</h1><p>${
      escape(text)
    }</p>`,
    { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } },
  );
}

/**
 * `GET /google-oauth-callback?code=…&state=…`: where Google sends the vendor back. The state must be one
 * we signed in the last 10 minutes; the code is exchanged for a refresh token, which goes to Vault.
 */
export function googleOAuthCallbackHandler(deps: MeetingSetupDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    if (req.method !== "GET") throw new HttpError(405, "method_not_allowed", "Use GET");
    const params = new URL(req.url).searchParams;
    const state = await verifyOAuthState(params.get("state") ?? "", await stateSecret(deps.secrets));
    if (!state) {
      return page(
        400,
        "Link expired",
        "This connection link is invalid or has expired. Start again from the app.",
      );
    }
    if (params.get("error")) {
      return page(
        400,
        "Google Calendar not connected",
        `Google answered: ${params.get("error")!.slice(0, 100)}`,
      );
    }
    const code = params.get("code");
    if (!code) return page(400, "Google Calendar not connected", "Google sent no authorization code.");
    const client = await googleClient(deps);
    const tokens = await exchangeCode(client, code, googleRedirectUri(deps.projectUrl));
    if (!tokens.ok) {
      return page(
        tokens.failure === "permanent" ? 400 : 502,
        "Google Calendar not connected",
        tokens.error.message,
      );
    }
    if (!tokens.refresh_token) {
      return page(
        400,
        "Google Calendar not connected",
        "Google issued no refresh token; remove the app's access in your Google account and connect again.",
      );
    }
    await connect(deps.sql, state.supplier_id, "google_calendar", { refresh_token: tokens.refresh_token }, {
      calendar_id: "primary",
      scope: tokens.scope ?? null,
      connected_by: state.user_id,
    });
    return page(200, "Google Calendar connected", "You can close this window.");
  }, deps.log);
}

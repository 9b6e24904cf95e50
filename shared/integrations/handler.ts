// The vendor app's integrations endpoint (signed-in user, supplier members only): connect, test, rotate,
// disconnect and list. Credentials are verified with the provider before anything is stored, go to Vault
// through public.connect_integration, and never come back out (nor into logs).
import type { z } from "zod";
import {
  CONNECTABLE_PROVIDERS,
  type ConnectableProvider,
  integrationsRequest,
  type IntegrationView,
  providerInputs,
} from "../api/integrations.ts";
import type { Sql } from "../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../http/errors.ts";
import { asUser, userClaims } from "../http/user.ts";
import { parseOr422 } from "../http/validate.ts";
import type { SecretStore } from "../secrets.ts";
import {
  type DriverContext,
  drivers,
  ProviderError,
  type ProviderUrls,
  type Verification,
} from "./providers.ts";

/** What the integrations endpoint needs. */
export type IntegrationsDeps = {
  sql: Sql;
  secrets: SecretStore;
  urls: ProviderUrls;
  timeoutMs: number;
  fetch?: typeof fetch;
  log?: (line: string) => void;
};

type Row = {
  id: string;
  provider: string;
  status: "connected" | "failing" | "disconnected";
  status_code: string | null;
  status_reason: string | null;
  status_since: string;
  settings: Record<string, unknown>;
  secret_id: string | null;
  updated_at: string;
};

/** Keys that look like credentials never leave in settings, even if an operator put one there. */
const SECRET_KEY = /(secret|token|password|api_key|private)/i;

function view(row: Row): IntegrationView {
  return {
    provider: row.provider,
    status: row.status,
    status_code: row.status_code,
    status_reason: row.status_reason,
    status_since: new Date(row.status_since).toISOString(),
    settings: Object.fromEntries(Object.entries(row.settings ?? {}).filter(([k]) => !SECRET_KEY.test(k))),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}

function isConnectable(provider: string): provider is ConnectableProvider {
  return (CONNECTABLE_PROVIDERS as readonly string[]).includes(provider);
}

/** 422 with the provider's reason when it rejected the credentials; 502 when it could not be asked. */
function verificationError(provider: string, v: Verification & { ok: false }): HttpError {
  return v.rejected
    ? new HttpError(422, "credentials_rejected", `${provider} rejected the credentials: ${v.reason}`, {
      provider,
      provider_status: v.status,
      provider_code: v.code,
    })
    : new HttpError(502, "provider_unavailable", `Cannot verify with ${provider} now: ${v.reason}`, {
      provider,
      provider_status: v.status,
    });
}

/** `POST /integrations`: `{action, supplier_id, ...}` for the signed-in user's supplier. */
export function integrationsHandler(deps: IntegrationsDeps): (req: Request) => Promise<Response> {
  const ctx = (supplierId: string): DriverContext => ({
    urls: deps.urls,
    timeoutMs: deps.timeoutMs,
    supplierId,
    fetch: deps.fetch,
  });

  async function load(supplierId: string, provider: string): Promise<Row | undefined> {
    const [row] = await deps.sql<Row[]>`
      select id::text, provider, status, status_code, status_reason, status_since, settings,
        secret_id::text, updated_at
      from public.supplier_integrations where supplier_id = ${supplierId}::uuid and provider = ${provider}`;
    return row;
  }

  async function storedSecret(row: Row): Promise<Record<string, string>> {
    if (!row.secret_id) return {};
    try {
      const parsed = JSON.parse(await deps.secrets.byId(row.secret_id, `${row.updated_at}`));
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch {
      return {};
    }
  }

  async function store(
    supplierId: string,
    provider: string,
    secret: Record<string, string>,
    settings: Record<string, unknown>,
  ): Promise<Row> {
    // Parameters only: the secret is bound as a value, never spliced into SQL.
    await deps.sql`select public.connect_integration(${supplierId}::uuid, ${provider}, ${
      JSON.stringify(secret)
    },
      ${JSON.stringify(settings)}::text::jsonb)`;
    return (await load(supplierId, provider))!;
  }

  function parseInputs<P extends ConnectableProvider>(provider: P, credentials: unknown, settings: unknown) {
    const spec = providerInputs[provider];
    return {
      credentials: parseOr422(
        spec.credentials as z.ZodType,
        credentials,
        `${provider} credentials`,
      ) as Record<
        string,
        string
      >,
      settings: parseOr422(spec.settings as z.ZodType, settings, `${provider} settings`) as Record<
        string,
        unknown
      >,
    };
  }

  async function connect(
    supplierId: string,
    provider: ConnectableProvider,
    rawCredentials: unknown,
    rawSettings: unknown,
  ): Promise<Response> {
    const { credentials, settings } = parseInputs(provider, rawCredentials, rawSettings);
    const driver = drivers[provider];
    const c = ctx(supplierId);
    const verified = await driver.verify(c, credentials, settings);
    if (!verified.ok) throw verificationError(provider, verified);
    const previous = await load(supplierId, provider);
    const previousSecret = previous ? await storedSecret(previous) : {};
    let registration;
    try {
      registration = await driver.register(
        c,
        { ...previousSecret, ...credentials, ...verified.secret },
        settings,
        verified,
      );
    } catch (error) {
      if (error instanceof ProviderError) {
        throw error.status === 422 || error.status === 404
          ? new HttpError(422, "webhook_registration_refused", `${provider}: ${error.message}`)
          : new HttpError(
            502,
            "provider_unavailable",
            `Cannot register our webhook with ${provider}: ${error.message}`,
          );
      }
      throw error;
    }
    const secret = { ...credentials, ...verified.secret, ...registration.secret };
    const allSettings = { ...settings, ...verified.settings, ...registration.settings };
    let row: Row;
    try {
      row = await store(supplierId, provider, secret, allSettings);
    } catch (error) {
      // Nothing stored: take back the registration we just made.
      await driver.unregister(c, secret, allSettings).catch(() => undefined);
      throw error;
    }
    // A reconnect replaces an earlier registration of ours once the new one is stored.
    if (
      previous && JSON.stringify(previous.settings.webhook ?? previous.settings.webhook_subscription) !==
        JSON.stringify(allSettings.webhook ?? allSettings.webhook_subscription)
    ) {
      await driver.unregister(c, { ...previousSecret }, previous.settings).catch(() => undefined);
    }
    return json(
      { integration: view(row), account: verified.account, webhook: registration.webhook ?? null },
      201,
    );
  }

  async function rotate(supplierId: string, provider: ConnectableProvider, rawCredentials: unknown) {
    const row = await load(supplierId, provider);
    if (!row) throw new HttpError(404, "integration_not_found", `${provider} is not connected`);
    const credentials = parseOr422(
      providerInputs[provider].credentials as z.ZodType,
      rawCredentials,
      `${provider} credentials`,
    ) as Record<string, string>;
    const verified = await drivers[provider].verify(ctx(supplierId), credentials, row.settings);
    if (!verified.ok) throw verificationError(provider, verified);
    // One vault.update_secret: the new credentials with the webhook secrets kept, so webhooks still verify.
    const secret = { ...await storedSecret(row), ...credentials, ...verified.secret };
    const updated = await store(supplierId, provider, secret, verified.settings ?? {});
    return json({ integration: view(updated), account: verified.account });
  }

  async function test(supplierId: string, provider: string) {
    const row = await load(supplierId, provider);
    if (!row) throw new HttpError(404, "integration_not_found", `${provider} is not connected`);
    if (!isConnectable(provider)) {
      throw new HttpError(422, "not_testable", `${provider} cannot be tested here`);
    }
    const secret = await storedSecret(row);
    const verified = await drivers[provider].verify(ctx(supplierId), secret, row.settings);
    if (!verified.ok && !verified.rejected) throw verificationError(provider, verified);
    if (!verified.ok) {
      await deps.sql`select public.integration_rejected(${row.id}::uuid, ${verified.code},
        ${`${provider} rejected the credentials: ${verified.reason}`})`;
      return json({
        integration: view((await load(supplierId, provider))!),
        ok: false,
        reason: verified.reason,
      });
    }
    if (row.status === "disconnected") {
      // They work again: connected, which releases the held runs (same secret, settings unchanged).
      const updated = await store(supplierId, provider, secret, {});
      return json({ integration: view(updated), ok: true, reason: null });
    }
    return json({ integration: view(row), ok: true, reason: null });
  }

  async function disconnect(supplierId: string, provider: string) {
    const row = await load(supplierId, provider);
    if (!row) throw new HttpError(404, "integration_not_found", `${provider} is not connected`);
    let removed = { removed: false } as { removed: boolean; note?: string };
    if (isConnectable(provider)) {
      try {
        removed = await drivers[provider].unregister(ctx(supplierId), await storedSecret(row), row.settings);
      } catch {
        removed = { removed: false, note: `Could not reach ${provider} to remove our webhook` };
      }
    }
    await deps.sql`select public.disconnect_integration(${supplierId}::uuid, ${provider})`;
    return json({
      provider,
      disconnected: true,
      webhook_removed: removed.removed,
      webhook_note: removed.note ?? null,
    });
  }

  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const claims = userClaims(req);
    const input = parseOr422(
      integrationsRequest,
      parseJson(await readRawBody(req, 32 * 1024)),
      "integrations request",
    );
    // Members only: RLS shows a supplier to its members; anyone else learns nothing about it.
    const rows = await asUser(deps.sql, claims, async (tx) => {
      const member = await tx`select 1 from public.suppliers where id = ${input.supplier_id}::uuid`;
      if (member.length === 0) return null;
      if (input.action !== "list") return [];
      return await tx<Row[]>`
        select id::text, provider, status, status_code, status_reason, status_since, settings,
          null::text as secret_id, updated_at
        from public.supplier_integrations where supplier_id = ${input.supplier_id}::uuid order by provider`;
    });
    if (rows === null) {
      throw new HttpError(404, "supplier_not_found", `Supplier ${input.supplier_id} not found`);
    }
    switch (input.action) {
      case "list":
        return json({ integrations: rows.map(view) });
      case "connect":
        return await connect(input.supplier_id, input.provider, input.credentials, input.settings);
      case "rotate":
        return await rotate(input.supplier_id, input.provider, input.credentials);
      case "test":
        return await test(input.supplier_id, input.provider);
      case "disconnect":
        return await disconnect(input.supplier_id, input.provider);
    }
  }, deps.log);
}

// Fixture builders: a supplier with its Resend integration, a couple, a journey of steps, a started journey.
import type { Sql } from "./db.ts";

/** Options for a supplier. */
export type SupplierOptions = {
  name?: string;
  time_zone?: string;
  email_from?: string;
  business_hours?: { days: number[]; start: string; end: string };
};

/** Creates a supplier; returns its id. */
export async function createSupplier(sql: Sql, opts: SupplierOptions = {}): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into public.suppliers (name, time_zone, email_from, reply_to, business_hours)
    values (${opts.name ?? "Studio"}, ${opts.time_zone ?? "Europe/London"},
      ${opts.email_from ?? "Studio <hello@studio.example>"}, 'owner@studio.example',
      ${
    JSON.stringify(opts.business_hours ?? { days: [1, 2, 3, 4, 5], start: "09:00", end: "17:00" })
  }::text::jsonb)
    returning id`;
  return row.id;
}

/** Stores a provider's credentials for a supplier in Vault and connects the integration. */
export async function connectProvider(
  sql: Sql,
  supplierId: string,
  provider: string,
  secret: Record<string, string>,
  settings: Record<string, unknown> = {},
  priority = 100,
): Promise<void> {
  await sql`
    insert into public.supplier_integrations (supplier_id, provider, settings, secret_id, priority)
    values (${supplierId}::uuid, ${provider}, ${JSON.stringify(settings)}::text::jsonb,
      vault.create_secret(${JSON.stringify(secret)}, ${`${provider}:${supplierId}`}), ${priority})`;
}

/** Stores Resend credentials for a supplier in Vault and connects the integration. */
export async function connectResend(
  sql: Sql,
  supplierId: string,
  secret: { api_key: string; webhook_secret: string },
  settings: Record<string, unknown> = {},
): Promise<void> {
  await connectProvider(sql, supplierId, "resend", secret, settings);
}

/** Adds an email template. */
export async function createTemplate(
  sql: Sql,
  supplierId: string,
  key: string,
  t: { subject: string; html: string; text?: string },
): Promise<void> {
  await sql`
    insert into public.email_templates (supplier_id, key, subject, html, text)
    values (${supplierId}::uuid, ${key}, ${t.subject}, ${t.html}, ${t.text ?? null})`;
}

/** Options for a couple. */
export type ClientOptions = {
  couple_name?: string;
  email?: string | null;
  time_zone?: string | null;
  locale?: string;
  wedding_date?: string | null;
  booking_date?: string | null;
  venue?: string | null;
};

/** Creates a couple; returns its id. */
export async function createClient(sql: Sql, supplierId: string, opts: ClientOptions = {}): Promise<string> {
  const email = opts.email === undefined
    ? `couple-${crypto.randomUUID().slice(0, 8)}@example.com`
    : opts.email;
  const [row] = await sql<{ id: string }[]>`
    insert into public.clients (supplier_id, couple_name, email, time_zone, locale, wedding_date, booking_date, venue)
    values (${supplierId}::uuid, ${opts.couple_name ?? "Alex & Sam"}, ${email}, ${opts.time_zone ?? null},
      ${opts.locale ?? "en-GB"}, ${opts.wedding_date ?? null}::date, ${opts.booking_date ?? null}::date,
      ${opts.venue === undefined ? "The Old Barn" : opts.venue})
    returning id`;
  return row.id;
}

/** One step of a journey fixture. */
export type StepSpec = {
  module_type?: string;
  config?: Record<string, unknown>;
  timing?: Record<string, unknown>;
};

/** Creates a journey with the given steps (positions 1..n); returns its id and step ids. */
export async function createJourney(
  sql: Sql,
  supplierId: string,
  steps: StepSpec[],
): Promise<{ journeyId: string; stepIds: string[] }> {
  const [journey] = await sql<{ id: string }[]>`
    insert into public.journeys (supplier_id, name) values (${supplierId}::uuid, 'Journey') returning id`;
  const stepIds: string[] = [];
  for (const [i, step] of steps.entries()) {
    const [row] = await sql<{ id: string }[]>`
      insert into public.journey_steps (journey_id, supplier_id, position, module_type, config, timing)
      values (${journey.id}::uuid, ${supplierId}::uuid, ${i + 1}, ${
      step.module_type ?? "email"
    }::public.module_type,
        ${JSON.stringify(step.config ?? { template: "welcome" })}::text::jsonb, ${
      JSON.stringify(step.timing ?? {})
    }::text::jsonb)
      returning id`;
    stepIds.push(row.id);
  }
  return { journeyId: journey.id, stepIds };
}

/** Starts a journey for a couple (the first transition); returns the instance id. */
export async function startJourney(
  sql: Sql,
  supplierId: string,
  journeyId: string,
  clientId: string,
): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    insert into public.journey_instances (journey_id, supplier_id, client_id)
    values (${journeyId}::uuid, ${supplierId}::uuid, ${clientId}::uuid)
    returning id`;
  return row.id;
}

/** A supplier with a welcome template and a one-step email journey; for pipeline tests. */
export async function emailScenario(
  sql: Sql,
  opts: { steps?: StepSpec[]; resend?: { api_key: string; webhook_secret: string }; client?: ClientOptions } =
    {},
) {
  const supplierId = await createSupplier(sql);
  await createTemplate(sql, supplierId, "welcome", {
    subject: "Welcome {{couple_name}}",
    html: "<p>Hello {{couple_name}}, see you at {{venue}} on {{wedding_date}}.</p>",
  });
  if (opts.resend) await connectResend(sql, supplierId, opts.resend);
  const { journeyId, stepIds } = await createJourney(sql, supplierId, opts.steps ?? [{}]);
  const clientId = await createClient(sql, supplierId, { wedding_date: "2027-06-12", ...opts.client });
  return { supplierId, journeyId, stepIds, clientId };
}

/**
 * Adds `count` couples (at The Old Barn, wedding 2027-06-12) and starts the journey for all of them in one
 * statement, so their runs are due at once behind one kick. Returns the journey instances' ids.
 */
export async function startJourneysTogether(
  sql: Sql,
  s: { supplierId: string; journeyId: string },
  count: number,
  label: string,
): Promise<string[]> {
  const clients = await sql<{ id: string }[]>`
    insert into public.clients (supplier_id, couple_name, email, venue, wedding_date)
    select ${s.supplierId}::uuid, 'Couple ' || g, ${label} || '-' || g || '-' || ${crypto.randomUUID()} || '@example.com',
      'The Old Barn', '2027-06-12'
    from generate_series(1, ${count}) g returning id`;
  const instances = await sql<{ id: string }[]>`
    insert into public.journey_instances (journey_id, supplier_id, client_id)
    select ${s.journeyId}::uuid, ${s.supplierId}::uuid, id from unnest(${clients.map((c) => c.id)}::uuid[]) id
    returning id`;
  return instances.map((i) => i.id);
}

// Fixtures for the sms module on the local stack: a supplier wired to the simulated Twilio and WhatsApp.
import { gatewayUrl } from "../../stack/config.ts";
import type { Sql } from "./db.ts";
import { createClient, createJourney, createSupplier, startJourney, type StepSpec } from "./fixtures.ts";
import { sim } from "./stack.ts";

const hex = (n: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
const digits = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b % 10).join("");

/** A random UK mobile number as a couple would type it, and its E.164 form. */
export function ukMobile(): { national: string; e164: string } {
  const rest = digits(6);
  return { national: `07912 ${rest}`, e164: `+447912${rest}` };
}

/** Quiet hours that do not contain the current UTC time (a one-hour window twelve hours away). */
export function quietHoursAway(): { start: string; end: string } {
  const h = (new Date().getUTCHours() + 12) % 24;
  const pad = (n: number) => String(n).padStart(2, "0");
  return { start: `${pad(h)}:00`, end: `${pad((h + 1) % 24)}:00` };
}

/** Options of {@link smsScenario}. */
export type SmsScenarioOptions = {
  config?: Record<string, unknown>;
  timing?: Record<string, unknown>;
  steps?: StepSpec[];
  phone?: string | null;
  country?: string | null;
  time_zone?: string;
  wedding_date?: string | null;
  consent?: Record<string, unknown>;
  quiet_hours?: { start: string; end: string };
  twilio?: Record<string, unknown> | false;
  whatsapp?: Record<string, unknown> | false;
  /** WhatsApp numbers that are not on WhatsApp. */
  non_users?: string[];
};

/**
 * Connects the simulated Twilio for a supplier (credentials in Vault, settings merged with `settings`)
 * and points the simulator's inbound messages back at us; returns the credentials.
 */
export async function connectTwilio(sql: Sql, supplierId: string, settings: Record<string, unknown> = {}) {
  const twilio = { account_sid: `AC${hex(16)}`, auth_token: hex(16) };
  await sql`
    insert into public.supplier_integrations (supplier_id, provider, settings, secret_id)
    values (${supplierId}::uuid, 'twilio', ${
    JSON.stringify({ from: "+15005550006", sender_type: "short_code", ...settings })
  }::text::jsonb,
      vault.create_secret(${JSON.stringify(twilio)}, ${`twilio:${supplierId}`}))`;
  await sim("/_sim/config", {
    body: {
      provider: "twilio",
      ...twilio,
      inbound_url: `${gatewayUrl}/functions/v1/webhook-twilio?supplier=${supplierId}`,
    },
  });
  return twilio;
}

/** A supplier with Twilio and WhatsApp connected (credentials in Vault) and the simulator wired back to us. */
export async function smsScenario(sql: Sql, opts: SmsScenarioOptions = {}) {
  const supplierId = await createSupplier(sql, { time_zone: "Europe/Rome" });
  await sql`update public.suppliers set quiet_hours = ${
    JSON.stringify(opts.quiet_hours ?? quietHoursAway())
  }::text::jsonb where id = ${supplierId}::uuid`;
  const whatsapp = {
    phone_number_id: `1${digits(14)}`,
    access_token: `EAAG${hex(20)}`,
    app_secret: hex(16),
    verify_token: hex(8),
  };
  const twilio = opts.twilio === false ? undefined : await connectTwilio(sql, supplierId, opts.twilio);
  if (opts.whatsapp !== false) {
    await sql`
      insert into public.supplier_integrations (supplier_id, provider, settings, secret_id)
      values (${supplierId}::uuid, 'whatsapp', ${
      JSON.stringify({ phone_number_id: whatsapp.phone_number_id, ...opts.whatsapp })
    }::text::jsonb,
        vault.create_secret(${
      JSON.stringify({
        access_token: whatsapp.access_token,
        app_secret: whatsapp.app_secret,
        verify_token: whatsapp.verify_token,
      })
    }, ${`whatsapp:${supplierId}`}))`;
    await sim("/_sim/config", {
      body: {
        provider: "whatsapp",
        phone_number_id: whatsapp.phone_number_id,
        access_token: whatsapp.access_token,
        app_secret: whatsapp.app_secret,
        webhook_url: `${gatewayUrl}/functions/v1/webhook-whatsapp?supplier=${supplierId}`,
        templates: [{ name: "wedding_update", language: "en_GB" }],
        non_users: opts.non_users ?? [],
      },
    });
  }
  const number = ukMobile();
  const { journeyId, stepIds } = await createJourney(
    sql,
    supplierId,
    opts.steps ?? [{
      module_type: "sms",
      config: { text: "Hi {{couple_name}}, see you on {{wedding_date}}!", ...opts.config },
      timing: opts.timing ?? {},
    }],
  );
  const clientId = await createClient(sql, supplierId, {
    wedding_date: opts.wedding_date === undefined ? "2027-06-12" : opts.wedding_date,
    time_zone: opts.time_zone ?? "UTC",
  });
  await sql`update public.clients set phone = ${opts.phone === undefined ? number.national : opts.phone},
    country = ${opts.country === undefined ? "GB" : opts.country},
    consent = ${JSON.stringify(opts.consent ?? {})}::text::jsonb
    where id = ${clientId}::uuid`;
  return {
    supplierId,
    journeyId,
    stepIds,
    clientId,
    /** Twilio's credentials (absent only with `twilio: false`). */
    twilio: twilio!,
    whatsapp,
    phone: number,
    start: () => startJourney(sql, supplierId, journeyId, clientId),
  };
}

/** The (first) run of a journey instance. */
export async function runOf(sql: Sql, instanceId: string) {
  const [row] = await sql<
    {
      id: number;
      status: string;
      attempts: number;
      run_at: Date;
      provider: string | null;
      provider_message_id: string | null;
      last_error: { code: string; message: string } | null;
      result: Record<string, unknown> | null;
      idempotency_key: string;
    }[]
  >`select id::int, status::text, attempts, run_at, provider, provider_message_id, last_error, result, idempotency_key
    from public.module_runs where journey_instance_id = ${instanceId}::uuid order by id limit 1`;
  return row;
}

/** The delivery of a run: status, channel, recipient, segments. */
export async function deliveryOf(sql: Sql, runId: number) {
  const [row] = await sql<
    { status: string; channel: string; recipient: string; segments: number | null; encoding: string | null }[]
  >`select status::text, channel, recipient, segments, encoding from public.deliveries where run_id = ${runId}`;
  return row;
}

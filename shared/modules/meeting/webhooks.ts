// Booking webhooks: Calendly (invitee.created / invitee.canceled, signed with our signing key) and Acuity
// (form posts signed with the API key, the appointment read back). Each is verified on the raw body,
// normalised, and handed to public.receive_meeting_event (inbox dedupe, meeting, journey).
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../../http/errors.ts";
import { fieldErrors } from "../../http/validate.ts";
import { getAppointment } from "../../providers/scheduling/acuity.ts";
import type { SecretStore } from "../../secrets.ts";
import { AcuitySignatureError, verifyAcuity } from "../../webhooks/acuity.ts";
import { CalendlySignatureError, verifyCalendly } from "../../webhooks/calendly.ts";
import { vaultJson } from "./credentials.ts";

/** What the receivers need. */
export type MeetingWebhookDeps = {
  sql: Sql;
  secrets: SecretStore;
  acuity?: { baseUrl: string; timeoutMs: number; fetch?: typeof fetch };
  now?: () => number;
  log?: (line: string) => void;
};

/** A booking event in the provider-neutral form public.apply_meeting_event takes. */
export type MeetingEvent = {
  kind: "booked" | "canceled";
  external_id: string;
  previous_external_id?: string | null;
  meeting_ref?: string | null;
  invitee_email?: string | null;
  start_at?: string;
  end_at?: string;
  join_url?: string | null;
  cancel_url?: string | null;
  reschedule_url?: string | null;
  location?: string | null;
  occurred_at?: string;
};

const supplierId = z.uuid();

/** The supplier named in `?supplier=` and the JSON credential of its integration with `provider`. */
async function supplierSecret(
  deps: MeetingWebhookDeps,
  req: Request,
  provider: string,
): Promise<{ supplier: string; secret: Record<string, unknown> | undefined }> {
  const supplier = supplierId.safeParse(new URL(req.url).searchParams.get("supplier"));
  if (!supplier.success) {
    throw new HttpError(400, "invalid_supplier", "Query parameter supplier must be the supplier's uuid");
  }
  const [row] = await deps.sql<{ secret_id: string | null }[]>`
    select secret_id::text as secret_id from public.supplier_integrations
    where supplier_id = ${supplier.data}::uuid and provider = ${provider}`;
  return { supplier: supplier.data, secret: await vaultJson(deps.secrets, row?.secret_id ?? null) };
}

async function receive(
  deps: MeetingWebhookDeps,
  provider: string,
  eventId: string,
  eventType: string,
  supplier: string,
  event: MeetingEvent,
): Promise<Response> {
  const [row] = await deps.sql<{ result: string }[]>`
    select public.receive_meeting_event(${provider}, ${eventId}, ${eventType}, ${supplier}::uuid,
      ${JSON.stringify(event)}::text::jsonb) as result`;
  return json({ received: true, result: row.result });
}

/** Request schema, exported for the fuzz suite's generators. */
export const calendlyEvent = z.object({
  event: z.string().min(1).max(100),
  created_at: z.string().datetime({ offset: true }),
  payload: z.object({
    uri: z.url().max(500),
    email: z.string().max(320).optional(),
    cancel_url: z.url().max(1000).optional(),
    reschedule_url: z.url().max(1000).optional(),
    rescheduled: z.boolean().optional(),
    old_invitee: z.url().max(500).nullish(),
    tracking: z.object({ utm_content: z.string().max(200).nullish() }).loose().nullish(),
    scheduled_event: z.object({
      start_time: z.string().datetime({ offset: true }),
      end_time: z.string().datetime({ offset: true }),
      location: z.object({
        join_url: z.string().max(1000).nullish(),
        location: z.string().max(500).nullish(),
      }).loose().nullish(),
    }).loose().optional(),
  }).loose(),
});

/**
 * `POST /webhook-calendly?supplier=<uuid>`: the URL our subscription registers. Verified with the
 * signing key we chose when subscribing (`signing_key` in the supplier's Calendly Vault secret).
 */
export function calendlyWebhookHandler(deps: MeetingWebhookDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const raw = await readRawBody(req);
    const { supplier, secret } = await supplierSecret(deps, req, "calendly");
    try {
      await verifyCalendly({
        signingKey: typeof secret?.signing_key === "string" ? secret.signing_key : undefined,
        header: req.headers.get("calendly-webhook-signature"),
        rawBody: raw,
        now: deps.now?.(),
      });
    } catch (error) {
      if (error instanceof CalendlySignatureError) {
        throw new HttpError(401, "invalid_signature", error.message);
      }
      throw error;
    }
    const parsed = calendlyEvent.safeParse(parseJson(raw));
    if (!parsed.success) {
      throw new HttpError(400, "invalid_event", "Not a Calendly invitee event", fieldErrors(parsed.error));
    }
    const e = parsed.data;
    const p = e.payload;
    if (e.event !== "invitee.created" && e.event !== "invitee.canceled") {
      return json({ received: true, result: "ignored" });
    }
    // A reschedule cancels the old invitee and creates a new one that names it: the creation moves the
    // meeting, so the cancellation half must not cancel it.
    if (e.event === "invitee.canceled" && p.rescheduled) return json({ received: true, result: "ignored" });
    if (e.event === "invitee.created" && !p.scheduled_event) {
      throw new HttpError(400, "invalid_event", "invitee.created without scheduled_event");
    }
    return await receive(deps, "calendly", `${e.event}:${p.uri}`, e.event, supplier, {
      kind: e.event === "invitee.created" ? "booked" : "canceled",
      external_id: p.uri,
      previous_external_id: p.old_invitee ?? null,
      meeting_ref: p.tracking?.utm_content ?? null,
      invitee_email: p.email ?? null,
      start_at: p.scheduled_event?.start_time,
      end_at: p.scheduled_event?.end_time,
      join_url: p.scheduled_event?.location?.join_url ?? null,
      location: p.scheduled_event?.location?.location ?? null,
      cancel_url: p.cancel_url ?? null,
      reschedule_url: p.reschedule_url ?? null,
      occurred_at: e.created_at,
    });
  }, deps.log);
}

/** Request schema, exported for the fuzz suite's generators. */
export const acuityForm = z.object({
  action: z.string().min(1).max(50),
  id: z.string().regex(/^\d{1,15}$/, "must be an appointment id"),
});

/**
 * `POST /webhook-acuity?supplier=<uuid>`: Acuity's form-encoded notification, signed with the account's
 * API key (`api_key` in the supplier's Acuity Vault secret). Only ids are posted, so the appointment is
 * read back before it is trusted for times.
 */
export function acuityWebhookHandler(deps: MeetingWebhookDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const raw = await readRawBody(req, 16 * 1024);
    const { supplier, secret } = await supplierSecret(deps, req, "acuity");
    const apiKey = typeof secret?.api_key === "string" ? secret.api_key : undefined;
    try {
      await verifyAcuity({ apiKey, header: req.headers.get("x-acuity-signature"), rawBody: raw });
    } catch (error) {
      if (error instanceof AcuitySignatureError) throw new HttpError(401, "invalid_signature", error.message);
      throw error;
    }
    const form = acuityForm.safeParse(Object.fromEntries(new URLSearchParams(new TextDecoder().decode(raw))));
    if (!form.success) {
      throw new HttpError(
        400,
        "invalid_event",
        "Not an Acuity appointment notification",
        fieldErrors(form.error),
      );
    }
    const { action, id } = form.data;
    if (!["scheduled", "rescheduled", "canceled", "changed"].includes(action)) {
      return json({ received: true, result: "ignored" });
    }
    if (!deps.acuity || typeof secret?.user_id !== "string") {
      throw new HttpError(
        409,
        "integration_incomplete",
        "The Acuity integration has no user_id to read appointments",
      );
    }
    const got = await getAppointment({ ...deps.acuity, userId: secret.user_id, apiKey: apiKey! }, id);
    if (!got.ok) {
      // Nothing is recorded: the notification is refused so it can be delivered again, not half-applied.
      throw new HttpError(
        503,
        "appointment_unavailable",
        `Cannot read Acuity appointment ${id}: ${got.error.message}`,
      );
    }
    const a = got.appointment!;
    const canceled = action === "canceled" || a.canceled;
    // The inbox key names the Acuity account too: appointment ids are only the account's to vouch for, and
    // the inbox is shared by every supplier (a key without it dropped another account's event as a copy).
    const eventId = `${secret.user_id}:${action}:${id}:${a.start.toISOString()}`;
    return await receive(deps, "acuity", eventId, action, supplier, {
      kind: canceled ? "canceled" : "booked",
      external_id: a.id,
      invitee_email: a.email || null,
      start_at: a.start.toISOString(),
      end_at: a.end.toISOString(),
      location: a.location,
      reschedule_url: a.confirmationPage,
    });
  }, deps.log);
}

// The inbound CRM webhook: a vendor's automations (Zapier, Make) push couple changes back. The URL's
// token authenticates the vendor; the change is applied with its origin, so it is not synced back.
import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../../http/errors.ts";
import { type FieldError, parseOr422 } from "../../http/validate.ts";
import type { SecretStore } from "../../secrets.ts";
import {
  COUPLE_FIELD_VALUES,
  COUPLE_FIELDS,
  type CoupleField,
  WEBHOOK_CRMS,
  webhookSecret,
  webhookSettings,
} from "./config.ts";

/** Changes an automation can push. */
/** `project.cancelled`: the booking was cancelled in the CRM: the couple's journeys and their pending sends end. */
export const INBOUND_EVENT_TYPES = [
  "couple.updated",
  "project.booked",
  "wedding_date.changed",
  "project.cancelled",
] as const;

/** Request schema, exported for the fuzz suite's generators. */
export const inboundEvent = z.strictObject({
  type: z.enum(INBOUND_EVENT_TYPES),
  version: z.literal(1).default(1),
  /** The automation's event id: a repeated delivery with the same id is applied once. */
  id: z.string().min(1).max(200).optional(),
  /** The CRM the change comes from; defaults to the integration's `crm`. */
  source: z.enum([...WEBHOOK_CRMS, "tave"]).optional(),
  /** `id` (the couple's id from an outbound webhook) or the mapped email finds the couple. */
  couple: z.record(z.string().max(100), z.string().max(2000).nullable()),
});

const customValue = z.string().max(2000).nullable();

/** What the receiver needs. */
export type CrmInboundDeps = { sql: Sql; secrets: SecretStore; log?: (line: string) => void };

/** base64url(HMAC-SHA256(inbound_secret, "crm-inbound:" + supplier id)): the token in the inbound URL. */
export async function inboundToken(inboundSecret: string, supplierId: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(inboundSecret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, encoder.encode(`crm-inbound:${supplierId}`)),
  );
  return btoa(String.fromCharCode(...mac)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function sameToken(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Handles `POST /crm-inbound?supplier=<uuid>&token=<token>` (the URL public.crm_inbound_url gives):
 * `{"type": "wedding_date.changed", "id": "…", "couple": {"id": "<couple uuid>", "event_date": "2027-09-04"}}`.
 * Couple fields use the names of the vendor's field map (or this platform's names when unmapped).
 */
export function crmInboundHandler(deps: CrmInboundDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const url = new URL(req.url);
    const supplier = z.uuid().safeParse(url.searchParams.get("supplier"));
    if (!supplier.success) {
      throw new HttpError(400, "invalid_supplier", "Query parameter supplier must be the supplier's uuid");
    }
    const raw = await readRawBody(req, 64 * 1024);

    const [integration] = await deps.sql<
      { secret_id: string | null; settings: unknown; status: string; updated_at: string }[]
    >`
      select secret_id::text as secret_id, settings, status, updated_at::text as updated_at
      from public.supplier_integrations
      where supplier_id = ${supplier.data}::uuid and provider = 'crm_webhooks'`;
    let inboundSecret: string | undefined;
    if (integration?.secret_id) {
      try {
        inboundSecret = webhookSecret.parse(
          JSON.parse(await deps.secrets.byId(integration.secret_id, integration.updated_at)),
        )
          .inbound_secret;
      } catch {
        inboundSecret = undefined;
      }
    }
    if (!inboundSecret) {
      throw new HttpError(
        401,
        "webhook_not_configured",
        "No inbound CRM webhook is configured for this supplier",
      );
    }
    const token = url.searchParams.get("token") ?? "";
    if (!sameToken(token, await inboundToken(inboundSecret, supplier.data))) {
      throw new HttpError(401, "invalid_token", "The token does not match this supplier's inbound webhook");
    }
    if (integration.status === "disconnected") {
      throw new HttpError(403, "integration_disconnected", `The CRM integration is ${integration.status}`);
    }
    const settings = webhookSettings.safeParse(integration.settings);
    if (!settings.success) {
      throw new HttpError(
        409,
        "integration_misconfigured",
        "The supplier's CRM webhook settings are invalid",
      );
    }
    const event = parseOr422(inboundEvent, parseJson(raw), "CRM change");

    // The vendor's names back to ours: mapped names first, then this platform's own field names.
    const byName = new Map<string, string>();
    for (const [field, name] of Object.entries(settings.data.field_map)) byName.set(name, field);
    for (const field of COUPLE_FIELDS) if (!byName.has(field)) byName.set(field, field);

    const fields: Record<string, unknown> = {};
    const custom: Record<string, unknown> = {};
    const errors: FieldError[] = [];
    const ignored: string[] = [];
    let clientId: string | null = null;
    for (const [name, value] of Object.entries(event.couple)) {
      if (name === "id") {
        const id = z.uuid().safeParse(value);
        if (id.success) clientId = id.data;
        else errors.push({ path: "couple.id", message: "must be the couple's uuid" });
        continue;
      }
      const field = byName.get(name);
      if (!field) {
        ignored.push(name);
        continue;
      }
      const schema = field.startsWith("custom.") ? customValue : COUPLE_FIELD_VALUES[field as CoupleField];
      const parsed = schema.safeParse(value);
      if (!parsed.success) {
        errors.push({ path: `couple.${name}`, message: parsed.error.issues[0].message });
      } else if (field.startsWith("custom.")) {
        custom[field.slice("custom.".length)] = parsed.data;
      } else {
        fields[field] = parsed.data;
      }
    }
    // Without the couple's id, the email finds the couple (it is then not a change).
    const email = clientId ? null : (fields.email as string | null | undefined) ?? null;
    if (!clientId) delete fields.email;
    if (!clientId && !email) {
      errors.push({
        path: "couple",
        message: "needs id (the couple's uuid) or the email to find the couple",
      });
    }
    if (event.type === "wedding_date.changed" && !fields.wedding_date) {
      errors.push({ path: "couple", message: "wedding_date.changed needs the new wedding date" });
    }
    if (errors.length > 0) {
      throw new HttpError(
        422,
        "validation_failed",
        `Invalid CRM change: ${errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
        errors,
      );
    }
    if (Object.keys(custom).length > 0) fields.custom = custom;

    const origin = event.source ?? settings.data.crm;
    let result: { result: string; client_id?: string; cancelled_instances?: number; cancelled_runs?: number };
    try {
      const [row] = await deps.sql<{ r: typeof result }[]>`
        select public.apply_crm_change(${supplier.data}::uuid, ${origin}, ${event.id ?? null}, ${event.type},
          ${clientId}::uuid, ${email}, ${JSON.stringify(fields)}::text::jsonb) as r`;
      result = row.r;
    } catch (error) {
      if ((error as { code?: string }).code !== "23514") throw error;
      throw new HttpError(422, "check_failed", "The change was refused by a database check on the couple");
    }
    if (result.result === "not_found") {
      throw new HttpError(404, "couple_not_found", "No such couple for this supplier");
    }
    if (result.result === "ambiguous") {
      throw new HttpError(409, "couple_ambiguous", "Several couples have this email: send the couple's id");
    }
    return json({ ...result, ignored });
  }, deps.log);
}

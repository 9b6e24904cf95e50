// The CRM integrations' settings and Vault secrets (Tave / VSCO Workspace, signed webhooks), and the
// per-vendor field maps that decide which couple fields leave the platform.
import { z } from "zod";

/** Events the CRM sync sends (public.crm_events.event_type). */
export const CRM_EVENT_TYPES = [
  "journey.started",
  "step.completed",
  "couple.updated",
  "journey.completed",
] as const;
/** One CRM event type. */
export type CrmEventType = typeof CRM_EVENT_TYPES[number];

/** The couple fields a field map can send (custom values as `custom.<key>`). */
export const COUPLE_FIELDS = [
  "couple_name",
  "email",
  "phone",
  "wedding_date",
  "booking_date",
  "venue",
] as const;
/** One couple field. */
export type CoupleField = typeof COUPLE_FIELDS[number];
const SOURCE_FIELD =
  /^(couple_name|email|phone|wedding_date|booking_date|venue|custom\.[a-z][a-z0-9_]{0,62})$/;

const sourceField = z.string().regex(
  SOURCE_FIELD,
  `must be one of ${COUPLE_FIELDS.join(", ")} or custom.<key>`,
);

/** A field map: couple field → the name it has in the CRM. Unmapped fields are never sent. */
function fieldMap(target: z.ZodType<string>) {
  return z.record(sourceField, target).refine(
    (map) => new Set(Object.values(map)).size === Object.values(map).length,
    "two couple fields are mapped to the same CRM field",
  );
}

/** Fields of Tave's New Lead API, plus the job dates only the v2 API writes. */
export const TAVE_FIELDS = [
  "FirstName",
  "LastName",
  "Email",
  "MobilePhone",
  "EventDate",
  "BookingDate",
  "Message",
];
const taveField = z.string().regex(
  /^(FirstName|LastName|Email|MobilePhone|EventDate|BookingDate|Message|CF-[0-9]{1,12})$/,
  `must be one of ${TAVE_FIELDS.join(", ")} or CF-<custom field id>`,
);

/** Tave job stages (VSCO Workspace API v2 `Job.stage`). */
export const TAVE_STAGES = ["lead", "booked", "fulfillment", "completed"] as const;

const events = z.array(z.enum(CRM_EVENT_TYPES)).min(1).optional();
const endpoint = z.url({ protocol: /^https?$/ });

/** `supplier_integrations.settings` of provider `tave`. */
export const taveSettings = z.strictObject({
  /** Tave job type name for new leads (the New Lead API requires one), e.g. `Wedding`. */
  job_type: z.string().min(1).max(100),
  brand: z.string().min(1).max(100).optional(),
  /** Lead source name shown in Tave. */
  source: z.string().min(1).max(100).optional(),
  job_role: z.string().min(1).max(100).optional(),
  field_map: fieldMap(taveField).refine(
    (map) => Object.values(map).includes("FirstName"),
    "must map a couple field to FirstName (Tave requires it)",
  ),
  /** The job stage to set on an event, e.g. `{"journey.started": "booked"}`. */
  stages: z.partialRecord(z.enum(CRM_EVENT_TYPES), z.enum(TAVE_STAGES)).default({}),
  /** Add a note to the job when a step or the journey completes. */
  notes: z.boolean().default(true),
  events,
  lead_base_url: endpoint.optional(),
  api_base_url: endpoint.optional(),
});
/** Parsed Tave settings. */
export type TaveSettings = z.output<typeof taveSettings>;

/** The Vault secret of a Tave integration. */
export const taveSecret = z.object({
  /** Settings › New Lead API: the studio id in the URL and the secret key. */
  studio_id: z.string().min(1).max(100),
  secret_key: z.string().min(1).max(200),
  /** Settings › API Integrations: a read/write key for the v2 API (`X-API-KEY`). */
  api_key: z.string().min(1).max(500),
});

const jsonKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "must be a JSON key like event_date")
  .refine((key) => key !== "id", "id is the couple's id in the payload");

/** CRMs reached through automations (Zapier, Make) instead of an API. */
export const WEBHOOK_CRMS = ["honeybook", "dubsado", "studio_ninja", "other"] as const;

/** `supplier_integrations.settings` of provider `crm_webhooks`. */
export const webhookSettings = z.strictObject({
  /** The CRM the automation feeds: a change that came from it is not sent back to it. */
  crm: z.enum(WEBHOOK_CRMS).default("other"),
  /** The automation's catch-hook URL; without one the integration only receives (inbound webhook). */
  url: endpoint.optional(),
  /** Couple fields sent, and the names they have in the payload (also the names accepted inbound). */
  field_map: fieldMap(jsonKey).default({}),
  events,
});
/** Parsed webhook settings. */
export type WebhookSettings = z.output<typeof webhookSettings>;

/** The Vault secret of a webhooks integration. */
export const webhookSecret = z.object({
  /** Signs outbound webhooks (Standard Webhooks: `whsec_<base64>`). */
  signing_secret: z.string().regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, "must be whsec_<base64>").optional(),
  /** Keys the inbound webhook's token (see public.crm_inbound_url). */
  inbound_secret: z.string().min(16).optional(),
});

const day = z.iso.date("must be a date YYYY-MM-DD");
/** A couple field's value as the database accepts it (the checks on public.clients). */
export const COUPLE_FIELD_VALUES: Record<CoupleField, z.ZodType> = {
  couple_name: z.string().trim().min(1, "is required").max(200, "must be at most 200 characters"),
  email: z.string().trim().regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, "must be an email address").nullable(),
  phone: z.string().regex(/^\+[1-9][0-9]{6,14}$/, "must be an international number like +447700900123")
    .nullable(),
  wedding_date: day.nullable(),
  booking_date: day.nullable(),
  venue: z.string().max(500).nullable(),
};
/** A couple as the CRM sync reads it. */
export type Couple = {
  couple_name: string;
  email: string | null;
  phone: string | null;
  wedding_date: string | null;
  booking_date: string | null;
  venue: string | null;
  custom: Record<string, unknown>;
};

/** A couple field's value (custom values as strings), or null. */
export function coupleValue(couple: Couple, field: string): string | null {
  if (field.startsWith("custom.")) {
    const v = couple.custom[field.slice("custom.".length)];
    return v === undefined || v === null ? null : typeof v === "string" ? v : JSON.stringify(v);
  }
  return couple[field as CoupleField] ?? null;
}

/** The mapped fields only, under their CRM names: what may leave the platform. */
export function mappedFields(couple: Couple, map: Record<string, string>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [field, name] of Object.entries(map)) out[name] = coupleValue(couple, field);
  return out;
}

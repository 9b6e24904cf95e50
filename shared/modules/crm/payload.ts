// The outbound webhook's JSON (schema version 1): the one definition the sender, the tests and the
// published JSON Schema (docs/crm-webhook-v1.schema.json) come from.
import { z } from "zod";
import { CRM_EVENT_TYPES } from "./config.ts";

/** The payload schema version; a change that could break a receiver gets a new version. */
export const WEBHOOK_SCHEMA_VERSION = 1;

/** A CRM webhook's body. */
export const crmWebhookPayload = z.strictObject({
  /** What happened. */
  type: z.enum(CRM_EVENT_TYPES),
  version: z.literal(WEBHOOK_SCHEMA_VERSION),
  /** The event's id; also the `webhook-id` header, the same on every retry (deduplicate on it). */
  id: z.uuid(),
  /** When it happened (ISO 8601, UTC). */
  timestamp: z.iso.datetime(),
  data: z.strictObject({
    supplier_id: z.uuid(),
    /** The couple: its id, and only the fields the vendor mapped, under the mapped names. */
    couple: z.object({ id: z.uuid() }).catchall(z.string().nullable()),
    /** couple.updated: the mapped names of the fields that changed. */
    changes: z.array(z.string()),
    journey: z.strictObject({
      instance_id: z.uuid(),
      journey_id: z.uuid(),
      name: z.string(),
      status: z.enum(["active", "completed", "cancelled"]),
    }).nullable(),
    /** step.completed: the step that completed. */
    step: z.strictObject({
      id: z.uuid(),
      position: z.int().positive(),
      module_type: z.string(),
    }).nullable(),
  }),
}).meta({
  title: "CRM webhook, version 1",
  description: "Sent by the journey platform to a vendor's automation (Zapier, Make) for each CRM event.",
});

/** A webhook body. */
export type CrmWebhookPayload = z.output<typeof crmWebhookPayload>;

/** The JSON Schema (draft 2020-12) published for receivers. */
export function crmWebhookJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(crmWebhookPayload, { target: "draft-2020-12" }) as Record<string, unknown>;
}

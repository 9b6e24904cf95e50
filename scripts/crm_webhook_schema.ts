// Writes docs/crm-webhook-v1.schema.json from the payload's definition (shared/modules/crm/payload.ts);
// tests/unit/crm_webhook_test.ts fails when the published file is out of date.
import { crmWebhookJsonSchema } from "../shared/modules/crm/payload.ts";

const target = new URL("../docs/crm-webhook-v1.schema.json", import.meta.url);
await Deno.writeTextFile(target, JSON.stringify(crmWebhookJsonSchema(), null, 2) + "\n");
console.log(`Wrote ${target.pathname}`);

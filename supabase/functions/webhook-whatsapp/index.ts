// webhook-whatsapp: WhatsApp Cloud API verification, statuses and inbound messages for one supplier (?supplier=<uuid>).
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { whatsappWebhookHandler } from "../../../shared/modules/sms/whatsapp_webhook.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);

Deno.serve(whatsappWebhookHandler({ sql, secrets: vaultSecrets(sql) }));

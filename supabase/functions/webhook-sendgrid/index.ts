// webhook-sendgrid: SendGrid's Event Webhook for one supplier (?supplier=<uuid>), ECDSA-signed.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { sendGridWebhookHandler } from "../../../shared/modules/email/sendgrid_webhook.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);

Deno.serve(sendGridWebhookHandler({ sql, secrets: vaultSecrets(sql) }));

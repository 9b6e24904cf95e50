// webhook-mailgun: Mailgun's webhooks for one supplier (?supplier=<uuid>), HMAC-signed in the body.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { mailgunWebhookHandler } from "../../../shared/modules/email/mailgun_webhook.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);

Deno.serve(mailgunWebhookHandler({ sql, secrets: vaultSecrets(sql) }));

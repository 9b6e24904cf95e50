// webhook-resend: Resend's delivery events for one supplier (?supplier=<uuid>), Svix-signed.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { resendWebhookHandler } from "../../../shared/modules/email/resend_webhook.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);

Deno.serve(resendWebhookHandler({ sql, secrets: vaultSecrets(sql) }));

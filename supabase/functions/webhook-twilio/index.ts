// webhook-twilio: Twilio status callbacks and inbound SMS for one supplier (?supplier=<uuid>), X-Twilio-Signature-signed.
import { loadConfig, publicFunctionsUrl } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { twilioWebhookHandler } from "../../../shared/modules/sms/twilio_webhook.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);

Deno.serve(
  twilioWebhookHandler({ sql, secrets: vaultSecrets(sql), publicFunctionsUrl: publicFunctionsUrl(config) }),
);

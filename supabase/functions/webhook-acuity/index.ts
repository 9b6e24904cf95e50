// webhook-acuity: Acuity's appointment notifications for one supplier (?supplier=<uuid>).
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { acuityWebhookHandler } from "../../../shared/modules/meeting/webhooks.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);

Deno.serve(acuityWebhookHandler({
  sql,
  secrets: vaultSecrets(sql),
  acuity: { baseUrl: config.ACUITY_BASE_URL, timeoutMs: config.PROVIDER_TIMEOUT_MS },
}));

// webhook-calendly: Calendly's invitee.created / invitee.canceled for one supplier (?supplier=<uuid>).
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { calendlyWebhookHandler } from "../../../shared/modules/meeting/webhooks.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);

Deno.serve(calendlyWebhookHandler({ sql, secrets: vaultSecrets(sql) }));

// email-unsubscribe: the RFC 8058 one-click unsubscribe link of every email (?token=<signed jwt>).
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { unsubscribeHandler } from "../../../shared/modules/email/unsubscribe.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);

Deno.serve(unsubscribeHandler({ sql, secrets: vaultSecrets(sql) }));

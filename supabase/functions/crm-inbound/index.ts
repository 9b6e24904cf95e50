// crm-inbound: couple changes pushed back by a vendor's CRM automations (?supplier=<uuid>&token=<token>).
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { crmInboundHandler } from "../../../shared/modules/crm/inbound.ts";
import { vaultSecrets } from "../../../shared/secrets.ts";

const config = loadConfig(Deno.env.toObject());
const sql = connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE);

Deno.serve(crmInboundHandler({ sql, secrets: vaultSecrets(sql) }));

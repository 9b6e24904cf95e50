// crm-csv: a vendor's users export couples with their journey status, and import couples from a CRM export.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { crmCsvHandler } from "../../../shared/modules/crm/csv_handler.ts";

const config = loadConfig(Deno.env.toObject());

Deno.serve(crmCsvHandler({ sql: connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE) }));

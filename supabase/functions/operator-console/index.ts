// operator-console: the operators' HTML page (service role or an operator claim), re-drive button.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { operatorConsoleHandler } from "../../../shared/console/console.ts";

const config = loadConfig(Deno.env.toObject());

Deno.serve(operatorConsoleHandler({ sql: connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE) }));

// journeys: the vendor's app manages journeys here (steps, a couple's journey, dry runs), as the signed-in user.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { journeysHandler } from "../../../shared/modules/journeys.ts";

const config = loadConfig(Deno.env.toObject());

Deno.serve(journeysHandler({ sql: connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE) }));

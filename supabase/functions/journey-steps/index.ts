// journey-steps: the journey builder creates steps here; configs are validated per module type.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { journeyStepsHandler } from "../../../shared/modules/journey_steps.ts";

const config = loadConfig(Deno.env.toObject());

Deno.serve(journeyStepsHandler({ sql: connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE) }));

// activity: a couple's activity timeline for the vendor app (signed-in supplier members, RLS).
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { activityHandler } from "../../../shared/activity/timeline.ts";

const config = loadConfig(Deno.env.toObject());

Deno.serve(activityHandler({ sql: connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE) }));

// meeting-setup: the vendor app connects Calendly, Acuity and Google Calendar and validates meeting steps.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { meetingSetupDeps } from "../../../shared/modules/meeting/setup_deps.ts";
import { meetingSetupHandler } from "../../../shared/modules/meeting/setup.ts";

const config = loadConfig(Deno.env.toObject());

Deno.serve(
  meetingSetupHandler(meetingSetupDeps(config, connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE))),
);

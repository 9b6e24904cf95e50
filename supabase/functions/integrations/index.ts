// integrations: the vendor app connects, tests, rotates, disconnects and lists its integrations here.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { integrationsDeps } from "../../../shared/integrations/deps.ts";
import { integrationsHandler } from "../../../shared/integrations/handler.ts";

const config = loadConfig(Deno.env.toObject());

Deno.serve(
  integrationsHandler(integrationsDeps(config, connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE))),
);

// google-oauth-callback: Google sends the vendor back here after consent; the refresh token goes to Vault.
import { loadConfig } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { meetingSetupDeps } from "../../../shared/modules/meeting/setup_deps.ts";
import { googleOAuthCallbackHandler } from "../../../shared/modules/meeting/setup.ts";

const config = loadConfig(Deno.env.toObject());

Deno.serve(
  googleOAuthCallbackHandler(meetingSetupDeps(config, connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE))),
);

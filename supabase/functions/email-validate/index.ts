// email-validate: checks an email step config for a supplier, with field-level errors, for the journey builder.
import { loadConfig, publicFunctionsUrl } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { emailValidateHandler } from "../../../shared/modules/email/builder.ts";

const config = loadConfig(Deno.env.toObject());

Deno.serve(emailValidateHandler({
  sql: connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE),
  functionsUrl: publicFunctionsUrl(config),
}));

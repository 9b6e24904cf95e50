// email-preview: renders an email step for a couple exactly as it would be sent, without sending.
import { loadConfig, publicFunctionsUrl } from "../../../shared/config.ts";
import { connect } from "../../../shared/db/client.ts";
import { emailPreviewHandler } from "../../../shared/modules/email/builder.ts";

const config = loadConfig(Deno.env.toObject());

Deno.serve(emailPreviewHandler({
  sql: connect(config.SUPABASE_DB_URL, config.DB_POOL_SIZE),
  functionsUrl: publicFunctionsUrl(config),
}));

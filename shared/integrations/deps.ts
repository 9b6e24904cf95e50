// The dependencies of the integrations function, built from the function configuration.
import { type Config, publicFunctionsUrl } from "../config.ts";
import type { Sql } from "../db/client.ts";
import { vaultSecrets } from "../secrets.ts";
import type { IntegrationsDeps } from "./handler.ts";

/** Builds the integrations function's dependencies; provider API bases come from the configuration. */
export function integrationsDeps(config: Config, sql: Sql): IntegrationsDeps {
  return {
    sql,
    secrets: vaultSecrets(sql),
    timeoutMs: config.PROVIDER_TIMEOUT_MS,
    urls: {
      resend: config.RESEND_BASE_URL,
      sendgrid: config.SENDGRID_BASE_URL,
      sendgridEu: config.SENDGRID_EU_BASE_URL,
      mailgun: config.MAILGUN_BASE_URL,
      mailgunEu: config.MAILGUN_EU_BASE_URL,
      twilio: config.TWILIO_BASE_URL,
      whatsapp: config.WHATSAPP_BASE_URL,
      typeform: config.TYPEFORM_BASE_URL,
      jotform: config.JOTFORM_BASE_URL,
      acuity: config.ACUITY_BASE_URL,
      calendly: config.CALENDLY_BASE_URL,
      taveApi: config.TAVE_API_BASE_URL,
      functions: publicFunctionsUrl(config),
    },
  };
}

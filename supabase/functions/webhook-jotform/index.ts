// webhook-jotform: Jotform submissions for one supplier (?supplier=<uuid>&token=...), re-fetched from Jotform.
import { jotformWebhookHandler } from "../../../shared/modules/form/endpoints.ts";
import { moduleRuntime } from "../../../shared/modules/runtime.ts";

const rt = moduleRuntime();
Deno.serve(jotformWebhookHandler({
  ...rt,
  jotform: { baseUrl: rt.config.JOTFORM_BASE_URL, timeoutMs: rt.config.PROVIDER_TIMEOUT_MS },
}));

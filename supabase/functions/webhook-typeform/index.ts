// webhook-typeform: Typeform form responses for one supplier (?supplier=<uuid>), Typeform-Signature checked.
import { typeformWebhookHandler } from "../../../shared/modules/form/endpoints.ts";
import { moduleRuntime } from "../../../shared/modules/runtime.ts";

Deno.serve(typeformWebhookHandler(moduleRuntime()));

// form-submissions: the internal form endpoint the vendor's web app calls with the couple's signed token.
import { formSubmissionsHandler } from "../../../shared/modules/form/endpoints.ts";
import { moduleRuntime } from "../../../shared/modules/runtime.ts";

Deno.serve(formSubmissionsHandler(moduleRuntime()));

// module-review: sends review requests after the wedding and their follow-ups when the database kicks it.
import { reviewExecutor } from "../../../shared/modules/review/executor.ts";
import { moduleRuntime, serveModule } from "../../../shared/modules/runtime.ts";

const rt = moduleRuntime();
Deno.serve(serveModule("review", rt, reviewExecutor(rt)));

// module-info: shares information with couples (email and/or dashboard) when the database kicks it.
import { infoExecutor } from "../../../shared/modules/info/executor.ts";
import { moduleRuntime, serveModule } from "../../../shared/modules/runtime.ts";

const rt = moduleRuntime();
Deno.serve(serveModule("info", rt, infoExecutor(rt)));

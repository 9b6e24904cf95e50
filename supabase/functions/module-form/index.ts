// module-form: sends form links, reminders and deadlines when the database kicks it (pg_net) or pg_cron sweeps.
import { formExecutor } from "../../../shared/modules/form/executor.ts";
import { moduleRuntime, serveModule } from "../../../shared/modules/runtime.ts";

const rt = moduleRuntime();
Deno.serve(serveModule("form", rt, formExecutor(rt)));

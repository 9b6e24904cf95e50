// module-email: drains due email runs when the database kicks it (pg_net) or pg_cron sweeps.
import { emailExecutor } from "../../../shared/modules/email/executor.ts";
import { moduleRuntime, serveModule } from "../../../shared/modules/runtime.ts";

const rt = moduleRuntime();
Deno.serve(serveModule("email", rt, emailExecutor(rt)));

// module-referral: sends couples their referral code and link when the database kicks it.
import { referralExecutor } from "../../../shared/modules/referral/executor.ts";
import { moduleRuntime, serveModule } from "../../../shared/modules/runtime.ts";

const rt = moduleRuntime();
Deno.serve(serveModule("referral", rt, referralExecutor(rt)));

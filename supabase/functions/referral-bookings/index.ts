// referral-bookings: the vendor's users report a referred friend booked, or a reward redeemed.
import { referralBookingsHandler } from "../../../shared/modules/referral/links.ts";
import { moduleRuntime } from "../../../shared/modules/runtime.ts";

Deno.serve(referralBookingsHandler(moduleRuntime()));

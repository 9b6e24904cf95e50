// journey-links: tracked review and referral links, the rating endpoint and referral sign-ups (signed tokens).
import { journeyLinksHandler } from "../../../shared/links/endpoint.ts";
import { moduleRuntime } from "../../../shared/modules/runtime.ts";

Deno.serve(journeyLinksHandler(moduleRuntime()));

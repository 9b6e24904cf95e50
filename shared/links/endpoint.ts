// The journey-links function: the public endpoints behind links in couples' messages, each authenticated
// by its signed token (browsers follow links without credentials, so verify_jwt is off).
import { HttpError, withErrors } from "../http/errors.ts";
import { referralClick, type ReferralLinkDeps, referralSignup } from "../modules/referral/links.ts";
import { reviewClick, type ReviewLinkDeps, reviewRating } from "../modules/review/links.ts";

type Route = (deps: ReviewLinkDeps & ReferralLinkDeps, req: Request) => Promise<Response>;

const ROUTES: Record<string, { methods: string[]; route: Route }> = {
  "/review": { methods: ["GET", "HEAD"], route: reviewClick },
  "/review/rating": { methods: ["POST"], route: reviewRating },
  "/referral": { methods: ["GET", "HEAD"], route: referralClick },
  "/referral/signup": { methods: ["POST"], route: referralSignup },
};

/** Routes `/journey-links/<route>` to the review and referral endpoints. */
export function journeyLinksHandler(
  deps: ReviewLinkDeps & ReferralLinkDeps & { log?: (line: string) => void },
): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    const path = new URL(req.url).pathname.replace(/^\/(functions\/v1\/)?journey-links/, "").replace(
      /\/$/,
      "",
    );
    const entry = ROUTES[path];
    if (!entry) throw new HttpError(404, "not_found", `No link endpoint ${path || "/"}`);
    if (!entry.methods.includes(req.method)) {
      throw new HttpError(405, "method_not_allowed", `Use ${entry.methods.join(" or ")}`);
    }
    return await entry.route(deps, req);
  }, deps.log);
}

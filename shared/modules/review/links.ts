// The review module's public endpoints: tracked 302 redirects to the review platforms (people's clicks
// recorded, scanners and prefetches not), and the rating endpoint that routes by stars.
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, readRawBody } from "../../http/errors.ts";
import { parseOr422 } from "../../http/validate.ts";
import { scannerReason } from "../../links/scanners.ts";
import { verifyLinkToken } from "../../links/tokens.ts";
import { platformUrl, type ReviewPlatform } from "./config.ts";
import { reviewLinks } from "./executor.ts";

/** What the review endpoints need. */
export type ReviewLinkDeps = {
  sql: Sql;
  linksSecret: () => Promise<string>;
  linksBaseUrl: string;
  now?: () => Date;
};

/** A redirect that no cache or referrer header keeps. */
export function redirect(location: string): Response {
  return new Response(null, {
    status: 302,
    headers: { location, "cache-control": "no-store", "referrer-policy": "no-referrer" },
  });
}

/** `GET|HEAD /journey-links/review?t=...`: 302 to the platform; records the click when a person made it. */
export async function reviewClick(deps: ReviewLinkDeps, req: Request): Promise<Response> {
  const claims = await verifyLinkToken(
    await deps.linksSecret(),
    "review_click",
    new URL(req.url).searchParams.get("t"),
    deps.now?.(),
  );
  const platform = String(claims.plt ?? "");
  const [row] = await deps.sql<{ platform: string; place_id: string | null; url: string | null }[]>`
    select p.platform, p.place_id, p.url
    from public.review_requests q
    join public.review_platforms p on p.supplier_id = q.supplier_id and p.platform = ${platform}
    where q.id = ${claims.sub}::uuid and ${platform} = any (q.platforms)`;
  if (!row) throw new HttpError(404, "review_link_not_found", "This review link no longer leads anywhere");
  if (scannerReason(req) === null) {
    await deps.sql`select public.record_review_click(${claims.sub}::uuid, ${platform})`;
  }
  return redirect(platformUrl(row));
}

/** Request schema, exported for the fuzz suite's generators. */
export const ratingBody = z.strictObject({
  journey_token: z.string().min(1).max(2048),
  rating: z.number().int().min(1).max(5),
  comment: z.string().max(5000).optional(),
});

/**
 * `POST /journey-links/review/rating {journey_token, rating, comment?}` from the vendor's rating page:
 * 4-5 stars → the public platforms (tracked links), 3 → internal feedback, 1-2 → the vendor is asked
 * to contact the couple directly. The first rating decides.
 */
export async function reviewRating(deps: ReviewLinkDeps, req: Request): Promise<Response> {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
  const body = parseOr422(ratingBody, parseJson(await readRawBody(req, 16 * 1024)), "rating");
  const secret = await deps.linksSecret();
  const claims = await verifyLinkToken(secret, "review_rating", body.journey_token, deps.now?.());
  const [rated] = await deps.sql<
    { result: string; route: string | null; platforms: ReviewPlatform[] | null }[]
  >`
    select result, route, platforms from public.record_review_rating(${claims.sub}::uuid, ${body.rating}, ${
    body.comment ?? null
  })`;
  if (rated.result === "not_found") {
    throw new HttpError(404, "review_not_found", "No review request matches this link");
  }
  const answer: Record<string, unknown> = { result: rated.result, route: rated.route };
  if (rated.route === "public") {
    // The same signed, expiring tracked links as in the email, so clicks from the page count too.
    const now = deps.now?.() ?? new Date();
    const exp = new Date(Number(claims.exp) * 1000);
    const links = await reviewLinks(secret, deps.linksBaseUrl, claims.sub, rated.platforms ?? [], now, exp);
    answer.platforms = Object.entries(links.platforms).map(([platform, url]) => ({ platform, url }));
  }
  return json(answer);
}

// The referral module's endpoints: the referral link's tracked redirect (clicked), the landing page's
// sign-up report (signed_up), and the vendor's booked / redeemed reports (authenticated users).
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../../http/errors.ts";
import { asUser, userClaims } from "../../http/user.ts";
import { parseOr422 } from "../../http/validate.ts";
import { scannerReason } from "../../links/scanners.ts";
import { signLinkToken, verifyLinkToken } from "../../links/tokens.ts";
import { redirect } from "../review/links.ts";

/** What the referral endpoints need. */
export type ReferralLinkDeps = { sql: Sql; linksSecret: () => Promise<string>; now?: () => Date };

/** How long a friend has to sign up after clicking. */
const SIGNUP_TTL_MS = 30 * 86_400_000;

/**
 * `GET|HEAD /journey-links/referral?t=...`: 302 to the vendor's landing page with `ref=<code>`. A person's
 * click creates a referral (stage clicked) and adds `referral_token`, which the landing page sends back
 * when the friend signs up; scanners and prefetches get the redirect without either.
 */
export async function referralClick(deps: ReferralLinkDeps, req: Request): Promise<Response> {
  const secret = await deps.linksSecret();
  const claims = await verifyLinkToken(
    secret,
    "referral",
    new URL(req.url).searchParams.get("t"),
    deps.now?.(),
  );
  const [programme] = await deps.sql<{ landing_url: string; active: boolean }[]>`
    select p.landing_url, p.active from public.referral_codes c
    join public.referral_programmes p on p.supplier_id = c.supplier_id
    where c.code = ${claims.sub}`;
  if (!programme) {
    throw new HttpError(404, "referral_not_found", "This referral link no longer leads anywhere");
  }
  if (!programme.active) throw new HttpError(410, "programme_closed", "This referral programme has ended");
  const target = new URL(programme.landing_url);
  target.searchParams.set("ref", claims.sub);
  if (scannerReason(req) === null) {
    const [{ id }] = await deps.sql<
      { id: string }[]
    >`select public.record_referral_click(${claims.sub}) as id`;
    const now = deps.now?.() ?? new Date();
    target.searchParams.set(
      "referral_token",
      await signLinkToken(
        secret,
        "referral_signup",
        { sub: id },
        now,
        new Date(now.getTime() + SIGNUP_TTL_MS),
      ),
    );
  }
  return redirect(target.toString());
}

const leadRef = z.string().min(1).max(200);
/** Request schema, exported for the fuzz suite's generators. */
export const signupBody = z.strictObject({ referral_token: z.string().min(1).max(2048), lead_ref: leadRef });

type Advanced = {
  result: string;
  referral_id: string | null;
  stage: string | null;
  reward_status: string | null;
};

function advancedResponse(row: Advanced): Response {
  switch (row.result) {
    case "not_found":
      throw new HttpError(404, "referral_not_found", "No referral matches");
    case "lead_taken":
      throw new HttpError(409, "lead_taken", "This lead was already referred by another couple");
    case "lead_mismatch":
      throw new HttpError(409, "lead_mismatch", "This referral belongs to another lead");
  }
  return json({
    result: row.result,
    referral_id: row.referral_id,
    stage: row.stage,
    reward_status: row.reward_status,
  });
}

/** `POST /journey-links/referral/signup {referral_token, lead_ref}`: the friend signed up on the landing page. */
export async function referralSignup(deps: ReferralLinkDeps, req: Request): Promise<Response> {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
  const body = parseOr422(signupBody, parseJson(await readRawBody(req, 16 * 1024)), "sign-up");
  const claims = await verifyLinkToken(
    await deps.linksSecret(),
    "referral_signup",
    body.referral_token,
    deps.now?.(),
  );
  const [row] = await deps.sql<Advanced[]>`
    select * from public.advance_referral(null, null, ${claims.sub}::uuid, ${body.lead_ref}, 'signed_up')`;
  return advancedResponse(row);
}

/** Request schema, exported for the fuzz suite's generators. */
export const bookingBody = z.union([
  z.strictObject({
    action: z.literal("booked"),
    code: z.string().regex(/^[0-9A-Z]{12}$/).optional(),
    referral_id: z.uuid().optional(),
    lead_ref: leadRef,
  })
    .refine((b) => b.code || b.referral_id, "give the referral code or the referral_id"),
  z.strictObject({ action: z.literal("redeemed"), referral_id: z.uuid() }),
]);

/**
 * `POST /referral-bookings`, by a signed-in user of the vendor (RLS decides what they see):
 * `{action: "booked", code | referral_id, lead_ref}` marks the friend booked (the reward is earned per
 * the programme); `{action: "redeemed", referral_id}` marks an earned reward redeemed.
 */
export function referralBookingsHandler(deps: { sql: Sql; log?: (line: string) => void }) {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const claims = userClaims(req);
    const body = parseOr422(bookingBody, parseJson(await readRawBody(req, 16 * 1024)), "referral report");
    // The user's own view (RLS) tells which supplier the code or referral belongs to, if theirs.
    const supplierId = await asUser(deps.sql, claims, async (tx) => {
      const [row] = "code" in body && body.code
        ? await tx<
          { supplier_id: string }[]
        >`select supplier_id from public.referral_codes where code = ${body.code}`
        : await tx<{ supplier_id: string }[]>`select supplier_id from public.referrals where id = ${body
          .referral_id!}::uuid`;
      return row?.supplier_id;
    });
    if (!supplierId) {
      throw new HttpError(404, "referral_not_found", "No referral code or referral of yours matches");
    }
    if (body.action === "redeemed") {
      const [{ result }] = await deps.sql<{ result: string }[]>`
        select public.redeem_referral_reward(${supplierId}::uuid, ${body.referral_id}::uuid) as result`;
      if (result !== "redeemed") {
        throw new HttpError(409, result, `The reward cannot be redeemed: ${result.replace("_", " ")}`);
      }
      return json({ result });
    }
    const [row] = await deps.sql<Advanced[]>`
      select * from public.advance_referral(${supplierId}::uuid, ${body.code ?? null}, ${
      body.referral_id ?? null
    }::uuid,
        ${body.lead_ref}, 'booked')`;
    return advancedResponse(row);
  }, deps.log);
}

// The review module end to end: skipped before or without a wedding date, tracked redirects that count
// people's clicks per platform but not scanners or prefetches, rating routing, and the follow-up.
import assert from "node:assert/strict";
import { signLinkToken } from "../../shared/links/tokens.ts";
import { gatewayUrl } from "../../stack/config.ts";
import { addDays } from "../../shared/time/dates.ts";
import type { Sql } from "../helpers/db.ts";
import { drainNow, emailsFor, linkIn, linksSecret, moduleScenario, waitForRun } from "../helpers/modules.ts";
import { stackDb } from "../helpers/stack.ts";

const PLACE_ID = "ChIJN1t_tDeuEmsRUsoyG83frY4";
const today = () => new Date().toISOString().slice(0, 10);
const BROWSER =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";

const reviewStep = (extra: Record<string, unknown> = {}) => ({
  module_type: "review",
  config: {
    days_after_wedding: 10,
    rating_url: "https://studio.example/rate",
    incentive: "A free print as a thank-you.",
    ...extra,
  },
});

async function withPlatforms(sql: Sql, supplierId: string) {
  await sql`insert into public.review_platforms (supplier_id, platform, place_id, url, position) values
    (${supplierId}::uuid, 'google', ${PLACE_ID}, null, 1),
    (${supplierId}::uuid, 'facebook', null, 'https://www.facebook.com/goldenhourstudio/reviews', 2)`;
}

async function clicks(sql: Sql, runId: number) {
  return [
    ...await sql<{ platform: string }[]>`
    select c.platform from public.review_clicks c join public.review_requests q on q.id = c.request_id
    where q.run_id = ${runId} order by c.id`,
  ].map((c) => c.platform);
}

Deno.test("module-review skips with a reason when the couple has no wedding date or the wedding has not happened", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [reviewStep()], [
      { wedding_date: null },
      { wedding_date: addDays(today(), 30) },
    ]);
    await withPlatforms(sql, s.supplierId);
    const noDate = await waitForRun(
      sql,
      await s.start(0),
      s.stepIds[0],
      "skipped",
      (r) => r.status === "skipped",
    );
    assert.equal(noDate.last_error?.code, "no_wedding_date");
    const future = await waitForRun(
      sql,
      await s.start(1),
      s.stepIds[0],
      "skipped",
      (r) => r.status === "skipped",
    );
    assert.equal(future.last_error?.code, "wedding_not_happened");
    assert.match(future.last_error!.message, /has not happened yet/);
    assert.equal((await emailsFor(noDate.id)).length + (await emailsFor(future.id)).length, 0);
  } finally {
    await sql.end();
  }
});

Deno.test("journey-links records a person's click per platform and redirects, but not HEAD, prefetches or scanners", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [reviewStep()], [{ wedding_date: addDays(today(), -20) }]);
    await withPlatforms(sql, s.supplierId);
    const instanceId = await s.start();
    const run = await waitForRun(
      sql,
      instanceId,
      s.stepIds[0],
      "the request to be sent",
      (r) => r.status === "succeeded",
    );
    const [email] = await emailsFor(run.id);
    assert.match(email.html, /A free print as a thank-you\./);
    assert.match(email.text, /Review us on Google: http/);
    const links = [...email.html.matchAll(/href="([^"]+journey-links\/review\?t=[^"]+)"/g)].map((m) => m[1]);
    assert.equal(links.length, 2, "one tracked link per platform");
    const google = links[0];
    assert.ok(linkIn(email, "studio.example/rate").includes("journey_token="));

    const hit = (url: string, init: RequestInit = {}) => fetch(url, { redirect: "manual", ...init });
    const head = await hit(google, { method: "HEAD", headers: { "user-agent": BROWSER } });
    assert.equal(head.status, 302);
    const scanner = await hit(google, {
      headers: { "user-agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)" },
    });
    assert.equal(scanner.status, 302);
    await scanner.body?.cancel();
    const safelinks = await hit(google, {
      headers: { "user-agent": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)" },
    });
    await safelinks.body?.cancel();
    const prefetch = await hit(google, { headers: { "user-agent": BROWSER, "sec-purpose": "prefetch" } });
    await prefetch.body?.cancel();
    assert.deepEqual(await clicks(sql, run.id), [], "scanners and prefetches are not clicks");

    const person = await hit(google, { headers: { "user-agent": BROWSER } });
    assert.equal(person.status, 302);
    assert.equal(
      person.headers.get("location"),
      `https://search.google.com/local/writereview?placeid=${PLACE_ID}`,
    );
    await person.body?.cancel();
    const facebook = await hit(links[1], { headers: { "user-agent": BROWSER } });
    assert.equal(facebook.headers.get("location"), "https://www.facebook.com/goldenhourstudio/reviews");
    await facebook.body?.cancel();
    assert.deepEqual(await clicks(sql, run.id), ["google", "facebook"]);

    const token = new URL(google).searchParams.get("t")!;
    const tampered = await hit(google.replace(token, token.slice(0, -3) + "AAA"), {
      headers: { "user-agent": BROWSER },
    });
    assert.equal(tampered.status, 400);
    await tampered.body?.cancel();
    const [request] = await sql<
      { id: string }[]
    >`select id::text from public.review_requests where run_id = ${run.id}`;
    const past = new Date(Date.now() - 3_600_000);
    const expired = await signLinkToken(
      await linksSecret(sql),
      "review_click",
      { sub: request.id, plt: "google" },
      new Date(past.getTime() - 60_000),
      past,
    );
    const gone = await hit(`${gatewayUrl}/functions/v1/journey-links/review?t=${expired}`, {
      headers: { "user-agent": BROWSER },
    });
    assert.equal(gone.status, 410);
    assert.equal((await gone.json()).error.code, "link_expired");
    assert.deepEqual(await clicks(sql, run.id), ["google", "facebook"], "refused links record nothing");
  } finally {
    await sql.end();
  }
});

Deno.test("journey-links routes 4-5 stars to the public platforms, 3 to internal feedback and 1-2 to a direct-contact notification", async () => {
  const sql = stackDb();
  try {
    const couples = [5, 3, 1].map(() => ({ wedding_date: addDays(today(), -15) }));
    const s = await moduleScenario(sql, [reviewStep()], couples);
    await withPlatforms(sql, s.supplierId);
    const rate = async (i: number, rating: number, comment?: string) => {
      const instanceId = await s.start(i);
      const run = await waitForRun(sql, instanceId, s.stepIds[0], "sent", (r) => r.status === "succeeded");
      const token = new URL(linkIn((await emailsFor(run.id))[0], "studio.example/rate")).searchParams.get(
        "journey_token",
      );
      const res = await fetch(`${gatewayUrl}/functions/v1/journey-links/review/rating`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ journey_token: token, rating, comment }),
      });
      return { status: res.status, body: await res.json(), token: token! };
    };
    const five = await rate(0, 5);
    assert.equal(five.body.route, "public");
    assert.deepEqual(five.body.platforms.map((p: { platform: string }) => p.platform), [
      "google",
      "facebook",
    ]);
    assert.match(five.body.platforms[0].url, /journey-links\/review\?t=/);
    const three = await rate(1, 3, "The speeches were hard to hear");
    assert.equal(three.body.route, "internal_feedback");
    assert.equal(three.body.platforms, undefined, "3 stars are not sent to public platforms");
    const one = await rate(2, 1);
    assert.equal(one.body.route, "direct_contact");
    const notes = await sql<{ kind: string; details: { rating: number } }[]>`
      select kind, details from public.supplier_notifications where supplier_id = ${s.supplierId}::uuid`;
    assert.deepEqual(notes.map((n) => [n.kind, n.details.rating]), [["review_low_rating", 1]]);

    const again = await fetch(`${gatewayUrl}/functions/v1/journey-links/review/rating`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ journey_token: one.token, rating: 5 }),
    });
    const body = await again.json();
    assert.deepEqual(
      [body.result, body.route],
      ["already_rated", "direct_contact"],
      "the first rating decides",
    );
    const bad = await fetch(`${gatewayUrl}/functions/v1/journey-links/review/rating`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ journey_token: five.token, rating: 7 }),
    });
    assert.equal(bad.status, 422);
    await bad.body?.cancel();
    const [feedback] = await sql<{ feedback: string }[]>`
      select q.feedback from public.review_requests q join public.module_runs r on r.id = q.run_id
      where q.rating = 3 and r.supplier_id = ${s.supplierId}::uuid`;
    assert.equal(feedback.feedback, "The speeches were hard to hear");
  } finally {
    await sql.end();
  }
});

Deno.test("module-review follows up when nothing was clicked, and not when a link was", async () => {
  const sql = stackDb();
  try {
    const couples = [0, 1].map(() => ({ wedding_date: addDays(today(), -12) }));
    const s = await moduleScenario(sql, [reviewStep({ follow_up: { after_days: 5 } })], couples);
    await withPlatforms(sql, s.supplierId);
    const sent = async (i: number) => {
      const instanceId = await s.start(i);
      return await waitForRun(sql, instanceId, s.stepIds[0], "sent and waiting", (r) => r.result !== null);
    };
    const quiet = await sent(0);
    const clicked = await sent(1);
    assert.equal(quiet.status, "waiting");
    assert.ok(quiet.run_at.getTime() > Date.now() + 3 * 86_400_000, "the follow-up waits its delay");
    const link =
      [...(await emailsFor(clicked.id))[0].html.matchAll(/href="([^"]+journey-links\/review[^"]+)"/g)][0][1];
    await (await fetch(link, { redirect: "manual", headers: { "user-agent": BROWSER } })).body?.cancel();

    // The follow-up time comes: the sweep wakes them.
    await sql`update public.module_runs set run_at = now() where id in (${quiet.id}, ${clicked.id})`;
    await sql`select public.wake_runs()`;
    await drainNow(sql, "review");
    const [q] = await sql<{ status: string; result: { follow_up: string } }[]>`
      select status::text, result from public.module_runs where id = ${quiet.id}`;
    const [c] = await sql<{ status: string; result: { follow_up: string } }[]>`
      select status::text, result from public.module_runs where id = ${clicked.id}`;
    assert.deepEqual([q.status, q.result.follow_up], ["succeeded", "sent"]);
    assert.deepEqual([c.status, c.result.follow_up], ["succeeded", "not_needed"]);
    const quietEmails = await emailsFor(quiet.id);
    assert.equal(quietEmails.length, 2);
    assert.ok(quietEmails.some((e) => e.idempotency_key === `${quiet.idempotency_key}:follow-up`));
    assert.equal((await emailsFor(clicked.id)).length, 1);
  } finally {
    await sql.end();
  }
});

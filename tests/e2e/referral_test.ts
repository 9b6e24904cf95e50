// The referral module end to end: a code per couple and a signed link, clicks (not scanners) creating
// referrals, the landing page's sign-up, booked and redeemed reported by the vendor's users, anniversaries.
import assert from "node:assert/strict";
import { addDays } from "../../shared/time/dates.ts";
import type { Sql } from "../helpers/db.ts";
import { emailsFor, linkIn, moduleScenario, statusOf, waitForRun } from "../helpers/modules.ts";
import { stackDb, supabase, userJwt } from "../helpers/stack.ts";

const BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const today = () => new Date().toISOString().slice(0, 10);

async function withProgramme(sql: Sql, supplierId: string) {
  await sql`insert into public.referral_programmes (supplier_id, landing_url, reward)
    values (${supplierId}::uuid, 'https://studio.example/referred', '£100 off your next session for every booked friend')`;
}

async function member(sql: Sql, supplierId: string): Promise<string> {
  const userId = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${userId}::uuid, ${`${userId}@studio.example`})`;
  await sql`insert into public.supplier_members (supplier_id, user_id) values (${supplierId}::uuid, ${userId}::uuid)`;
  return await userJwt(userId);
}

Deno.test("module-referral sends a code and signed link; clicks, sign-up, booking and redemption move the referral forward", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [{ module_type: "referral", config: {} }]);
    await withProgramme(sql, s.supplierId);
    const run = await waitForRun(sql, await s.start(), s.stepIds[0], "sent", (r) => r.status === "succeeded");
    const code = String(run.result?.referral_code);
    assert.match(code, /^[0-9A-HJKMNP-TV-Z]{12}$/);
    const [email] = await emailsFor(run.id);
    assert.match(email.text, new RegExp(`Your referral code: ${code}`));
    assert.match(email.html, /£100 off your next session/);
    const link = linkIn(email, "journey-links/referral?t=");

    const scanner = await fetch(link, {
      redirect: "manual",
      headers: { "user-agent": "Slackbot-LinkExpanding 1.0" },
    });
    assert.equal(scanner.status, 302);
    assert.equal(new URL(scanner.headers.get("location")!).searchParams.get("referral_token"), null);
    await scanner.body?.cancel();
    const click = await fetch(link, { redirect: "manual", headers: { "user-agent": BROWSER } });
    assert.equal(click.status, 302);
    const landing = new URL(click.headers.get("location")!);
    await click.body?.cancel();
    assert.equal(`${landing.origin}${landing.pathname}`, "https://studio.example/referred");
    assert.equal(landing.searchParams.get("ref"), code);
    const referrals = () =>
      sql<{ id: string; stage: string; reward_status: string | null }[]>`
      select id::text, stage, reward_status from public.referrals where code = ${code} order by created_at`;
    assert.deepEqual((await referrals()).map((r) => r.stage), ["clicked"], "only the person's click counts");

    const signup = (token: string | null, lead: string) =>
      fetch(link.replace(/referral\?t=.*$/, "referral/signup"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ referral_token: token, lead_ref: lead }),
      });
    const forged = await signup(landing.searchParams.get("referral_token")!.slice(0, -4) + "abcd", "lead-1");
    assert.equal(forged.status, 400);
    await forged.body?.cancel();
    const signed = await signup(landing.searchParams.get("referral_token"), "lead-1");
    assert.equal(signed.status, 200);
    assert.deepEqual(await signed.json().then((b) => [b.stage, b.reward_status]), ["signed_up", "pending"]);

    const vendor = await supabase(await member(sql, s.supplierId));
    const booked = await statusOf(vendor.functions.invoke("referral-bookings", {
      body: { action: "booked", code, lead_ref: "lead-1" },
    }));
    assert.equal(booked.status, 200);
    assert.deepEqual([booked.body.stage, booked.body.reward_status], ["booked", "earned"]);
    const referralId = String(booked.body.referral_id);
    assert.equal(referralId, (await referrals())[0].id, "the click's referral moved on");

    const stranger = await supabase(await member(sql, (await moduleScenario(sql, [])).supplierId));
    const foreign = await statusOf(stranger.functions.invoke("referral-bookings", {
      body: { action: "redeemed", referral_id: referralId },
    }));
    assert.equal(foreign.status, 404, "another vendor's users cannot see the referral");
    const redeemed = await statusOf(vendor.functions.invoke("referral-bookings", {
      body: { action: "redeemed", referral_id: referralId },
    }));
    assert.equal(redeemed.body.result, "redeemed");
    const twice = await statusOf(vendor.functions.invoke("referral-bookings", {
      body: { action: "redeemed", referral_id: referralId },
    }));
    assert.equal(twice.status, 409);
    assert.deepEqual((await referrals()).map((r) => [r.stage, r.reward_status]), [["booked", "redeemed"]]);
  } finally {
    await sql.end();
  }
});

Deno.test("module-referral with the anniversary option waits for the wedding anniversary", async () => {
  const sql = stackDb();
  try {
    const [y] = today().split("-").map(Number);
    const tomorrow = addDays(today(), 1);
    const s = await moduleScenario(sql, [{
      module_type: "referral",
      config: { anniversary: true, send_at: "00:00" },
    }], [
      { time_zone: "UTC", wedding_date: `${y - 2}${today().slice(4)}` },
      { time_zone: "UTC", wedding_date: `${Number(tomorrow.slice(0, 4)) - 2}${tomorrow.slice(4)}` },
      { time_zone: "UTC", wedding_date: null },
    ]);
    await withProgramme(sql, s.supplierId);
    const due = await waitForRun(
      sql,
      await s.start(0),
      s.stepIds[0],
      "sent today",
      (r) => r.status === "succeeded",
    );
    assert.equal((await emailsFor(due.id)).length, 1);
    const waiting = await waitForRun(
      sql,
      await s.start(1),
      s.stepIds[0],
      "deferred",
      (r) => r.run_at.getTime() > Date.now(),
    );
    assert.equal(waiting.status, "pending");
    assert.equal(waiting.run_at.toISOString(), `${tomorrow}T00:00:00.000Z`);
    const noDate = await waitForRun(
      sql,
      await s.start(2),
      s.stepIds[0],
      "skipped",
      (r) => r.status === "skipped",
    );
    assert.equal(noDate.last_error?.code, "no_wedding_date");
  } finally {
    await sql.end();
  }
});

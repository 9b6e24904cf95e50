// The vendor app's activity timeline end to end: a welcome email sent through the pipeline and the
// simulator's signed webhooks, a suppressed second couple's skip, a STOP; pagination; refusals.
import assert from "node:assert/strict";
import { activityResponse, encodeCursor } from "../../shared/api/activity.ts";
import { gatewayUrl } from "../../stack/config.ts";
import type { Sql } from "../helpers/db.ts";
import { createClient, emailScenario, startJourney } from "../helpers/fixtures.ts";
import { statusOf } from "../helpers/modules.ts";
import { newSvixSecret, sim, stackDb, supabase, userJwt, waitFor } from "../helpers/stack.ts";

async function member(sql: Sql, supplierId: string): Promise<string> {
  const userId = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${userId}::uuid, ${`${userId}@studio.example`})`;
  await sql`insert into public.supplier_members (supplier_id, user_id) values (${supplierId}::uuid, ${userId}::uuid)`;
  return await userJwt(userId);
}

Deno.test("activity returns a couple's runs, attempts, message id and delivery events, paginated, RLS-scoped", async () => {
  const sql = stackDb();
  try {
    const apiKey = `re_test_${crypto.randomUUID().replaceAll("-", "")}`;
    const webhookSecret = newSvixSecret();
    const s = await emailScenario(sql, {
      resend: { api_key: apiKey, webhook_secret: webhookSecret },
      client: { time_zone: "America/New_York" },
    });
    await sim("/_sim/config", {
      body: {
        provider: "resend",
        api_key: apiKey,
        webhook: {
          url: `${gatewayUrl}/functions/v1/webhook-resend?supplier=${s.supplierId}`,
          secret: webhookSecret,
          events: ["email.sent", "email.delivered"],
        },
      },
    });
    const phone = `+4477009${String(Math.floor(Math.random() * 1e5)).padStart(5, "0")}`;
    await sql`update public.clients set phone = ${phone} where id = ${s.clientId}::uuid`;
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const [run] = await waitFor("the welcome email delivered", async () => {
      const rows = await sql<{ id: number; provider_message_id: string }[]>`
        select r.id::int, r.provider_message_id from public.module_runs r
        join public.deliveries d on d.run_id = r.id
        where r.journey_instance_id = ${instanceId}::uuid and d.status = 'delivered'`;
      return rows.length ? rows : undefined;
    });
    // The couple answers STOP (as webhook-twilio records it).
    await sql`select public.record_inbound_message(${s.supplierId}::uuid, 'sms', ${phone}, now())`;
    await sql`select public.record_messaging_consent(${s.supplierId}::uuid, 'sms', ${phone}, false, now())`;

    const jwt = await member(sql, s.supplierId);
    const app = await supabase(jwt);
    const { data, error } = await app.functions.invoke("activity", { body: { client_id: s.clientId } });
    assert.equal(error, null);
    const page = activityResponse.parse(data);
    assert.equal(page.time_zone, "America/New_York");
    const kinds = page.entries.map((e) => e.kind);
    for (const k of ["run_planned", "run_succeeded", "attempt", "delivery", "delivery_event", "opted_out"]) {
      assert.ok(kinds.includes(k as never), `${k} in ${kinds.join(", ")}`);
    }
    const delivery = page.entries.find((e) => e.kind === "delivery")!;
    assert.equal(delivery.provider, "resend");
    assert.equal(delivery.provider_message_id, run.provider_message_id);
    assert.equal(delivery.run_id, run.id);
    assert.ok(page.entries.some((e) => e.kind === "delivery_event" && e.status === "delivered"));
    assert.ok(page.entries.some((e) => e.kind === "opted_out" && e.status === "STOP"));
    const sorted = [...page.entries].sort((a, b) =>
      a.at < b.at ? 1 : a.at > b.at ? -1 : a.key < b.key ? 1 : -1
    );
    assert.deepEqual(page.entries.map((e) => e.key), sorted.map((e) => e.key), "newest first");
    const text = JSON.stringify(page);
    assert.ok(!text.includes("Hello"), "no message body");
    assert.ok(!text.includes(apiKey) && !text.includes(webhookSecret), "no secrets");

    // Pages of two walk the same entries without gaps or repeats.
    const walked: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 50; i++) {
      const r = await app.functions.invoke("activity", { body: { client_id: s.clientId, limit: 2, cursor } });
      assert.equal(r.error, null);
      const p = activityResponse.parse(r.data);
      walked.push(...p.entries.map((e) => e.key));
      if (!p.next_cursor) break;
      cursor = p.next_cursor;
    }
    assert.deepEqual(walked, page.entries.map((e) => e.key));

    // One journey instance only: the couple's own STOP is not part of an instance.
    const one = activityResponse.parse(
      (await app.functions.invoke("activity", { body: { client_id: s.clientId, instance_id: instanceId } }))
        .data,
    );
    assert.ok(one.entries.length > 0 && one.entries.every((e) => e.journey_instance_id === instanceId));

    // Another supplier's member, another supplier's couple, anonymous: refused.
    const other = await emailScenario(sql);
    const outsider = await supabase(await member(sql, other.supplierId));
    assert.equal(
      (await statusOf(outsider.functions.invoke("activity", { body: { client_id: s.clientId } }))).status,
      404,
    );
    assert.equal(
      (await statusOf(app.functions.invoke("activity", { body: { client_id: other.clientId } }))).status,
      404,
    );
    const otherInstance = await startJourney(
      sql,
      other.supplierId,
      other.journeyId,
      await createClient(sql, other.supplierId),
    );
    assert.equal(
      (await statusOf(
        app.functions.invoke("activity", { body: { client_id: s.clientId, instance_id: otherInstance } }),
      )).status,
      404,
    );
    const anon = await supabase();
    assert.equal(
      (await statusOf(anon.functions.invoke("activity", { body: { client_id: s.clientId } }))).status,
      403,
    );
    const noToken = await fetch(`${gatewayUrl}/functions/v1/activity`, { method: "POST", body: "{}" });
    assert.equal(noToken.status, 401);
    await noToken.body?.cancel();

    // Malformed input: 4xx with the reason, never a 500.
    for (
      const body of [
        { client_id: "nope" },
        { client_id: s.clientId, limit: 0 },
        { client_id: s.clientId, limit: 501 },
        { client_id: s.clientId, cursor: "not-a-cursor" },
        { client_id: s.clientId, cursor: encodeCursor("yesterday", "x") },
        { client_id: s.clientId, extra: 1 },
        {},
      ]
    ) {
      const r = await statusOf(app.functions.invoke("activity", { body }));
      assert.equal(r.status, 422, JSON.stringify(body));
    }
    const notJson = await fetch(`${gatewayUrl}/functions/v1/activity`, {
      method: "POST",
      headers: { authorization: `Bearer ${jwt}` },
      body: "{not json",
    });
    assert.equal(notJson.status, 400);
    await notJson.body?.cancel();
    const get = await fetch(`${gatewayUrl}/functions/v1/activity`, {
      headers: { authorization: `Bearer ${jwt}` },
    });
    assert.equal(get.status, 405);
    await get.body?.cancel();
  } finally {
    await sql.end();
  }
});

Deno.test("activity_timeline() shows a skipped run's code and reason", async () => {
  const sql = stackDb();
  try {
    const s = await emailScenario(sql);
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    await sql`update public.module_runs set status = 'skipped', completed_at = now(),
      last_error = '{"kind":"permanent","code":"suppressed","message":"The address unsubscribed"}'
      where journey_instance_id = ${instanceId}::uuid`;
    const rows = await sql<{ kind: string; code: string; reason: string }[]>`
      select kind, code, reason from public.activity_timeline(${s.clientId}::uuid) where kind = 'run_skipped'`;
    assert.deepEqual([...rows], [{
      kind: "run_skipped",
      code: "suppressed",
      reason: "The address unsubscribed",
    }]);
  } finally {
    await sql.end();
  }
});

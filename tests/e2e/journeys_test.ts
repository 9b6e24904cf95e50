// Journey management over HTTP as a signed-in vendor (the `journeys` function): step update / delete /
// reorder with their pending-run rules, pause / resume / cancel, a booking cancelled in the CRM, the dry
// run across a DST change, another supplier's user refused and malformed input refused with nothing written.
import assert from "node:assert/strict";
import type { SupabaseClient } from "@supabase/supabase-js";
import type { Sql } from "../helpers/db.ts";
import { connectIntegration } from "../helpers/crm.ts";
import {
  createClient,
  createJourney,
  emailScenario,
  startJourney,
  type StepSpec,
} from "../helpers/fixtures.ts";
import { emailsFor, runsOf, statusOf, waitForRun } from "../helpers/modules.ts";
import { newSvixSecret, stackDb, supabase, userJwt } from "../helpers/stack.ts";
import { gatewayUrl, simulatorUrl } from "../../stack/config.ts";
import { dryRunResponse, type JourneysRequest } from "../../shared/api/journeys.ts";

const RESEND = { api_key: "re_test_journeys", webhook_secret: "whsec_dGVzdA==" };

async function member(sql: Sql, supplierId: string): Promise<SupabaseClient> {
  const userId = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${userId}::uuid, ${`${userId}@studio.example`})`;
  await sql`insert into public.supplier_members (supplier_id, user_id) values (${supplierId}::uuid, ${userId}::uuid)`;
  return await supabase(await userJwt(userId));
}

function call(app: SupabaseClient, body: JourneysRequest | Record<string, unknown>) {
  return statusOf(app.functions.invoke("journeys", { body }));
}

/** A vendor with Resend, a journey of `steps` and one started couple. */
async function started(sql: Sql, steps: StepSpec[], client: Record<string, unknown> = {}) {
  const s = await emailScenario(sql, { resend: RESEND, steps, client });
  const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
  return { ...s, instanceId, app: await member(sql, s.supplierId) };
}

const LATER = { timing: { offset_days: 1 } };

Deno.test("journeys pause holds the pending run, resume sends it once and the journey goes on in order", async () => {
  const sql = stackDb();
  try {
    const s = await started(sql, [LATER, {}]);
    const [planned] = await runsOf(sql, s.instanceId);
    assert.equal(planned.status, "pending");

    const paused = await call(s.app, { action: "pause", instance_id: s.instanceId, reason: "couple asked" });
    assert.equal(paused.status, 200);
    assert.deepEqual(paused.body, { instance_id: s.instanceId, status: "paused", held_runs: 1 });
    const [held] = await runsOf(sql, s.instanceId);
    assert.equal(held.status, "held");
    assert.equal(held.attempts, 0);
    assert.equal(held.run_at.getTime(), planned.run_at.getTime(), "keeps its place");
    assert.equal(held.last_error?.code, "journey_paused");
    assert.equal(held.last_error?.message, "couple asked");
    assert.equal((await call(s.app, { action: "pause", instance_id: s.instanceId })).status, 409);

    // Its time comes while paused: nothing goes out.
    await sql`update public.module_runs set run_at = now() - interval '1 minute' where id = ${held.id}`;
    await sql`select public.sweep()`;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await runsOf(sql, s.instanceId))[0].status, "held");
    assert.equal((await emailsFor(held.id)).length, 0);

    const resumed = await call(s.app, { action: "resume", instance_id: s.instanceId });
    assert.equal(resumed.status, 200);
    assert.deepEqual(resumed.body, {
      instance_id: s.instanceId,
      status: "active",
      released_runs: 1,
      skipped_runs: 0,
    });
    const first = await waitForRun(
      sql,
      s.instanceId,
      s.stepIds[0],
      "the released run sent",
      (r) => r.status === "succeeded",
    );
    assert.equal(first.attempts, 1, "the hold burnt no attempt");
    assert.equal(first.id, held.id, "the same run, not a new one");
    const second = await waitForRun(
      sql,
      s.instanceId,
      s.stepIds[1],
      "the next step sent",
      (r) => r.status === "succeeded",
    );
    assert.ok(second.id > first.id);
    assert.equal((await emailsFor(first.id)).length, 1, "sent once");
    assert.equal((await emailsFor(second.id)).length, 1);
    assert.equal((await call(s.app, { action: "resume", instance_id: s.instanceId })).status, 409);
  } finally {
    await sql.end();
  }
});

Deno.test("journeys cancel ends pending and held runs with the reason; a cancelled journey stays cancelled", async () => {
  const sql = stackDb();
  try {
    const s = await started(sql, [LATER, {}]);
    assert.equal((await call(s.app, { action: "pause", instance_id: s.instanceId })).status, 200);
    const cancelled = await call(s.app, { action: "cancel", instance_id: s.instanceId, reason: "postponed" });
    assert.equal(cancelled.status, 200);
    assert.deepEqual(cancelled.body, { instance_id: s.instanceId, status: "cancelled", cancelled_runs: 1 });
    const [run] = await runsOf(sql, s.instanceId);
    assert.equal(run.status, "cancelled");
    assert.deepEqual(
      [run.last_error?.code, run.last_error?.message],
      ["journey_cancelled", "postponed"],
    );
    const [instance] = await sql<{ status: string }[]>`
      select status::text from public.journey_instances where id = ${s.instanceId}::uuid`;
    assert.equal(instance.status, "cancelled");
    for (const action of ["cancel", "pause", "resume"] as const) {
      const again = await call(s.app, { action, instance_id: s.instanceId });
      assert.equal(again.status, 409, action);
      assert.equal((again.body.error as { code: string }).code, "wrong_state");
    }
    assert.equal((await runsOf(sql, s.instanceId)).length, 1, "nothing planned after the cancel");
  } finally {
    await sql.end();
  }
});

Deno.test("journeys update_step: config validated per module, timing re-plans pending runs with the date-change rules", async () => {
  const sql = stackDb();
  try {
    const s = await started(sql, [
      { timing: { anchor: "wedding_date", offset_days: -30, at: "10:00" } },
      LATER,
    ]);
    const [before] = await runsOf(sql, s.instanceId);
    assert.equal(before.run_at.toISOString(), "2027-05-13T09:00:00.000Z");

    const bad = await call(s.app, { action: "update_step", step_id: s.stepIds[0], config: { template: 5 } });
    assert.equal(bad.status, 422);
    const badTiming = await call(s.app, {
      action: "update_step",
      step_id: s.stepIds[0],
      timing: { at: "25:00" },
    });
    assert.equal(badTiming.status, 422);
    const neither = await call(s.app, { action: "update_step", step_id: s.stepIds[0] });
    assert.equal(neither.status, 422);
    const [unchanged] = await sql<{ config: unknown; timing: { offset_days: number } }[]>`
      select config, timing from public.journey_steps where id = ${s.stepIds[0]}::uuid`;
    assert.deepEqual(unchanged.config, { template: "welcome" });
    assert.equal(unchanged.timing.offset_days, -30);

    const config = await call(s.app, {
      action: "update_step",
      step_id: s.stepIds[0],
      config: { template: "welcome", send_time: "business_hours" },
    });
    assert.equal(config.status, 200);
    assert.equal(config.body.replanned_runs, 0, "a config change applies at send time, nothing re-planned");
    assert.equal((config.body.step as { config: { send_time: string } }).config.send_time, "business_hours");

    const timing = await call(s.app, {
      action: "update_step",
      step_id: s.stepIds[0],
      timing: { anchor: "wedding_date", offset_days: -10, at: "09:00" },
    });
    assert.equal(timing.status, 200);
    assert.equal(timing.body.replanned_runs, 1);
    const [replanned] = await runsOf(sql, s.instanceId);
    assert.equal(replanned.id, before.id);
    assert.equal(replanned.status, "pending");
    assert.equal(replanned.run_at.toISOString(), "2027-06-02T08:00:00.000Z");

    // A time that has passed follows if_past: skip, and the journey moves on.
    const past = await call(s.app, {
      action: "update_step",
      step_id: s.stepIds[0],
      timing: { anchor: "booking_date", offset_days: 0, if_past: "skip" },
    });
    assert.equal(past.status, 200);
    assert.equal(past.body.skipped_runs, 1);
    const runs = await runsOf(sql, s.instanceId);
    assert.equal(runs[0].status, "skipped");
    assert.equal(runs[0].last_error?.code, "not_scheduled");
    assert.equal(runs[1].step_id, s.stepIds[1], "the journey advanced to the next step");
    assert.equal(runs[1].status, "pending");
  } finally {
    await sql.end();
  }
});

Deno.test("journeys delete_step cancels the step's pending runs, moves its journeys on and keeps the ledger", async () => {
  const sql = stackDb();
  try {
    const s = await started(sql, [LATER, LATER]);
    const [run] = await runsOf(sql, s.instanceId);
    const deleted = await call(s.app, { action: "delete_step", step_id: s.stepIds[0], reason: "not needed" });
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body, { deleted_step_id: s.stepIds[0], cancelled_runs: 1, moved_instances: 1 });
    const runs = await runsOf(sql, s.instanceId);
    assert.equal(runs[0].id, run.id, "the cancelled run stays in the ledger");
    assert.equal(runs[0].status, "cancelled");
    assert.deepEqual([runs[0].last_error?.code, runs[0].last_error?.message], ["step_deleted", "not needed"]);
    assert.equal(runs[0].step_id, null);
    assert.equal(runs[1].step_id, s.stepIds[1], "the journey moved to the next step, which is planned");
    assert.equal(runs[1].status, "pending");

    // Deleting the last step a journey is on completes it.
    const last = await call(s.app, { action: "delete_step", step_id: s.stepIds[1] });
    assert.equal(last.status, 200);
    const [instance] = await sql<{ status: string }[]>`
      select status::text from public.journey_instances where id = ${s.instanceId}::uuid`;
    assert.equal(instance.status, "completed");
    assert.equal((await call(s.app, { action: "delete_step", step_id: s.stepIds[1] })).status, 404);
  } finally {
    await sql.end();
  }
});

Deno.test("journeys reorder_steps renumbers every step and keeps runs; an incomplete list changes nothing", async () => {
  const sql = stackDb();
  try {
    const s = await started(sql, [LATER, LATER, LATER]);
    const positions = async () =>
      (await sql<{ id: string }[]>`
        select id::text from public.journey_steps where journey_id = ${s.journeyId}::uuid order by position`)
        .map((r) => r.id);
    const runsBefore = await runsOf(sql, s.instanceId);
    const [a, b, c] = s.stepIds;
    const partial = await call(s.app, { action: "reorder_steps", journey_id: s.journeyId, step_ids: [c, a] });
    assert.equal(partial.status, 422);
    const twice = await call(s.app, {
      action: "reorder_steps",
      journey_id: s.journeyId,
      step_ids: [c, a, a],
    });
    assert.equal(twice.status, 422);
    assert.deepEqual(await positions(), [a, b, c]);

    const ok = await call(s.app, { action: "reorder_steps", journey_id: s.journeyId, step_ids: [c, a, b] });
    assert.equal(ok.status, 200);
    assert.deepEqual((ok.body.steps as { id: string; position: number }[]).map((x) => [x.id, x.position]), [
      [c, 1],
      [a, 2],
      [b, 3],
    ]);
    assert.deepEqual(await positions(), [c, a, b]);
    assert.deepEqual(await runsOf(sql, s.instanceId), runsBefore, "runs are kept as they were");
  } finally {
    await sql.end();
  }
});

Deno.test("journeys refuses another supplier's user (404), anonymous callers and malformed input, writing nothing", async () => {
  const sql = stackDb();
  try {
    const s = await started(sql, [LATER, LATER]);
    const other = await emailScenario(sql);
    const stranger = await member(sql, other.supplierId);
    const snapshot = async () =>
      JSON.stringify([
        await sql`select status::text, current_step_id from public.journey_instances where id = ${s.instanceId}::uuid`,
        await sql`select id, position, config, timing from public.journey_steps
          where journey_id = ${s.journeyId}::uuid order by id`,
        await sql`select id, status::text, run_at, last_error from public.module_runs
          where journey_instance_id = ${s.instanceId}::uuid order by id`,
      ]);
    const before = await snapshot();
    const foreign: Record<string, unknown>[] = [
      { action: "pause", instance_id: s.instanceId },
      { action: "cancel", instance_id: s.instanceId },
      { action: "resume", instance_id: s.instanceId },
      { action: "update_step", step_id: s.stepIds[0], timing: { offset_days: 3 } },
      { action: "update_step", step_id: s.stepIds[0], config: { template: "welcome" } },
      { action: "delete_step", step_id: s.stepIds[0] },
      { action: "reorder_steps", journey_id: s.journeyId, step_ids: [s.stepIds[1], s.stepIds[0]] },
      { action: "cancel_booking", client_id: s.clientId },
      { action: "dry_run", journey_id: s.journeyId, client_id: s.clientId },
      { action: "dry_run", journey_id: other.journeyId, client_id: s.clientId },
    ];
    for (const body of foreign) {
      const res = await call(stranger, body);
      assert.equal(res.status, 404, `${JSON.stringify(body)} answered ${res.status}`);
    }
    const malformed: Record<string, unknown>[] = [
      {},
      { action: "pause" },
      { action: "pause", instance_id: "not-a-uuid" },
      { action: "explode", instance_id: s.instanceId },
      { action: "pause", instance_id: s.instanceId, extra: 1 },
      { action: "update_step", step_id: s.stepIds[0], timing: { offset_days: 1.5 } },
      { action: "reorder_steps", journey_id: s.journeyId, step_ids: [] },
      { action: "dry_run", journey_id: s.journeyId, client_id: s.clientId, start_at: "tomorrow" },
    ];
    for (const body of malformed) {
      const res = await call(s.app, body);
      assert.equal(res.status, 422, `${JSON.stringify(body)} answered ${res.status}`);
    }
    const anonymous = await call(await supabase(), { action: "pause", instance_id: s.instanceId });
    assert.equal(anonymous.status, 403);
    const token = await userJwt(crypto.randomUUID());
    const notJson = await fetch(`${gatewayUrl}/functions/v1/journeys`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: "{nope",
    });
    assert.equal(notJson.status, 400);
    await notJson.body?.cancel();
    const get = await fetch(`${gatewayUrl}/functions/v1/journeys`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(get.status, 405);
    await get.body?.cancel();
    assert.equal(await snapshot(), before, "nothing was written");
  } finally {
    await sql.end();
  }
});

Deno.test("a booking cancelled in the CRM, or through the app, cancels the couple's pending sends", async () => {
  const sql = stackDb();
  try {
    const s = await started(sql, [LATER, {}]);
    const inboundSecret = crypto.randomUUID();
    await connectIntegration(sql, s.supplierId, "crm_webhooks", {
      crm: "honeybook",
      url: `${simulatorUrl}/hooks/${crypto.randomUUID()}`,
      field_map: {},
    }, { signing_secret: newSvixSecret(), inbound_secret: inboundSecret });
    const second = await createJourney(sql, s.supplierId, [LATER]);
    const secondInstance = await startJourney(sql, s.supplierId, second.journeyId, s.clientId);
    assert.equal((await call(s.app, { action: "pause", instance_id: secondInstance })).status, 200);

    const [{ url }] = await sql<
      { url: string }[]
    >`select public.crm_inbound_url(${s.supplierId}::uuid) as url`;
    const event = { type: "project.cancelled", id: `hb-${crypto.randomUUID()}`, couple: { id: s.clientId } };
    const res = await fetch(url, { method: "POST", body: JSON.stringify(event) });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body, {
      result: "cancelled",
      client_id: s.clientId,
      cancelled_instances: 2,
      cancelled_runs: 2,
      ignored: [],
    });
    for (const id of [s.instanceId, secondInstance]) {
      const runs = await runsOf(sql, id);
      assert.deepEqual(runs.map((r) => [r.status, r.last_error?.code]), [["cancelled", "booking_cancelled"]]);
      assert.match(runs[0].last_error?.message ?? "", /booking was cancelled in honeybook/);
    }
    const again = await fetch(url, { method: "POST", body: JSON.stringify(event) });
    assert.equal((await again.json()).result, "duplicate");

    // Through the app: a couple whose journey is running.
    const couple = await createClient(sql, s.supplierId, { wedding_date: "2027-06-12" });
    const third = await startJourney(sql, s.supplierId, second.journeyId, couple);
    const viaApp = await call(s.app, { action: "cancel_booking", client_id: couple, reason: "refunded" });
    assert.equal(viaApp.status, 200);
    assert.deepEqual(viaApp.body, { cancelled_instances: 1, cancelled_runs: 1 });
    const [run] = await runsOf(sql, third);
    assert.deepEqual([run.status, run.last_error?.code, run.last_error?.message], [
      "cancelled",
      "booking_cancelled",
      "refunded",
    ]);
  } finally {
    await sql.end();
  }
});

Deno.test("journeys dry_run gives a wedding-anchored journey's sends in the couple's zone across a DST change, writing nothing", async () => {
  const sql = stackDb();
  try {
    // Clocks go forward in London on 28 March 2027; the wedding is on Saturday 3 April.
    const s = await emailScenario(sql, {
      steps: [
        { timing: { anchor: "wedding_date", offset_days: -14, at: "10:00" } },
        {
          module_type: "sms",
          config: { text: "See you soon {{couple_name}}" },
          timing: {
            anchor: "wedding_date",
            offset_days: -3,
            at: "07:00",
          },
        },
        {
          config: { template: "welcome", send_time: "business_hours" },
          timing: { anchor: "wedding_date", offset_days: -2, at: "19:00" },
        },
        {
          module_type: "review",
          config: {},
          timing: { anchor: "wedding_date", offset_days: 0, at: "18:00" },
        },
        { timing: { anchor: "booking_date", offset_days: 10 } },
      ],
      client: { wedding_date: "2027-04-03", time_zone: "Europe/London" },
    });
    const app = await member(sql, s.supplierId);
    const count = async () =>
      (await sql<{ n: number }[]>`
        select (select count(*) from public.module_runs where supplier_id = ${s.supplierId}::uuid)
          + (select count(*) from public.journey_instances where supplier_id = ${s.supplierId}::uuid) as n`)[
        0
      ].n;
    const before = await count();
    const res = await call(app, {
      action: "dry_run",
      journey_id: s.journeyId,
      client_id: s.clientId,
      start_at: "2027-03-01T12:00:00Z",
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const plan = dryRunResponse.parse(res.body);
    assert.equal(plan.time_zone, "Europe/London");
    assert.deepEqual(
      plan.steps.map((
        x,
      ) => [x.module_type, x.send_at && new Date(x.send_at).toISOString(), x.time_zone, x.local_time]),
      [
        ["email", "2027-03-20T10:00:00.000Z", "Europe/London", "2027-03-20T10:00"],
        ["sms", "2027-03-31T07:00:00.000Z", "Europe/London", "2027-03-31T08:00"],
        ["email", "2027-04-02T08:00:00.000Z", "Europe/London", "2027-04-02T09:00"],
        ["review", "2027-04-04T17:00:00.000Z", "Europe/London", "2027-04-04T18:00"],
        ["email", null, "Europe/London", null],
      ],
    );
    assert.ok(plan.steps[1].rules.some((r) => /quiet hours 21:00-08:00/.test(r)), plan.steps[1].rules.join());
    assert.ok(plan.steps[2].rules.some((r) => /business hours/.test(r)));
    assert.ok(plan.steps[3].rules.some((r) => /wedding day/.test(r)));
    assert.equal(plan.steps[4].would_send, false);
    assert.match(plan.steps[4].skip_reason ?? "", /no booking date/);
    assert.equal(await count(), before, "a dry run writes nothing");
  } finally {
    await sql.end();
  }
});

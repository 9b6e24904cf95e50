// The whole-journey demo end to end: two couples of two vendors, every step through the simulator on the
// simulated clock, the wedding date moving (from the app and from HoneyBook), Resend's outage failing over
// to Mailgun for one vendor and retried for the other, review routing and the CRM sync.
import assert from "node:assert/strict";
import { runDemo } from "../../scripts/demo/journey.ts";
import { addDays } from "../../shared/time/dates.ts";
import { zonedInstant } from "../../shared/time/zones.ts";
import { sim, stackDb } from "../helpers/stack.ts";

Deno.test({
  name: "the demo's two couples go through the whole journey once each, on the times the pipeline planned",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const sql = stackDb();
    try {
      const demo = await runDemo(sql);
      const [golden, harbour] = demo.couples;
      for (const c of demo.couples) {
        const steps = await sql<{ id: number; position: number; status: string; provider: string | null }[]>`
          select r.id::int, s.position, r.status::text, r.provider from public.module_runs r
          join public.journey_steps s on s.id = r.step_id
          where r.journey_instance_id = ${c.instanceId}::uuid
            and not exists (select 1 from public.meeting_reminders mr where mr.run_id = r.id)
          order by r.id`;
        assert.deepEqual(
          steps.map((s) => [s.position, s.status]),
          [1, 2, 3, 4, 5, 6].map((p) => [p, "succeeded"]),
        );
        assert.equal(steps[3].provider, "whatsapp");

        // The WhatsApp countdown and the review request follow the moved wedding date, at 10:00 in the zone.
        const planned = (i: number) => demo.clock.planned.get(steps[i].id)?.toISOString();
        assert.equal(planned(3), zonedInstant(addDays(c.movedTo, -2), "10:00", c.timeZone).toISOString());
        assert.equal(planned(4), zonedInstant(addDays(c.movedTo, 10), "10:00", c.timeZone).toISOString());

        // Nothing doubled: one message per run at the providers.
        const [{ dup }] = await sql<{ dup: number }[]>`
          select count(*)::int as dup from (select run_id from public.deliveries d
            join public.module_runs r on r.id = d.run_id where r.journey_instance_id = ${c.instanceId}::uuid
            group by run_id having count(*) > 1) x`;
        assert.equal(dup, 0);
        const reminders = await sql<{ status: string; provider: string }[]>`
          select r.status::text, r.provider from public.meeting_reminders mr
          join public.module_runs r on r.id = mr.run_id join public.meetings m on m.id = mr.meeting_id
          where m.client_id = ${c.clientId}::uuid`;
        assert.deepEqual(reminders.map((r) => [r.status, r.provider]), [["succeeded", "twilio"], [
          "succeeded",
          "twilio",
        ]]);
      }

      const calls = async (c: typeof golden) =>
        (await sql<{ provider: string; http_status: number }[]>`
          select ic.provider, ic.http_status from public.integration_calls ic
          join public.module_runs r on r.id = ic.run_id join public.journey_steps s on s.id = r.step_id
          where r.journey_instance_id = ${c.instanceId}::uuid and s.position = 5 order by ic.id`)
          .map((x) => [x.provider, x.http_status]);
      assert.deepEqual(
        await calls(golden),
        [["resend", 503], ["mailgun", 200]],
        "failover within one attempt",
      );
      assert.deepEqual(
        await calls(harbour),
        [["resend", 503], ["resend", 200]],
        "no failover route: retried",
      );

      assert.equal(demo.ratings[golden.couple].route, "public");
      assert.equal(demo.ratings[harbour.couple].route, "direct_contact");
      const notes = await sql<{ kind: string }[]>`
        select kind from public.supplier_notifications where supplier_id = ${harbour.supplierId}::uuid`;
      assert.deepEqual(notes.map((n) => n.kind), ["review_low_rating"]);

      // The CRMs: Tave got the lead, the wedding's move and the completed stage; HoneyBook's own change is
      // not sent back to it.
      const studio = await sim<{ leads: unknown[]; jobs: { stage?: string }[] }>(
        `/_sim/tave/studios/${golden.tave!.studio_id}`,
      );
      assert.equal(studio.leads.length, 1);
      assert.equal(studio.jobs[0].stage, "completed");
      const log = await sql<{ target: string; event_type: string; status: string }[]>`
        select target, event_type, status from public.crm_delivery_log
        where client_id = any(${demo.couples.map((c) => c.clientId)}::uuid[])`;
      assert.ok(log.every((l) => l.status === "succeeded"));
      assert.deepEqual(
        log.filter((l) => l.event_type === "couple.updated").map((l) => l.target),
        ["tave"],
        "the app's change reaches Tave; HoneyBook's is not echoed back",
      );
      const hooks = await sim<{ raw_body: string }[]>(`/_sim/hooks/received?path=${harbour.hook}`);
      const types = hooks.map((h) => JSON.parse(h.raw_body).type);
      assert.equal(types.filter((t) => t === "journey.completed").length, 1);
      assert.ok(!types.includes("couple.updated"), "HoneyBook's own change is not echoed back to it");
    } finally {
      await sql.end();
    }
  },
});

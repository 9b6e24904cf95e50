// Integration health end to end: a Resend key revoked mid-journey disconnects the integration, holds the
// couples' emails (no attempt used, nothing dead), tells the vendor once (in the app, by email through the
// platform's account and by a signed operator webhook), and the held emails go out once, in order, within
// one sweep after the key is replaced in Vault; a Twilio 20003 holds texts the same way; a held step whose
// rule is to skip once its time passed is skipped with the reason.
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { simulatorUrl } from "../../stack/config.ts";
import type { Sql } from "../helpers/db.ts";
import { createClient, emailScenario, startJourney } from "../helpers/fixtures.ts";
import { withServer } from "../helpers/http.ts";
import { emailsFor } from "../helpers/modules.ts";
import { runOf as smsRunOf, smsScenario } from "../helpers/sms_fixtures.ts";
import { newSvixSecret, sim, stackDb, waitFor } from "../helpers/stack.ts";

type Run = {
  id: number;
  status: string;
  attempts: number;
  step_id: string;
  last_error: Record<string, string> | null;
};

async function runsOf(sql: Sql, instanceId: string): Promise<Run[]> {
  return await sql<Run[]>`
    select id::int, status::text, attempts, step_id::text, last_error from public.module_runs
    where journey_instance_id = ${instanceId}::uuid order by id`;
}

async function integration(sql: Sql, supplierId: string, provider: string) {
  const [row] = await sql<
    {
      id: string;
      status: string;
      status_code: string | null;
      status_reason: string | null;
      secret_id: string;
    }[]
  >`
    select id::text, status, status_code, status_reason, secret_id::text from public.supplier_integrations
    where supplier_id = ${supplierId}::uuid and provider = ${provider}`;
  return row;
}

async function notifications(sql: Sql, supplierId: string) {
  return await sql<{ kind: string; details: Record<string, unknown>; resolved_at: Date | null }[]>`
    select kind, details, resolved_at from public.supplier_notifications
    where supplier_id = ${supplierId}::uuid order by id`;
}

async function setVault(sql: Sql, name: string, value: string) {
  await sql`delete from vault.secrets where name = ${name}`;
  await sql`select vault.create_secret(${value}, ${name})`;
}

Deno.test("a Resend key revoked mid-journey holds the emails, tells the vendor once, and a Vault update sends each once, in order", async () => {
  const sql = stackDb();
  const operatorSecret = newSvixSecret();
  const platformKey = `re_platform_${crypto.randomUUID().replaceAll("-", "")}`;
  const alertEmail = `owner-${crypto.randomUUID().slice(0, 8)}@studio.example`;
  try {
    await withServer(() => new Response("ok"), async (operatorUrl, seen) => {
      await setVault(sql, "operator_alert_url", `${operatorUrl}/alerts`);
      await setVault(sql, "operator_alert_secret", operatorSecret);
      await setVault(
        sql,
        "platform_email",
        JSON.stringify({
          api_key: platformKey,
          from: "Journeys <alerts@platform.example>",
          base_url: `${simulatorUrl}/resend`,
        }),
      );
      const key = `re_test_${crypto.randomUUID().replaceAll("-", "")}`;
      const s = await emailScenario(sql, {
        steps: [{}, { timing: { offset_minutes: 0 } }],
        resend: { api_key: key, webhook_secret: newSvixSecret() },
      });
      await sql`update public.suppliers set alert_email = ${alertEmail} where id = ${s.supplierId}::uuid`;
      const first = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
      await waitFor("the first couple's two emails", async () => {
        const runs = await runsOf(sql, first);
        return runs.length === 2 && runs.every((r) => r.status === "succeeded") ? runs : undefined;
      });

      await sim("/_sim/config", { body: { provider: "resend", invalid_keys: [key] } });
      const instances: string[] = [];
      for (let i = 0; i < 3; i++) {
        const clientId = await createClient(sql, s.supplierId, { wedding_date: "2027-06-12" });
        instances.push(await startJourney(sql, s.supplierId, s.journeyId, clientId));
      }
      const held = await waitFor("three held runs", async () => {
        const runs = (await Promise.all(instances.map((id) => runsOf(sql, id)))).flat();
        return runs.length === 3 && runs.every((r) => r.status === "held") ? runs : undefined;
      });
      for (const r of held) {
        assert.equal(r.attempts, 0, "a held run burns no attempt");
        assert.equal(r.last_error?.code, "integration_disconnected");
        assert.match(r.last_error!.message, /Held: resend is disconnected/);
      }
      const resend = await integration(sql, s.supplierId, "resend");
      assert.equal(resend.status, "disconnected");
      assert.equal(resend.status_code, "invalid_api_key");
      const notes = await notifications(sql, s.supplierId);
      assert.equal(notes.length, 1, "once per incident, not once per run");
      assert.equal(notes[0].kind, "integration_disconnected");
      assert.equal(notes[0].details.held, 3);
      const attention = await sql<{ kind: string; runs: number }[]>`
        select kind, runs::int from public.operator_attention where supplier_id = ${s.supplierId}::uuid order by kind`;
      assert.deepEqual(attention.map((a) => [a.kind, a.runs]), [["held_runs", 3], ["integration", 3]]);

      // The alerts: a signed operator webhook and an email through the platform's own account.
      // The operator URL is the platform's: other suppliers' alerts (other tests) arrive there too.
      const ours = () =>
        seen.filter((r) => r.path === "/alerts" && r.body.includes(s.supplierId)).map((r) => ({
          data: (new Webhook(operatorSecret).verify(r.body, Object.fromEntries(r.headers)) as {
            data: { kind: string; supplier_id: string };
          }).data,
        })).filter((p) => p.data.supplier_id === s.supplierId);
      const payload = await waitFor("the operator webhook", () => Promise.resolve(ours()[0]));
      assert.deepEqual([payload.data.kind, payload.data.supplier_id], [
        "integration_disconnected",
        s.supplierId,
      ]);
      const alert = await waitFor("the vendor's alert email", async () => {
        const all = await sim<{ to: string[] | string; subject: string }[]>("/_sim/resend/emails");
        return all.find((e) => [e.to].flat().includes(alertEmail));
      });
      assert.equal(alert.subject, "Action needed: resend is disconnected");

      // The vendor replaces the key in Vault; one sweep (a pg_cron tick) releases the held emails.
      const fresh = `re_test_${crypto.randomUUID().replaceAll("-", "")}`;
      await sql`select vault.update_secret(${resend.secret_id}::uuid, ${
        JSON.stringify({ api_key: fresh, webhook_secret: "whsec_dGVzdA==" })
      })`;
      await sql`select public.sweep()`;
      assert.equal((await integration(sql, s.supplierId, "resend")).status, "connected");
      const done = await waitFor("every couple's two emails", async () => {
        const runs = (await Promise.all(instances.map((id) => runsOf(sql, id)))).flat();
        return runs.length === 6 && runs.every((r) => r.status === "succeeded") ? runs : undefined;
      });
      for (const r of done) assert.equal((await emailsFor(r.id)).length, 1, `run ${r.id} sent exactly once`);
      assert.ok(done.filter((r) => r.step_id === s.stepIds[0]).every((r) => r.attempts === 1));
      const after = await notifications(sql, s.supplierId);
      assert.equal(after.length, 1, "no second notification");
      assert.ok(after[0].resolved_at, "the incident is resolved");
      assert.equal(ours().length, 1, "one operator alert for the incident");
    });
  } finally {
    await sql`delete from vault.secrets where name in ('operator_alert_url', 'operator_alert_secret', 'platform_email')`;
    await sql.end();
  }
});

Deno.test("a held step whose time passed and whose rule is to skip is skipped with the reason on release", async () => {
  const sql = stackDb();
  try {
    const key = `re_test_${crypto.randomUUID().replaceAll("-", "")}`;
    const s = await emailScenario(sql, {
      steps: [{ timing: { anchor: "booking_date", offset_days: 0, at: "23:59", if_past: "skip" } }, {}],
      resend: { api_key: key, webhook_secret: newSvixSecret() },
      client: { booking_date: new Date().toISOString().slice(0, 10), time_zone: "UTC" },
    });
    await sim("/_sim/config", { body: { provider: "resend", invalid_keys: [key] } });
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    // Due now (its 23:59 slot moved to the present), the send meets the revoked key.
    await sql`update public.module_runs set run_at = now() where journey_instance_id = ${instanceId}::uuid`;
    await sql`select public.kick('email', true)`;
    const [held] = await waitFor("held", async () => {
      const runs = await runsOf(sql, instanceId);
      return runs[0]?.status === "held" ? runs : undefined;
    });
    // Two hours later (its planned time moved back), the vendor reconnects.
    await sql`update public.module_runs set run_at = now() - interval '2 hours' where id = ${held.id}`;
    const resend = await integration(sql, s.supplierId, "resend");
    await sql`select public.connect_integration(${s.supplierId}::uuid, 'resend',
      ${
      JSON.stringify({
        api_key: `re_test_${crypto.randomUUID().replaceAll("-", "")}`,
        webhook_secret: "whsec_dGVzdA==",
      })
    }, '{}')`;
    const [skipped] = await runsOf(sql, instanceId);
    assert.equal(skipped.status, "skipped");
    assert.equal(skipped.last_error?.code, "window_passed");
    assert.match(skipped.last_error!.message, /passed and its rule is to skip/);
    assert.equal((await emailsFor(skipped.id)).length, 0);
    // The journey moved on: the next step is sent with the new key.
    await waitFor("the next step", async () => {
      const runs = await runsOf(sql, instanceId);
      return runs[1]?.status === "succeeded" ? runs : undefined;
    });
    assert.ok(resend.id);
  } finally {
    await sql.end();
  }
});

Deno.test("Twilio refusing the credentials (20003) holds the text until the token is replaced, then it is sent once", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql, { whatsapp: false, config: { channel: "sms" } });
    const twilio = await integration(sql, s.supplierId, "twilio");
    const [secret] = await sql<{ s: string }[]>`
      select decrypted_secret as s from vault.decrypted_secrets where id = ${twilio.secret_id}::uuid`;
    const good = JSON.parse(secret.s);
    await sql`select vault.update_secret(${twilio.secret_id}::uuid, ${
      JSON.stringify({ ...good, auth_token: "wrong" })
    })`;
    const instanceId = await s.start();
    const held = await waitFor("held", async () => {
      const r = await smsRunOf(sql, instanceId);
      return r?.status === "held" ? r : undefined;
    });
    assert.equal(held.attempts, 0);
    const after = await integration(sql, s.supplierId, "twilio");
    assert.equal(after.status, "disconnected");
    assert.match(after.status_code ?? "", /^20003/);
    await sql`select vault.update_secret(${twilio.secret_id}::uuid, ${JSON.stringify(good)})`;
    await sql`select public.sweep()`;
    const sent = await waitFor("sent", async () => {
      const r = await smsRunOf(sql, instanceId);
      return r?.status === "succeeded" ? r : undefined;
    });
    assert.equal(sent.attempts, 1);
    const calls = await sql<{ http_status: number }[]>`
      select http_status from public.integration_calls where run_id = ${sent.id} order by id`;
    assert.deepEqual(calls.map((c) => c.http_status), [401, 201], "refused once, then sent once");
  } finally {
    await sql.end();
  }
});

// The email module end to end on the local stack: transition → pg_net kick → module-email → Resend
// simulator → Svix-signed webhook → delivery status; faults, duplicates, forgeries and bad input.
import assert from "node:assert/strict";
import { FunctionsHttpError } from "@supabase/functions-js";
import { gatewayUrl } from "../../stack/config.ts";
import { signSvix } from "../../shared/webhooks/svix.ts";
import type { Sql } from "../helpers/db.ts";
import { emailScenario, startJourney, startJourneysTogether } from "../helpers/fixtures.ts";
import { invokeToken, newSvixSecret, sim, stackDb, supabase, userJwt, waitFor } from "../helpers/stack.ts";

type SimEmail = {
  id: string;
  idempotency_key: string | null;
  to: string | string[];
  subject: string;
  html: string;
  reply_to?: string | string[];
  tags: { name: string; value: string }[];
};

/** A supplier wired to the simulator: its own API key, and the simulator's webhooks pointed at us. */
async function wiredScenario(sql: Sql, opts: Parameters<typeof emailScenario>[1] = {}) {
  const apiKey = `re_test_${crypto.randomUUID().replaceAll("-", "")}`;
  const webhookSecret = newSvixSecret();
  const s = await emailScenario(sql, { ...opts, resend: { api_key: apiKey, webhook_secret: webhookSecret } });
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
  return { ...s, apiKey, webhookSecret };
}

async function emailsFor(runId: number): Promise<SimEmail[]> {
  const all = await sim<SimEmail[]>("/_sim/resend/emails");
  return all.filter((e) => e.tags?.some((t) => t.name === "run" && t.value === String(runId)));
}

async function runOf(sql: Sql, instanceId: string) {
  const rows = await sql<
    {
      id: number;
      status: string;
      attempts: number;
      provider_message_id: string | null;
      last_error: { code: string; message: string } | null;
      idempotency_key: string;
    }[]
  >`select id::int, status::text, attempts, provider_message_id, last_error, idempotency_key
    from public.module_runs where journey_instance_id = ${instanceId}::uuid order by id`;
  return rows[0];
}

async function deliveryStatus(sql: Sql, runId: number): Promise<string | undefined> {
  const [row] = await sql<
    { status: string }[]
  >`select status::text from public.deliveries where run_id = ${runId}`;
  return row?.status;
}

/** Starts the journey and waits until its email is sent and Resend's "delivered" webhook is applied. */
async function startAndDeliver(sql: Sql, s: { supplierId: string; journeyId: string; clientId: string }) {
  const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
  const run = await waitFor("the run to succeed", async () => {
    const r = await runOf(sql, instanceId);
    return r.status === "succeeded" ? r : undefined;
  });
  await waitFor("the delivered webhook", async () => (await deliveryStatus(sql, run.id)) === "delivered");
  return { instanceId, run };
}

/** Makes a pending retry due now and drains it the way app code invokes a function. */
async function drainNow(sql: Sql, runId: number) {
  await sql`update public.module_runs set run_at = now() where id = ${runId} and status = 'pending'`;
  const client = await supabase();
  const { data, error } = await client.functions.invoke("module-email", {
    body: { action: "drain", wait: true },
    headers: { Authorization: `Bearer ${await invokeToken(sql)}` },
  });
  assert.equal(error, null);
  return data;
}

Deno.test("module-email sends a transition's email through Resend and records delivery from the webhook", async () => {
  const sql = stackDb();
  try {
    const s = await wiredScenario(sql, {
      client: { couple_name: "Zoë & <Sam>", wedding_date: "2027-06-12" },
    });
    const { instanceId, run } = await startAndDeliver(sql, s);

    const emails = await emailsFor(run.id);
    assert.equal(emails.length, 1);
    const [email] = emails;
    assert.equal(email.id, run.provider_message_id);
    assert.equal(email.idempotency_key, run.idempotency_key);
    assert.equal(email.subject, "Welcome Zoë & <Sam>");
    assert.match(email.html, /Hello Zoë &amp; &lt;Sam&gt;, see you at The Old Barn on 12 June 2027\./);
    assert.deepEqual([email.reply_to].flat(), ["owner@studio.example"]);
    assert.deepEqual(
      email.tags.map((t) => t.name).sort(),
      ["module", "run", "run_key", "supplier"],
    );
    // The run key comes back in Resend's events (`:` is not allowed in a tag value).
    assert.equal(
      email.tags.find((t) => t.name === "run_key")?.value,
      run.idempotency_key.replaceAll(":", "_"),
    );
    // Webhooks may arrive in any order, and before the send's outcome is recorded: both are kept.
    const history = await waitFor("both webhook events", async () => {
      const rows = await sql<{ status: string }[]>`
        select e.status::text from public.delivery_events e join public.deliveries d on d.id = e.delivery_id
        where d.run_id = ${run.id}`;
      return rows.length === 2 ? rows : undefined;
    });
    assert.deepEqual(history.map((h) => h.status).sort(), ["delivered", "sent"]);
    const [instance] =
      await sql`select status::text from public.journey_instances where id = ${instanceId}::uuid`;
    assert.equal(instance.status, "completed", "the one-step journey moved on to its end");
  } finally {
    await sql.end();
  }
});

Deno.test("module-email retries a Resend 5xx and the couple gets exactly one email", async () => {
  const sql = stackDb();
  try {
    const s = await wiredScenario(sql);
    await sim("/_sim/faults", { body: { provider: "resend", kind: "status", status: 500, count: 1 } });
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const first = await waitFor("the first attempt to fail", async () => {
      const r = await runOf(sql, instanceId);
      return r.status === "pending" && r.attempts === 1 ? r : undefined;
    });
    assert.equal(first.last_error?.code, "application_error");
    await drainNow(sql, first.id);
    const run = await runOf(sql, instanceId);
    assert.equal(run.status, "succeeded");
    assert.equal(run.attempts, 2);
    assert.equal((await emailsFor(run.id)).length, 1);
    const calls = await sql<{ http_status: number }[]>`
      select http_status from public.integration_calls where run_id = ${run.id} order by id`;
    assert.deepEqual(calls.map((c) => c.http_status), [500, 200]);
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("module-email replays an unknown outcome with the same idempotency key instead of sending twice", async () => {
  const sql = stackDb();
  try {
    const s = await wiredScenario(sql);
    await sim("/_sim/faults", { body: { provider: "resend", kind: "reset", count: 1 } });
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    // The provider accepts the email, then the connection drops before the answer. Either the HTTP
    // client replays the request at once on a fresh connection, or the run records an unknown
    // outcome and the next attempt replays it; both must reuse the run's idempotency key.
    const first = await waitFor("the first attempt to end", async () => {
      const r = await runOf(sql, instanceId);
      return r.status === "succeeded" || (r.status === "pending" && r.attempts === 1) ? r : undefined;
    });
    if (first.status === "pending") {
      assert.equal(first.last_error?.code, "no_response");
      await drainNow(sql, first.id);
    }
    const run = await runOf(sql, instanceId);
    assert.equal(run.status, "succeeded");
    const requests = await sim<{ fault?: string; headers: Record<string, string> }[]>(
      "/_sim/requests?provider=resend",
    );
    const mine = requests.filter((r) => r.headers["idempotency-key"] === run.idempotency_key);
    assert.equal(mine[0].fault, "reset");
    assert.ok(mine.length >= 2, "the send was replayed after the reset");
    const emails = await emailsFor(run.id);
    assert.equal(emails.length, 1, "the replay returned the original email");
    assert.equal(run.provider_message_id, emails[0].id);
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("a batch request whose answer is lost is settled by Resend's events, never sent again", async () => {
  const sql = stackDb();
  try {
    const s = await wiredScenario(sql);
    // Resend takes the batch, then every connection drops before the answer (the repeat's too).
    await sim("/_sim/faults", {
      body: { provider: "resend", kind: "reset", rate: 1, path: "/emails/batch" },
    });
    // One statement: three runs due at once share one batch request.
    const instances = await startJourneysTogether(sql, s, 3, "batch");
    const ended = await waitFor("the batch's runs to end their attempt", async () => {
      const runs = await Promise.all(instances.map((id) => runOf(sql, id)));
      return runs.every((r) => r.status === "unknown" || r.status === "succeeded") ? runs : undefined;
    });
    // Nothing is resent: without the answer, another attempt would be another batch under another key.
    assert.ok(ended.every((r) => r.attempts === 1));
    assert.ok(ended.some((r) => r.status === "unknown" && r.last_error?.code === "no_response"));
    // Resend's events name each run by its run key tag; those that came before the outcome wait in the
    // inbox for the sweep.
    await sql`select public.sweep()`;
    const settled = await waitFor("every run settled from Resend's events", async () => {
      const runs = await Promise.all(instances.map((id) => runOf(sql, id)));
      return runs.every((r) => r.status === "succeeded") ? runs : undefined;
    });
    for (const run of settled) {
      const emails = await emailsFor(run.id);
      assert.equal(emails.length, 1, "the couple got exactly one email");
      assert.equal(run.provider_message_id, emails[0].id);
    }
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("webhook-resend applies a duplicated event once", async () => {
  const sql = stackDb();
  try {
    const s = await wiredScenario(sql);
    const { run } = await startAndDeliver(sql, s);
    const fired = await sim<{ statuses: number[] }>(`/_sim/resend/emails/${run.provider_message_id}/events`, {
      body: { type: "email.opened", times: 3 },
    });
    assert.deepEqual(fired.statuses, [200, 200, 200]);
    const opened = await sql<{ n: number }[]>`
      select count(*)::int as n from public.delivery_events e join public.deliveries d on d.id = e.delivery_id
      where d.run_id = ${run.id} and e.status = 'opened'`;
    assert.equal(opened[0].n, 1);
    assert.equal(await deliveryStatus(sql, run.id), "opened");
  } finally {
    await sql.end();
  }
});

Deno.test("webhook-resend refuses forged and stale webhooks with 401 and changes nothing", async () => {
  const sql = stackDb();
  try {
    const s = await wiredScenario(sql);
    const { run } = await startAndDeliver(sql, s);
    const [before] = await sql<
      { n: number }[]
    >`select count(*)::int as n from public.webhook_events where supplier_id = ${s.supplierId}::uuid`;
    const body = JSON.stringify({
      type: "email.bounced",
      created_at: new Date().toISOString(),
      data: { email_id: run.provider_message_id, bounce: { type: "Permanent" } },
    });
    const url = `${gatewayUrl}/functions/v1/webhook-resend?supplier=${s.supplierId}`;
    const post = async (secret: string, timestamp: number, sendBody = body) => {
      const id = `msg_${crypto.randomUUID()}`;
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "svix-id": id,
          "svix-timestamp": String(timestamp),
          "svix-signature": await signSvix(secret, id, timestamp, body),
        },
        body: sendBody,
      });
      return { status: res.status, body: await res.json() };
    };
    const now = Math.floor(Date.now() / 1000);
    const forged = await post(newSvixSecret(), now);
    assert.equal(forged.status, 401);
    assert.match(forged.body.error.message, /no matching signature/);
    const stale = await post(s.webhookSecret, now - 600);
    assert.equal(stale.status, 401);
    assert.match(stale.body.error.message, /too old/);
    const tampered = await post(s.webhookSecret, now, body.replace("Permanent", "Transient"));
    assert.equal(tampered.status, 401);
    const unsigned = await fetch(url, { method: "POST", body });
    assert.equal(unsigned.status, 401);
    await unsigned.body?.cancel();

    const [after] = await sql<
      { n: number }[]
    >`select count(*)::int as n from public.webhook_events where supplier_id = ${s.supplierId}::uuid`;
    assert.equal(after.n, before.n);
    assert.equal(await deliveryStatus(sql, run.id), "delivered");
  } finally {
    await sql.end();
  }
});

Deno.test("a bounce suppresses the address and the next email to it is skipped with the reason", async () => {
  const sql = stackDb();
  try {
    const s = await wiredScenario(sql);
    const { run } = await startAndDeliver(sql, s);
    await sim(`/_sim/resend/emails/${run.provider_message_id}/events`, {
      body: {
        type: "email.bounced",
        data: { bounce: { type: "Permanent", subType: "General", message: "no such user" } },
      },
    });
    assert.equal(await deliveryStatus(sql, run.id), "bounced");
    // The same couple starts another journey: the email is skipped, not sent.
    const second = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const skipped = await waitFor("the second run to be skipped", async () => {
      const r = await runOf(sql, second);
      return r.status === "skipped" ? r : undefined;
    });
    assert.equal(skipped.last_error?.code, "suppressed");
    assert.equal((await emailsFor(skipped.id)).length, 0);
  } finally {
    await sql.end();
  }
});

Deno.test("bad input gets a 4xx with the reason and writes nothing", async () => {
  const sql = stackDb();
  try {
    const s = await emailScenario(sql);
    const userId = crypto.randomUUID();
    await sql`insert into auth.users (id, email) values (${userId}::uuid, ${`${userId}@studio.example`})`;
    await sql`insert into public.supplier_members (supplier_id, user_id) values (${s.supplierId}::uuid, ${userId}::uuid)`;
    const steps = async () =>
      (await sql<
        { n: number }[]
      >`select count(*)::int as n from public.journey_steps where journey_id = ${s.journeyId}::uuid`)[0].n;
    const stepsBefore = await steps();
    const app = await supabase(await userJwt(userId));

    const bad = await app.functions.invoke("journey-steps", {
      body: {
        journey_id: s.journeyId,
        position: 2,
        module_type: "email",
        config: { template: 5, send_time: "at 3am" },
      },
    });
    assert.ok(bad.error instanceof FunctionsHttpError);
    assert.equal(bad.error.context.status, 422);
    const reason = await bad.error.context.json();
    assert.deepEqual(reason.error.details.map((d: { path: string }) => d.path).sort(), [
      "send_time",
      "template",
    ]);

    const badTiming = await app.functions.invoke("journey-steps", {
      body: {
        journey_id: s.journeyId,
        position: 2,
        module_type: "email",
        config: { template: "welcome" },
        timing: { at: "25:00" },
      },
    });
    assert.equal((badTiming.error as FunctionsHttpError).context.status, 422);

    const ok = await app.functions.invoke("journey-steps", {
      body: { journey_id: s.journeyId, position: 2, module_type: "email", config: { template: "welcome" } },
    });
    assert.equal(ok.error, null);
    assert.equal(ok.data.position, 2);
    assert.equal(await steps(), stepsBefore + 1);

    const other = await emailScenario(sql);
    const foreign = await app.functions.invoke("journey-steps", {
      body: {
        journey_id: other.journeyId,
        position: 9,
        module_type: "email",
        config: { template: "welcome" },
      },
    });
    assert.equal(
      (foreign.error as FunctionsHttpError).context.status,
      404,
      "another supplier's journey is invisible",
    );

    const anonymous = await (await supabase()).functions.invoke("journey-steps", {
      body: { journey_id: s.journeyId, position: 3, module_type: "email", config: { template: "welcome" } },
    });
    assert.equal((anonymous.error as FunctionsHttpError).context.status, 403);
    assert.equal(await steps(), stepsBefore + 1);

    const [runsBefore] = await sql<{ n: number }[]>`select count(*)::int as n from public.module_runs`;
    const noToken = await fetch(`${gatewayUrl}/functions/v1/module-email`, { method: "POST", body: "{}" });
    assert.equal(noToken.status, 401);
    await noToken.body?.cancel();
    const token = await invokeToken(sql);
    const notJson = await fetch(`${gatewayUrl}/functions/v1/module-email`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: "{not json",
    });
    assert.equal(notJson.status, 400);
    assert.match((await notJson.json()).error.message, /not valid UTF-8 JSON/);
    const wrongAction = await fetch(`${gatewayUrl}/functions/v1/module-email`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ action: "explode" }),
    });
    assert.equal(wrongAction.status, 422);
    assert.match((await wrongAction.json()).error.message, /action/);
    const [runsAfter] = await sql<{ n: number }[]>`select count(*)::int as n from public.module_runs`;
    assert.equal(runsAfter.n, runsBefore.n);

    const webhookBadSupplier = await fetch(`${gatewayUrl}/functions/v1/webhook-resend?supplier=nope`, {
      method: "POST",
      body: "{}",
    });
    assert.equal(webhookBadSupplier.status, 400);
    await webhookBadSupplier.body?.cancel();
  } finally {
    await sql.end();
  }
});

Deno.test("module-email dead-letters a send Resend refuses, with Resend's reason", async () => {
  const sql = stackDb();
  try {
    const s = await wiredScenario(sql);
    // The database refuses a malformed supplier sender, so the bad address comes from the integration.
    await sql`update public.suppliers set email_from = null where id = ${s.supplierId}::uuid`;
    await sql`update public.supplier_integrations set settings = '{"from": "Studio <hello@>"}' where supplier_id = ${s.supplierId}::uuid`;
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const run = await waitFor("the run to be dead", async () => {
      const r = await runOf(sql, instanceId);
      return r.status === "dead" ? r : undefined;
    });
    assert.equal(run.attempts, 1);
    assert.match(run.last_error!.message, /422 invalid_from_address/);
  } finally {
    await sql.end();
  }
});

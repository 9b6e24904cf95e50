// The email module across providers on the local stack: failover with a circuit breaker (exactly one
// accepted email), rate limits across instances measured at the simulator, 429 / Retry-After, SendGrid's
// and Mailgun's signed webhooks, one-click unsubscribe and the suppression list.
import assert from "node:assert/strict";
import { gatewayUrl } from "../../stack/config.ts";
import type { Sql } from "../helpers/db.ts";
import { connectProvider, emailScenario, startJourney, startJourneysTogether } from "../helpers/fixtures.ts";
import { newSvixSecret, sim, stackDb, waitFor } from "../helpers/stack.ts";

type Run = {
  id: number;
  status: string;
  attempts: number;
  provider: string | null;
  provider_message_id: string | null;
  idempotency_key: string;
  last_error: { code: string; message: string } | null;
};
type SimEmail = {
  id: string;
  to: string;
  headers: Record<string, string>;
  variables: Record<string, string>;
};
type SimRequest = {
  provider: string;
  received_at_ms: number;
  status: number | null;
  headers: Record<string, string>;
  body?: unknown;
};

const EMAIL_PROVIDERS = ["sendgrid", "mailgun"] as const;

async function runOf(sql: Sql, instanceId: string): Promise<Run> {
  const [row] = await sql<Run[]>`
    select id::int, status::text, attempts, provider, provider_message_id, idempotency_key, last_error
    from public.module_runs where journey_instance_id = ${instanceId}::uuid order by id limit 1`;
  return row;
}

async function finished(sql: Sql, instanceId: string, status = "succeeded"): Promise<Run> {
  return await waitFor(`run of ${instanceId} to be ${status}`, async () => {
    const r = await runOf(sql, instanceId);
    return r?.status === status ? r : undefined;
  });
}

/** Every email any simulated provider accepted for a run (Resend tags it, the others carry variables). */
async function acceptedFor(runId: number): Promise<{ provider: string; id: string }[]> {
  const resend = await sim<{ id: string; tags: { name: string; value: string }[] }[]>("/_sim/resend/emails");
  const out = resend.filter((e) => e.tags?.some((t) => t.name === "run" && t.value === String(runId)))
    .map((e) => ({ provider: "resend", id: e.id }));
  for (const p of EMAIL_PROVIDERS) {
    const list = await sim<SimEmail[]>(`/_sim/${p}/emails?run=${runId}`);
    out.push(...list.map((e) => ({ provider: p, id: e.id })));
  }
  return out;
}

async function deliveryStatus(sql: Sql, runId: number): Promise<string | undefined> {
  const [row] = await sql<
    { status: string }[]
  >`select status::text from public.deliveries where run_id = ${runId}`;
  return row?.status;
}

/** A supplier whose Resend (priority 1) and SendGrid (priority 2) accounts are wired to the simulator. */
async function resendThenSendGrid(sql: Sql) {
  const s = await emailScenario(sql);
  const resendKey = `re_test_${crypto.randomUUID().replaceAll("-", "")}`;
  const sendgridKey = `SG.${crypto.randomUUID().replaceAll("-", "")}`;
  const { public_key } = await sim<{ public_key: string }>("/_sim/sendgrid/public_key");
  await connectProvider(
    sql,
    s.supplierId,
    "resend",
    { api_key: resendKey, webhook_secret: newSvixSecret() },
    {},
    1,
  );
  await connectProvider(
    sql,
    s.supplierId,
    "sendgrid",
    { api_key: sendgridKey, webhook_public_key: public_key },
    {},
    2,
  );
  await sim("/_sim/config", {
    body: {
      provider: "sendgrid",
      api_key: sendgridKey,
      webhook: {
        url: `${gatewayUrl}/functions/v1/webhook-sendgrid?supplier=${s.supplierId}`,
        events: ["processed", "delivered"],
      },
    },
  });
  return { ...s, resendKey, sendgridKey };
}

Deno.test("module-email fails over from a failing Resend to SendGrid, opens Resend's circuit, and sends each email exactly once", async () => {
  const sql = stackDb();
  try {
    const s = await resendThenSendGrid(sql);
    await sim("/_sim/faults", { body: { provider: "resend", kind: "status", status: 500, rate: 1 } });
    const runs: Run[] = [];
    // One after another, so each failure is counted before the next send asks the circuit.
    for (let i = 0; i < 5; i++) {
      runs.push(await finished(sql, await startJourney(sql, s.supplierId, s.journeyId, s.clientId)));
    }
    for (const run of runs) {
      assert.equal(run.provider, "sendgrid");
      assert.equal(run.attempts, 1, "failover happens within the attempt");
      assert.deepEqual((await acceptedFor(run.id)).map((e) => e.provider), ["sendgrid"]);
      assert.equal((await acceptedFor(run.id))[0].id, run.provider_message_id);
    }
    const keys = new Set(runs.map((r) => r.idempotency_key));
    const resendCalls = (await sim<SimRequest[]>("/_sim/requests?provider=resend"))
      .filter((r) => keys.has(r.headers["idempotency-key"]));
    assert.equal(resendCalls.length, 3, "three failures open the circuit; later sends skip Resend");
    assert.ok(resendCalls.every((r) => r.status === 500));

    const [status] = await sql<
      { circuit: string; consecutive_failures: number; last_errors: { code: string }[] }[]
    >`
      select circuit, consecutive_failures, last_errors from public.provider_account_status
      where provider = 'resend' and supplier_id = ${s.supplierId}::uuid`;
    assert.equal(status.circuit, "open");
    assert.equal(status.consecutive_failures, 3);
    assert.deepEqual(status.last_errors.map((e) => e.code), [
      "application_error",
      "application_error",
      "application_error",
    ]);

    const calls = await sql<{ provider: string; http_status: number }[]>`
      select provider, http_status from public.integration_calls where run_id = ${runs[0].id} order by id`;
    assert.deepEqual(calls.map((c) => [c.provider, c.http_status]), [["resend", 500], ["sendgrid", 202]]);
    // SendGrid's signed webhooks reach webhook-sendgrid and move the delivery on.
    await waitFor(
      "SendGrid's delivered event",
      async () => (await deliveryStatus(sql, runs[0].id)) === "delivered",
    );
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("module-email never fails over while the first provider's outcome is unknown", async () => {
  const sql = stackDb();
  try {
    const s = await resendThenSendGrid(sql);
    // Resend takes the email, then the connection drops before the answer (every time).
    await sql`update public.supplier_integrations set priority = 3 where supplier_id = ${s.supplierId}::uuid and provider = 'resend'`;
    await sql`update public.supplier_integrations set priority = 1 where supplier_id = ${s.supplierId}::uuid and provider = 'sendgrid'`;
    await sim("/_sim/faults", { body: { provider: "sendgrid", kind: "reset", rate: 1 } });
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const run = await finished(sql, instanceId, "unknown");
    assert.equal(run.provider, "sendgrid", "the run is pinned to the provider that may have sent it");
    assert.equal(run.last_error?.code, "no_response");
    // A re-drive goes back to SendGrid only, never to Resend.
    await sim("/_sim/faults", { method: "DELETE" });
    await sql`select public.redrive_run(${run.id})`;
    const again = await finished(sql, instanceId);
    assert.equal(again.provider, "sendgrid");
    const resend = (await sim<SimRequest[]>("/_sim/requests?provider=resend"))
      .filter((r) => r.headers["idempotency-key"] === run.idempotency_key);
    assert.equal(resend.length, 0);
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("module-email keeps every 1-second window at Resend within the account's rate limit", async () => {
  const sql = stackDb();
  try {
    const s = await emailScenario(sql);
    const apiKey = `re_test_${crypto.randomUUID().replaceAll("-", "")}`;
    await connectProvider(sql, s.supplierId, "resend", { api_key: apiKey, webhook_secret: newSvixSecret() });
    // The simulator enforces Resend's default too: any excess would be answered 429.
    await sim("/_sim/config", { body: { provider: "resend", api_key: apiKey, rate_limit_per_s: 2 } });
    const before =
      (await sim<{ resend: { rate_limited: number } }>("/_sim/stats?provider=resend")).resend.rate_limited;
    // One statement: seven runs due at once, one kick.
    const instances = await startJourneysTogether(sql, s, 7, "rate");
    const runs = await Promise.all(instances.map((id) => finished(sql, id)));
    const keys = new Set(runs.map((r) => r.idempotency_key));
    // A request carries one email (its key is the run's) or a batch (each email tagged with its run key).
    const runKeysOf = (r: SimRequest): string[] =>
      Array.isArray(r.body)
        ? (r.body as { tags?: { name: string; value: string }[] }[]).map((e) =>
          (e.tags ?? []).find((t) => t.name === "run_key")?.value.replaceAll("_", ":") ?? ""
        )
        : [r.headers["idempotency-key"]];
    const requests = (await sim<SimRequest[]>("/_sim/requests?provider=resend"))
      .filter((r) => runKeysOf(r).some((k) => keys.has(k)));
    const sent = requests.flatMap(runKeysOf).sort();
    assert.deepEqual(sent, [...keys].sort(), "each run's email in exactly one request");
    assert.ok(requests.length < 7, `the due runs shared batch requests (${requests.length} requests for 7)`);
    const arrivals = requests.map((r) => r.received_at_ms).sort((a, b) => a - b);
    for (let i = 2; i < arrivals.length; i++) {
      assert.ok(
        arrivals[i] - arrivals[i - 2] >= 1000,
        `requests ${i - 2}..${i} arrived within ${arrivals[i] - arrivals[i - 2]} ms: 3 in one second`,
      );
    }
    const after =
      (await sim<{ resend: { rate_limited: number } }>("/_sim/stats?provider=resend")).resend.rate_limited;
    assert.equal(after, before, "Resend never had to refuse a request");
  } finally {
    await sql.end();
  }
});

Deno.test("module-email honours a 429's Retry-After for the whole provider account", async () => {
  const sql = stackDb();
  try {
    const s = await emailScenario(sql);
    const apiKey = `re_test_${crypto.randomUUID().replaceAll("-", "")}`;
    await connectProvider(sql, s.supplierId, "resend", { api_key: apiKey, webhook_secret: newSvixSecret() });
    await sim("/_sim/faults", {
      body: { provider: "resend", kind: "status", status: 429, retry_after_s: 30, count: 1 },
    });
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const run = await waitFor("the rate-limited attempt", async () => {
      const r = await runOf(sql, instanceId);
      return r.status === "pending" && r.last_error?.code === "rate_limited" ? r : undefined;
    });
    assert.equal(run.attempts, 0, "a rate limit uses no attempt");
    assert.match(run.last_error!.message, /the account's rate limit; retried after 30 s/);
    const [row] = await sql<{ run_wait: number; slot_wait: number; circuit: string }[]>`
      select extract(epoch from r.run_at - c.created_at)::float8 as run_wait,
        extract(epoch from l.limited_until - c.created_at)::float8 as slot_wait, a.circuit
      from public.module_runs r
      join public.integration_calls c on c.run_id = r.id
      join public.provider_account_status a on a.provider = 'resend' and a.supplier_id = r.supplier_id
      join public.rate_limit_status l on (l.provider, l.account, l.scope) = (a.provider, a.account, '')
      where r.id = ${run.id}`;
    assert.ok(row.run_wait >= 29, `the run waits for Retry-After (${row.run_wait} s)`);
    assert.ok(row.slot_wait >= 29, `every send through the account waits too (${row.slot_wait} s)`);
    assert.equal(row.circuit, "closed", "a rate limit is not a failure");
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

/** A supplier sending through Mailgun only, with its signed webhooks pointed at webhook-mailgun. */
async function mailgunOnly(sql: Sql) {
  const s = await emailScenario(sql);
  const apiKey = `key-${crypto.randomUUID().replaceAll("-", "")}`;
  const signingKey = crypto.randomUUID();
  await connectProvider(sql, s.supplierId, "mailgun", { api_key: apiKey, webhook_signing_key: signingKey }, {
    domain: "studio.example",
  });
  await sim("/_sim/config", {
    body: {
      provider: "mailgun",
      api_key: apiKey,
      webhook: {
        url: `${gatewayUrl}/functions/v1/webhook-mailgun?supplier=${s.supplierId}`,
        signing_key: signingKey,
        events: ["delivered"],
      },
    },
  });
  return s;
}

Deno.test("one-click unsubscribe suppresses the address for every provider and the next email is skipped", async () => {
  const sql = stackDb();
  try {
    const s = await mailgunOnly(sql);
    const first = await finished(sql, await startJourney(sql, s.supplierId, s.journeyId, s.clientId));
    assert.equal(first.provider, "mailgun");
    await waitFor(
      "Mailgun's delivered event",
      async () => (await deliveryStatus(sql, first.id)) === "delivered",
    );
    const [email] = await sim<SimEmail[]>(`/_sim/mailgun/emails?run=${first.id}`);
    assert.equal(email.variables.run_key, first.idempotency_key);
    assert.equal(email.headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
    const url = /^<(https?:\/\/[^>]+)>$/.exec(email.headers["List-Unsubscribe"])?.[1];
    assert.ok(url?.startsWith(`${gatewayUrl}/functions/v1/email-unsubscribe?token=`), url);

    const suppressed = async () =>
      (await sql<{ reason: string }[]>`
        select reason from public.suppressions where supplier_id = ${s.supplierId}::uuid and channel = 'email'`)[
        0
      ]
        ?.reason;
    // Link scanners GET every URL: a GET only shows the confirmation page.
    const page = await fetch(url!);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<form method="post">/);
    assert.equal(await suppressed(), undefined);
    const forged = await fetch(url!.replace(/\.[^.]+$/, ".c2lnbmVkIGJ5IHNvbWVvbmUgZWxzZQ"), {
      method: "POST",
      body: "List-Unsubscribe=One-Click",
    });
    assert.equal(forged.status, 400);
    await forged.body?.cancel();
    assert.equal(await suppressed(), undefined);

    const oneClick = await fetch(url!, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
    assert.equal(oneClick.status, 200);
    await oneClick.body?.cancel();
    assert.equal(await suppressed(), "unsubscribed");

    const second = await finished(
      sql,
      await startJourney(sql, s.supplierId, s.journeyId, s.clientId),
      "skipped",
    );
    assert.equal(second.last_error?.code, "suppressed");
    assert.match(second.last_error!.message, /unsubscribed/);
    assert.deepEqual(await acceptedFor(second.id), []);
  } finally {
    await sql.end();
  }
});

Deno.test("webhook-mailgun refuses a replayed token and a forged signature; a permanent failure suppresses", async () => {
  const sql = stackDb();
  try {
    const s = await mailgunOnly(sql);
    const run = await finished(sql, await startJourney(sql, s.supplierId, s.journeyId, s.clientId));
    await waitFor("delivered", async () => (await deliveryStatus(sql, run.id)) === "delivered");
    const fired = await sim<{ statuses: number[] }>(
      `/_sim/mailgun/emails/${run.provider_message_id}/events`,
      {
        body: { type: "failed", times: 2 },
      },
    );
    assert.deepEqual(fired.statuses, [200, 406], "the same signed request twice: the token is refused");
    assert.equal(await deliveryStatus(sql, run.id), "bounced");
    const [row] = await sql<{ reason: string }[]>`
      select reason from public.suppressions where supplier_id = ${s.supplierId}::uuid`;
    assert.equal(row.reason, "bounced");

    const forged = await fetch(`${gatewayUrl}/functions/v1/webhook-mailgun?supplier=${s.supplierId}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        signature: {
          timestamp: String(Math.floor(Date.now() / 1000)),
          token: "t".repeat(50),
          signature: "0".repeat(64),
        },
        "event-data": { event: "complained", id: "forged", timestamp: Date.now() / 1000 },
      }),
    });
    assert.equal(forged.status, 401);
    assert.match((await forged.json()).error.message, /bad signature/);
    const notJson = await fetch(`${gatewayUrl}/functions/v1/webhook-mailgun?supplier=${s.supplierId}`, {
      method: "POST",
      body: "signature=1",
    });
    assert.equal(notJson.status, 400);
    await notJson.body?.cancel();
  } finally {
    await sql.end();
  }
});

Deno.test("webhook-sendgrid refuses a signature from another key and applies a bounce once", async () => {
  const sql = stackDb();
  try {
    const s = await resendThenSendGrid(sql);
    await sql`delete from public.supplier_integrations where supplier_id = ${s.supplierId}::uuid and provider = 'resend'`;
    const run = await finished(sql, await startJourney(sql, s.supplierId, s.journeyId, s.clientId));
    await waitFor("delivered", async () => (await deliveryStatus(sql, run.id)) === "delivered");
    const fired = await sim<{ statuses: number[] }>(
      `/_sim/sendgrid/emails/${run.provider_message_id}/events`,
      {
        body: { type: "bounce", times: 2 },
      },
    );
    assert.deepEqual(fired.statuses, [200, 200]);
    const bounces = await sql<{ n: number }[]>`
      select count(*)::int as n from public.delivery_events e join public.deliveries d on d.id = e.delivery_id
      where d.run_id = ${run.id} and e.status = 'bounced'`;
    assert.equal(bounces[0].n, 1, "deduplicated on sg_event_id");

    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
    const { signSendGrid } = await import("../../shared/webhooks/sendgrid.ts");
    const body =
      `[{"event":"spamreport","sg_event_id":"x1","sg_message_id":"${run.provider_message_id}.f","timestamp":1}]\r\n`;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const forged = await fetch(`${gatewayUrl}/functions/v1/webhook-sendgrid?supplier=${s.supplierId}`, {
      method: "POST",
      headers: {
        "x-twilio-email-event-webhook-timestamp": timestamp,
        "x-twilio-email-event-webhook-signature": await signSendGrid(
          pair.privateKey,
          timestamp,
          new TextEncoder().encode(body),
        ),
      },
      body,
    });
    assert.equal(forged.status, 401);
    await forged.body?.cancel();
    assert.equal(await deliveryStatus(sql, run.id), "bounced");
  } finally {
    await sql.end();
  }
});

// The one email channel end to end: a SendGrid-only vendor's form link, review request and meeting
// invitation; a review request failing over from Resend to Mailgun; an unsubscribed couple's review request
// skipped with the reason while a transactional form link still reaches them; one-click unsubscribe headers.
import assert from "node:assert/strict";
import { addDays } from "../../shared/time/dates.ts";
import type { Sql } from "../helpers/db.ts";
import { connectProvider } from "../helpers/fixtures.ts";
import { calendlyScenario, runsOf as meetingRunsOf, waitRun } from "../helpers/meeting.ts";
import { emailsFor, moduleScenario, waitForRun } from "../helpers/modules.ts";
import { sim, stackDb, waitFor } from "../helpers/stack.ts";

type ProviderEmail = {
  id: string;
  to: string;
  headers: Record<string, string>;
  variables: Record<string, string>;
};

const today = () => new Date().toISOString().slice(0, 10);
const formStep = {
  module_type: "form",
  config: {
    form: {
      provider: "internal",
      form_id: "questionnaire",
      url: "https://studio.example/forms/questionnaire",
    },
    fields: { dietary: "diet" },
  },
};
const reviewStep = { module_type: "review", config: { days_after_wedding: 10 } };

async function withPlatforms(sql: Sql, supplierId: string) {
  await sql`insert into public.review_platforms (supplier_id, platform, place_id, url, position) values
    (${supplierId}::uuid, 'google', 'ChIJN1t_tDeuEmsRUsoyG83frY4', null, 1)`;
}

/** Replaces the supplier's Resend with a SendGrid account (the vendor has SendGrid only). */
async function sendGridOnly(sql: Sql, supplierId: string): Promise<void> {
  await sql`delete from public.supplier_integrations where supplier_id = ${supplierId}::uuid and provider = 'resend'`;
  const { public_key } = await sim<{ public_key: string }>("/_sim/sendgrid/public_key");
  await connectProvider(sql, supplierId, "sendgrid", {
    api_key: `SG.${crypto.randomUUID().replaceAll("-", "")}`,
    webhook_public_key: public_key,
  });
}

const sentThrough = (provider: string, runId: number) =>
  sim<ProviderEmail[]>(`/_sim/${provider}/emails?run=${runId}`);

async function callsOf(sql: Sql, runId: number): Promise<[string, number | null][]> {
  const rows = await sql<{ provider: string; http_status: number | null }[]>`
    select provider, http_status from public.integration_calls where run_id = ${runId} order by id`;
  return rows.map((r) => [r.provider, r.http_status]);
}

Deno.test("a SendGrid-only vendor's form link, review request and meeting invitation all go out through SendGrid", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [formStep], [{}]);
    await sendGridOnly(sql, s.supplierId);
    const form = await waitForRun(sql, await s.start(), s.stepIds[0], "form run", () => true);
    const [formEmail] = await waitFor(
      "the form link",
      async () =>
        (await sentThrough("sendgrid", form.id))[0] ? await sentThrough("sendgrid", form.id) : undefined,
    );
    assert.ok(formEmail, "the form link went through SendGrid");
    assert.equal(formEmail.variables.run_key, form.idempotency_key);
    assert.equal(formEmail.headers["List-Unsubscribe"], undefined, "a form link is transactional");

    const r = await moduleScenario(sql, [reviewStep], [{ wedding_date: addDays(today(), -20) }]);
    await withPlatforms(sql, r.supplierId);
    await sendGridOnly(sql, r.supplierId);
    const review = await waitForRun(
      sql,
      await r.start(),
      r.stepIds[0],
      "review sent",
      (x) => x.status === "succeeded",
    );
    const [reviewEmail] = await sentThrough("sendgrid", review.id);
    assert.ok(reviewEmail, "the review request went through SendGrid");
    assert.match(reviewEmail.headers["List-Unsubscribe"] ?? "", /^<https?:\/\/.+email-unsubscribe/);
    assert.equal(reviewEmail.headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");

    const m = await calendlyScenario(sql);
    await sendGridOnly(sql, m.supplierId);
    const instanceId = await (async () => {
      const [row] = await sql<{ id: string }[]>`
        insert into public.journey_instances (journey_id, supplier_id, client_id)
        values (${m.journeyId}::uuid, ${m.supplierId}::uuid, ${m.clientId}::uuid) returning id`;
      return row.id;
    })();
    const link = await waitRun(sql, instanceId, 0, "waiting");
    const [invite] = await sentThrough("sendgrid", link.id);
    assert.ok(invite, "the booking invitation went through SendGrid");
    assert.equal((await meetingRunsOf(sql, instanceId))[0].status, "waiting");
    for (const id of [form.id, review.id, link.id]) {
      assert.deepEqual((await callsOf(sql, id)).filter(([p]) => p !== "calendly"), [["sendgrid", 202]]);
      assert.equal((await emailsFor(id)).length, 0, "nothing went through Resend");
    }
  } finally {
    await sql.end();
  }
});

Deno.test("a review request fails over from a failing Resend to Mailgun within one attempt", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [reviewStep], [{ wedding_date: addDays(today(), -20) }]);
    await withPlatforms(sql, s.supplierId);
    const apiKey = `key-${crypto.randomUUID().replaceAll("-", "")}`;
    await connectProvider(sql, s.supplierId, "mailgun", {
      api_key: apiKey,
      webhook_signing_key: crypto.randomUUID(),
    }, {
      domain: "studio.example",
    }, 200);
    await sim("/_sim/faults", { body: { provider: "resend", kind: "status", status: 500, rate: 1 } });
    const run = await waitForRun(
      sql,
      await s.start(),
      s.stepIds[0],
      "review sent",
      (x) => x.status === "succeeded",
    );
    const [row] = await sql<{ provider: string; attempts: number }[]>`
      select provider, attempts from public.module_runs where id = ${run.id}`;
    assert.deepEqual([row.provider, row.attempts], ["mailgun", 1]);
    assert.deepEqual(await callsOf(sql, run.id), [["resend", 500], ["mailgun", 200]]);
    const sent = await sentThrough("mailgun", run.id);
    assert.equal(sent.length, 1, "sent once");
    assert.equal(sent[0].headers["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
    assert.equal((await emailsFor(run.id)).length, 0, "Resend took nothing");
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("a review request to an unsubscribed couple is skipped with the reason; their form link still goes out", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [reviewStep, formStep], [{ wedding_date: addDays(today(), -20) }]);
    await withPlatforms(sql, s.supplierId);
    await sql`insert into public.suppressions (supplier_id, channel, address, reason)
      select supplier_id, 'email', lower(email), 'unsubscribed' from public.clients where id = ${
      s.clientIds[0]
    }::uuid`;
    const instanceId = await s.start();
    const review = await waitForRun(
      sql,
      instanceId,
      s.stepIds[0],
      "review skipped",
      (x) => x.status === "skipped",
    );
    assert.equal(review.last_error?.code, "suppressed");
    assert.match(
      review.last_error!.message,
      /suppression list since \d{4}-\d\d-\d\d \(the recipient unsubscribed\)/,
    );
    assert.deepEqual(await callsOf(sql, review.id), [], "no provider was called");
    const form = await waitForRun(sql, instanceId, s.stepIds[1], "form run", () => true);
    const [email] = await waitFor(
      "the form link",
      async () => (await emailsFor(form.id))[0] ? await emailsFor(form.id) : undefined,
    );
    assert.ok(email, "a transactional form link is not stopped by an unsubscribe");
  } finally {
    await sql.end();
  }
});

Deno.test("a bounced address stops transactional email too", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [formStep], [{}]);
    await sql`insert into public.suppressions (supplier_id, channel, address, reason)
      select supplier_id, 'email', lower(email), 'bounced' from public.clients where id = ${
      s.clientIds[0]
    }::uuid`;
    const form = await waitForRun(
      sql,
      await s.start(),
      s.stepIds[0],
      "skipped",
      (x) => x.status === "skipped",
    );
    assert.equal(form.last_error?.code, "suppressed");
    assert.match(form.last_error!.message, /bounced/);
  } finally {
    await sql.end();
  }
});

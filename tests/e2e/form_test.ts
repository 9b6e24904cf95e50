// The form module end to end: signed form links, the internal endpoint, Typeform (signature, vector
// scheme, tampering, redelivery) and Jotform (URL token, re-fetch) submissions, reminders with the SMS
// escalation skipped for a couple without a number, reminders stopping once the form is submitted, and blocking steps.
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { gatewayUrl } from "../../stack/config.ts";
import { signTypeform } from "../../shared/webhooks/typeform.ts";
import type { Sql } from "../helpers/db.ts";
import {
  drainNow,
  emailsFor,
  linkIn,
  moduleScenario,
  runsOf,
  statusOf,
  waitForRun,
} from "../helpers/modules.ts";
import { sim, stackDb, supabase, waitFor } from "../helpers/stack.ts";

const internalForm = (extra: Record<string, unknown> = {}) => ({
  module_type: "form",
  config: {
    form: {
      provider: "internal",
      form_id: "questionnaire",
      url: "https://studio.example/forms/questionnaire",
    },
    fields: { dietary: "diet", guests: "guest_count" },
    ...extra,
  },
});
const infoStep = {
  module_type: "info",
  config: { title: "Next steps", content: { format: "text", body: "Thank you!" }, display_in: ["dashboard"] },
};

async function formRequest(sql: Sql, runId: number) {
  const [row] = await sql<{ id: string; status: string; answers: Record<string, unknown> | null }[]>`
    select id::text, status, answers from public.form_requests where run_id = ${runId}`;
  return row;
}

async function currentStep(sql: Sql, instanceId: string): Promise<string | null> {
  const [row] = await sql<{ s: string | null }[]>`
    select current_step_id::text as s from public.journey_instances where id = ${instanceId}::uuid`;
  return row.s;
}

function tokenOf(link: string): string {
  const m = /journey_token=([^&#]+)/.exec(link);
  if (!m) throw new Error(`no journey_token in ${link}`);
  return decodeURIComponent(m[1]);
}

function tamper(token: string): string {
  const [h, p, s] = token.split(".");
  const claims = JSON.parse(atob(p.replaceAll("-", "+").replaceAll("_", "/")));
  claims.run = Number(claims.run) + 1;
  const forged = btoa(JSON.stringify(claims)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
  return `${h}.${forged}.${s}`;
}

Deno.test("module-form sends a signed link and an internal submission stores only mapped answers and releases a blocking step", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [internalForm({ block_progress: true }), infoStep], [
      { couple_name: "Zoë & Sam", email: "zoe.sam@example.com" },
    ]);
    const instanceId = await s.start();
    const run = await waitForRun(
      sql,
      instanceId,
      s.stepIds[0],
      "the form to be sent",
      (r) => r.result !== null,
    );
    assert.equal(run.status, "waiting", "a blocking form run waits for the submission");
    assert.equal(await currentStep(sql, instanceId), s.stepIds[0], "the journey waits at the form");

    const [email] = await emailsFor(run.id);
    assert.equal(email.idempotency_key, run.idempotency_key);
    const link = linkIn(email, "studio.example/forms/questionnaire");
    assert.doesNotMatch(link, /zoe|sam|example\.com%40|@/i, "no personal data in the link");
    const token = tokenOf(link);
    const claims = decodeJwt(token);
    assert.deepEqual(Object.keys(claims).sort(), ["aud", "cpl", "exp", "iat", "iss", "run", "sub"]);
    assert.equal(claims.run, run.id);
    assert.equal(claims.sub, (await formRequest(sql, run.id)).id);

    const app = await supabase();
    const submit = (t: string, answers: Record<string, unknown>) =>
      statusOf(app.functions.invoke("form-submissions", { body: { journey_token: t, answers } }));
    const tampered = await submit(tamper(token), { diet: "vegan" });
    assert.equal(tampered.status, 400);
    assert.equal((tampered.body.error as { code: string }).code, "invalid_link");
    assert.equal((await formRequest(sql, run.id)).status, "open", "a tampered token records nothing");

    const page = await fetch(`${gatewayUrl}/functions/v1/form-submissions?journey_token=${token}`, {
      headers: {
        authorization: `Bearer ${(await import("../../stack/keys.ts").then((k) => k.localKeys())).anonKey}`,
      },
    });
    assert.equal(page.status, 200);
    assert.deepEqual((await page.json()).fields.sort(), ["diet", "guest_count"]);

    const ok = await submit(token, { diet: "vegan", guest_count: 120, home_address: "1 Secret Lane" });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.status, "submitted");
    const done = await waitForRun(
      sql,
      instanceId,
      s.stepIds[0],
      "the form run to succeed",
      (r) => r.status === "succeeded",
    );
    assert.equal(done.result?.form_request_id, claims.sub);
    assert.deepEqual((await formRequest(sql, run.id)).answers, { dietary: "vegan", guests: 120 });
    await waitFor(
      "the journey to move on",
      async () => (await currentStep(sql, instanceId)) !== s.stepIds[0],
    );

    const again = await submit(token, { diet: "vegetarian" });
    assert.equal(again.status, 409);
    assert.deepEqual((await formRequest(sql, run.id)).answers, { dietary: "vegan", guests: 120 });
  } finally {
    await sql.end();
  }
});

Deno.test("module-form reminds on schedule, skips the SMS escalation with its reason, and stops once the form is submitted", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [
      internalForm({
        reminder_time: "00:00",
        reminders: [{ after_days: 1, channel: "email" }, { after_days: 2, channel: "sms" }, {
          after_days: 3,
        }],
      }),
      infoStep,
    ], [{ time_zone: "UTC" }]);
    const instanceId = await s.start();
    const run = await waitForRun(
      sql,
      instanceId,
      s.stepIds[0],
      "the form to be sent",
      (r) => r.result !== null,
    );
    await waitFor(
      "a non-blocking form to let the journey go on",
      async () => (await currentStep(sql, instanceId)) !== s.stepIds[0],
    );
    const request = await formRequest(sql, run.id);
    // Reminders fall at 00:00 UTC on day 1, 2, 3 after the send: move the send back a day at a time.
    const sendDaysAgo = (days: number) =>
      sql`update public.form_requests
        set sent_at = date_trunc('day', now()) - make_interval(days => ${days}) + interval '30 minutes'
        where id = ${request.id}::uuid`;
    const reminders = async () => [
      ...await sql<{ position: number; channel: string; status: string; reason: string | null }[]>`
        select position, channel, status, reason from public.form_reminders
        where request_id = ${request.id}::uuid order by position`,
    ];

    await sendDaysAgo(1);
    await drainNow(sql, "form", run.id);
    assert.deepEqual(await reminders(), [{ position: 1, channel: "email", status: "sent", reason: null }]);
    const [afterFirst] = (await runsOf(sql, instanceId)).filter((r) => r.id === run.id);
    assert.equal(afterFirst.status, "waiting");
    assert.ok(afterFirst.run_at.getTime() > Date.now(), "the run waits for the next reminder");
    const emails = await emailsFor(run.id);
    assert.equal(emails.length, 2);
    assert.ok(emails.some((e) => e.idempotency_key === `${run.idempotency_key}:reminder:1`));
    assert.match(emails.find((e) => e.idempotency_key?.endsWith(":reminder:1"))!.subject, /^Reminder/);

    await sendDaysAgo(2);
    await drainNow(sql, "form", run.id);
    assert.deepEqual((await reminders())[1], {
      position: 2,
      channel: "sms",
      status: "skipped",
      reason: "The couple has no phone number",
    });

    const token = tokenOf(linkIn(emails[0], "journey_token"));
    const submitted = await statusOf((await supabase()).functions.invoke("form-submissions", {
      body: { journey_token: token, answers: { diet: "none" } },
    }));
    assert.equal(submitted.status, 200);
    await waitForRun(
      sql,
      instanceId,
      s.stepIds[0],
      "the run to finish after the submission",
      (r) => r.status === "succeeded",
    );
    await sendDaysAgo(5);
    await drainNow(sql, "form");
    assert.equal((await reminders()).length, 2, "no reminder after the submission");
    assert.equal((await emailsFor(run.id)).length, 2);
  } finally {
    await sql.end();
  }
});

Deno.test("webhook-typeform completes the form from a signed response, refuses forged or tampered ones, and deduplicates redelivery", async () => {
  const sql = stackDb();
  try {
    const s = await moduleScenario(sql, [{
      module_type: "form",
      config: {
        form: { provider: "typeform", form_id: "Ab12Cd34" },
        fields: { dietary: "diet_ref", shuttle: "shuttle_ref" },
        block_progress: true,
      },
    }, infoStep]);
    const secret = `tf_${crypto.randomUUID()}`;
    await sql`insert into public.supplier_integrations (supplier_id, provider, secret_id)
      values (${s.supplierId}::uuid, 'typeform', vault.create_secret(${
      JSON.stringify({ webhook_secret: secret })
    }))`;
    const instanceId = await s.start();
    const run = await waitForRun(
      sql,
      instanceId,
      s.stepIds[0],
      "the form to be sent",
      (r) => r.result !== null,
    );
    const [email] = await emailsFor(run.id);
    const link = linkIn(email, "form.typeform.com/to/Ab12Cd34#journey_token=");
    const token = tokenOf(link);

    const payload = (t: string, eventId = `01HX${crypto.randomUUID()}`) =>
      JSON.stringify({
        event_id: eventId,
        event_type: "form_response",
        form_response: {
          form_id: "Ab12Cd34",
          token: "resp123",
          submitted_at: new Date().toISOString(),
          hidden: { journey_token: t },
          answers: [
            { type: "text", text: "vegan", field: { id: "f1", ref: "diet_ref", type: "short_text" } },
            {
              type: "choice",
              choice: { label: "Yes" },
              field: { id: "f2", ref: "shuttle_ref", type: "multiple_choice" },
            },
            {
              type: "email",
              email: "private@example.com",
              field: { id: "f3", ref: "not_mapped", type: "email" },
            },
          ],
        },
      });
    const url = `${gatewayUrl}/functions/v1/webhook-typeform?supplier=${s.supplierId}`;
    const post = async (body: string, signature: string | null) => {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(signature ? { "typeform-signature": signature } : {}),
        },
        body,
      });
      return { status: res.status, body: await res.json() };
    };
    const body = payload(token);
    assert.equal((await post(body, null)).status, 401);
    assert.equal((await post(body, await signTypeform("wrong-secret", body))).status, 401);
    assert.equal((await post(body.replace("vegan", "meat"), await signTypeform(secret, body))).status, 401);
    const forgedToken = payload(tamper(token));
    assert.equal((await post(forgedToken, await signTypeform(secret, forgedToken))).status, 400);
    assert.equal((await formRequest(sql, run.id)).status, "open", "nothing recorded for refused webhooks");

    const first = await post(body, await signTypeform(secret, body));
    assert.equal(first.status, 200);
    assert.equal(first.body.result, "submitted");
    const redelivered = await post(body, await signTypeform(secret, body));
    assert.equal(redelivered.body.result, "duplicate");
    assert.deepEqual((await formRequest(sql, run.id)).answers, { dietary: "vegan", shuttle: "Yes" });
    await waitForRun(
      sql,
      instanceId,
      s.stepIds[0],
      "the blocking form to complete",
      (r) => r.status === "succeeded",
    );
  } finally {
    await sql.end();
  }
});

Deno.test("webhook-jotform trusts a submission only once it is re-fetched from Jotform's API", async () => {
  const sql = stackDb();
  try {
    const formId = "241234567890";
    const s = await moduleScenario(sql, [{
      module_type: "form",
      config: { form: { provider: "jotform", form_id: formId }, fields: { dietary: "dietary" } },
    }]);
    const apiKey = `jf_${crypto.randomUUID().replaceAll("-", "")}`;
    const webhookToken = crypto.randomUUID().replaceAll("-", "");
    await sql`insert into public.supplier_integrations (supplier_id, provider, secret_id)
      values (${s.supplierId}::uuid, 'jotform',
        vault.create_secret(${JSON.stringify({ api_key: apiKey, webhook_token: webhookToken })}))`;
    const instanceId = await s.start();
    const run = await waitForRun(
      sql,
      instanceId,
      s.stepIds[0],
      "the form to be sent",
      (r) => r.result !== null,
    );
    const token = tokenOf(linkIn((await emailsFor(run.id))[0], `form.jotform.com/${formId}?journey_token=`));
    const hookUrl =
      `${gatewayUrl}/functions/v1/webhook-jotform?supplier=${s.supplierId}&token=${webhookToken}`;

    const forged = new FormData();
    forged.set("formID", formId);
    forged.set("submissionID", "999999999");
    forged.set("rawRequest", JSON.stringify({ q3_journey_token: token, q4_dietary: "forged" }));
    const wrongToken = await fetch(hookUrl.replace(webhookToken, "guess"), { method: "POST", body: forged });
    assert.equal(wrongToken.status, 401);
    await wrongToken.body?.cancel();
    const unconfirmed = await fetch(hookUrl, { method: "POST", body: forged });
    assert.equal(unconfirmed.status, 422, "a submission Jotform does not know is refused");
    await unconfirmed.body?.cancel();
    assert.equal((await formRequest(sql, run.id)).status, "open");

    const registered = await fetch(
      `${(await import("../../stack/config.ts")).simulatorUrl}/jotform/form/${formId}/webhooks`,
      {
        method: "POST",
        headers: { APIKEY: apiKey, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ webhookURL: hookUrl }),
      },
    );
    assert.equal(registered.status, 200);
    await registered.body?.cancel();
    const submitted = await sim<{ statuses: number[] }>("/_sim/jotform/submissions", {
      body: {
        api_key: apiKey,
        form_id: formId,
        answers: {
          "3": { name: "journey_token", answer: token },
          "4": { name: "dietary", answer: "vegetarian", text: "Dietary needs" },
          "5": { name: "phone", answer: "+447700900123" },
        },
      },
    });
    assert.deepEqual(submitted.statuses, [200]);
    const request = await formRequest(sql, run.id);
    assert.equal(request.status, "submitted");
    assert.deepEqual(request.answers, { dietary: "vegetarian" });
    const lookups = await sim<{ path: string; headers: Record<string, string> }[]>(
      "/_sim/requests?provider=jotform",
    );
    assert.ok(lookups.some((r) => r.path.startsWith("/submission/")), "the submission was re-fetched");
  } finally {
    await sql.end();
  }
});

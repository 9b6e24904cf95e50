// The journey builder's email tools over HTTP as a signed-in user: preview (exactly what would be sent,
// nothing sent) and config validation (field-level errors), and bad input answered 4xx with the reason.
import assert from "node:assert/strict";
import { FunctionsHttpError } from "@supabase/functions-js";
import type { Sql } from "../helpers/db.ts";
import { connectProvider, createClient, createTemplate, emailScenario } from "../helpers/fixtures.ts";
import { sim, stackDb, supabase, userJwt } from "../helpers/stack.ts";

type FieldError = { path: string; message: string };

async function member(sql: Sql, supplierId: string) {
  const userId = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${userId}::uuid, ${`${userId}@studio.example`})`;
  await sql`insert into public.supplier_members (supplier_id, user_id) values (${supplierId}::uuid, ${userId}::uuid)`;
  return await supabase(await userJwt(userId));
}

async function failure(result: { error: unknown }) {
  assert.ok(result.error instanceof FunctionsHttpError, `expected an HTTP error, got ${result.error}`);
  const res = result.error.context as Response;
  return { status: res.status, body: await res.json() };
}

Deno.test("email-preview renders a step for a couple in the supplier's branding without sending", async () => {
  const sql = stackDb();
  try {
    const s = await emailScenario(sql, { client: { couple_name: "Zoë & <Sam>", locale: "fr-FR" } });
    await sql`update public.suppliers set brand = ${
      JSON.stringify({ primary_color: "#B8860B", logo_url: "https://cdn.example/logo.png?a=1&b=2" })
    }::text::jsonb where id = ${s.supplierId}::uuid`;
    const app = await member(sql, s.supplierId);
    const sentBefore = (await sim<unknown[]>("/_sim/requests")).length;

    const { data, error } = await app.functions.invoke("email-preview", {
      body: { client_id: s.clientId, step_id: s.stepIds[0] },
    });
    assert.equal(error, null);
    assert.equal(data.subject, "Welcome Zoë & <Sam>");
    assert.match(data.html, /Hello Zoë &amp; &lt;Sam&gt;, see you at The Old Barn on 12 juin 2027\./);
    assert.match(data.html, /<img src="https:\/\/cdn\.example\/logo\.png\?a=1&amp;b=2"/);
    assert.match(data.html, /border-top:4px solid #b8860b/);
    assert.match(data.text, /Unsubscribe: /);
    assert.equal((await sim<unknown[]>("/_sim/requests")).length, sentBefore, "nothing was sent");
    const [runs] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.module_runs where supplier_id = ${s.supplierId}::uuid`;
    assert.equal(runs.n, 0);

    // Unsafe brand values never reach the markup.
    await sql`update public.suppliers set brand = ${
      JSON.stringify({ primary_color: "red;background:url(x)", logo_url: "javascript:alert(1)" })
    }::text::jsonb where id = ${s.supplierId}::uuid`;
    const unsafe = await app.functions.invoke("email-preview", {
      body: { client_id: s.clientId, config: { template: "welcome" } },
    });
    assert.equal(unsafe.error, null);
    assert.doesNotMatch(unsafe.data.html, /javascript:|url\(x\)|<img/);

    const noVenue = await createClient(sql, s.supplierId, { venue: null, wedding_date: null });
    const missing = await failure(
      await app.functions.invoke("email-preview", { body: { client_id: noVenue, step_id: s.stepIds[0] } }),
    );
    assert.equal(missing.status, 422);
    assert.equal(missing.body.error.code, "missing_merge_tags");
    assert.deepEqual(missing.body.error.details.missing, ["venue", "wedding_date"]);
  } finally {
    await sql.end();
  }
});

Deno.test("email-preview answers bad input with a 4xx and the reason", async () => {
  const sql = stackDb();
  try {
    const s = await emailScenario(sql);
    const app = await member(sql, s.supplierId);
    const both = await failure(
      await app.functions.invoke("email-preview", {
        body: { client_id: s.clientId, step_id: s.stepIds[0], config: { template: "welcome" } },
      }),
    );
    assert.equal(both.status, 422);
    assert.match(both.body.error.message, /either step_id or config/);
    const badConfig = await failure(
      await app.functions.invoke("email-preview", {
        body: { client_id: s.clientId, config: { template: "Welcome!", send_time: "local_time" } },
      }),
    );
    assert.equal(badConfig.status, 422);
    assert.deepEqual(badConfig.body.error.details.map((d: FieldError) => d.path).sort(), [
      "local_time",
      "template",
    ]);
    const noTemplate = await failure(
      await app.functions.invoke("email-preview", {
        body: { client_id: s.clientId, config: { template: "nope" } },
      }),
    );
    assert.equal(noTemplate.status, 422);
    assert.equal(noTemplate.body.error.code, "template_not_found");
    const other = await emailScenario(sql);
    const foreign = await failure(
      await app.functions.invoke("email-preview", {
        body: { client_id: other.clientId, step_id: other.stepIds[0] },
      }),
    );
    assert.equal(foreign.status, 404, "another supplier's couple is invisible");
  } finally {
    await sql.end();
  }
});

Deno.test("email-validate lists field-level errors: template, providers, sender domain, merge tags", async () => {
  const sql = stackDb();
  try {
    const s = await emailScenario(sql);
    const app = await member(sql, s.supplierId);
    const validate = async (body: Record<string, unknown>) => {
      const { data, error } = await app.functions.invoke("email-validate", {
        body: { supplier_id: s.supplierId, ...body },
      });
      assert.equal(error, null);
      return data as { valid: boolean; errors: FieldError[]; warnings: FieldError[] };
    };

    const nothing = await validate({ config: { template: "missing", send_time: "at noon" } });
    assert.equal(nothing.valid, false);
    assert.deepEqual(nothing.errors.map((e) => e.path).sort(), ["config.send_time", "providers"]);

    await connectProvider(sql, s.supplierId, "sendgrid", { api_key: "SG.x", webhook_public_key: "k" }, {});
    await connectProvider(sql, s.supplierId, "mailgun", { api_key: "key-x" }, { domain: "other.example" });
    await createTemplate(sql, s.supplierId, "typo", {
      subject: "Hi {{coupel_name}}",
      html: "<p>{{custom.colour}}</p>",
    });
    const problems = await validate({ config: { template: "typo" } });
    assert.equal(problems.valid, false);
    assert.deepEqual(problems.errors.map((e) => e.path).sort(), [
      "config.template",
      "providers.mailgun.settings.domain",
      "providers.sendgrid.settings.sender_domains",
    ]);
    assert.match(
      problems.errors.find((e) => e.path === "config.template")!.message,
      /unknown merge tag \{\{coupel_name\}\}/,
    );
    assert.deepEqual(problems.warnings.map((w) => w.path), ["config.custom"]);

    await sql`update public.supplier_integrations set settings = case provider
        when 'sendgrid' then '{"sender_domains": ["studio.example"]}'::jsonb
        else '{"domain": "studio.example", "region": "eu"}'::jsonb end
      where supplier_id = ${s.supplierId}::uuid`;
    const ok = await validate({
      config: { template: "welcome", send_time: "local_time", local_time: "09:30" },
    });
    assert.deepEqual(ok.errors, []);
    assert.equal(ok.valid, true);

    const noVenue = await createClient(sql, s.supplierId, { venue: null, wedding_date: "2027-06-12" });
    const forCouple = await validate({ config: { template: "welcome" }, client_id: noVenue });
    assert.deepEqual(forCouple.errors.map((e) => e.path), ["client.venue"]);

    const other = await emailScenario(sql);
    const foreign = await failure(
      await app.functions.invoke("email-validate", { body: { supplier_id: other.supplierId, config: {} } }),
    );
    assert.equal(foreign.status, 404);
    const malformed = await failure(
      await app.functions.invoke("email-validate", { body: { supplier_id: "nope", config: {} } }),
    );
    assert.equal(malformed.status, 422);
    assert.equal(malformed.body.error.details[0].path, "supplier_id");
  } finally {
    await sql.end();
  }
});

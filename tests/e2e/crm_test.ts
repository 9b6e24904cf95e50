// The CRM sync end to end on the local stack: journey events → crm runs → crm-sync → Tave simulator and
// signed webhooks to catch hooks; inbound changes through crm-inbound; CSV through crm-csv.
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { gatewayUrl, simulatorUrl } from "../../stack/config.ts";
import type { Sql } from "../helpers/db.ts";
import {
  connectIntegration,
  crmDeliveries,
  type CrmDelivery,
  newTaveStudio,
  type TaveStudio,
} from "../helpers/crm.ts";
import { createClient, createJourney, createSupplier, startJourney } from "../helpers/fixtures.ts";
import { invokeToken, newSvixSecret, sim, stackDb, supabase, userJwt, waitFor } from "../helpers/stack.ts";

type Studio = {
  contacts: Record<string, unknown>[];
  jobs: Record<string, unknown>[];
  notes: { jobId: string; contentHtml: string }[];
  leads: Record<string, string>[];
};

const TAVE_SETTINGS = {
  job_type: "Wedding",
  source: "Journeys",
  field_map: { couple_name: "FirstName", email: "Email", wedding_date: "EventDate" },
  stages: { "journey.started": "booked", "journey.completed": "completed" },
};

async function studioOf(s: TaveStudio): Promise<Studio> {
  return await sim<Studio>(`/_sim/tave/studios/${s.studio_id}`);
}

/** Drains crm-sync now, as a kick would. */
async function drainCrm(sql: Sql): Promise<void> {
  const client = await supabase();
  const { error } = await client.functions.invoke("crm-sync", {
    body: { action: "drain", wait: true },
    headers: { Authorization: `Bearer ${await invokeToken(sql)}` },
  });
  assert.equal(error, null);
}

/** Drains until the couple's delivery log satisfies `done` (runs deferred for ordering become due meanwhile). */
async function settle(sql: Sql, clientId: string, what: string, done: (log: CrmDelivery[]) => boolean) {
  return await waitFor(what, async () => {
    const log = await crmDeliveries(sql, clientId);
    if (done(log)) return log;
    await drainCrm(sql);
    return undefined;
  }, 30_000);
}

const finished = (log: CrmDelivery[], n: number) =>
  log.length === n && log.every((d) => d.status === "succeeded" || d.status === "skipped");

/** A supplier with a Tave studio in the simulator and a one-step journey (a form step nothing executes). */
async function taveScenario(sql: Sql, client: Parameters<typeof createClient>[2] = {}) {
  const supplierId = await createSupplier(sql);
  const studio = newTaveStudio();
  await sim("/_sim/config", { body: { provider: "tave", ...studio } });
  await connectIntegration(sql, supplierId, "tave", TAVE_SETTINGS, studio);
  const { journeyId, stepIds } = await createJourney(sql, supplierId, [{ module_type: "form", config: {} }]);
  const clientId = await createClient(sql, supplierId, {
    couple_name: "Alex & Sam",
    email: `alex.sam.${crypto.randomUUID().slice(0, 8)}@example.com`,
    wedding_date: "2027-06-12",
    ...client,
  });
  await sql`update public.clients set phone = '+447700900123' where id = ${clientId}::uuid`;
  return { supplierId, studio, journeyId, stepIds, clientId };
}

async function completeStep(sql: Sql, instanceId: string, stepId: string): Promise<void> {
  await sql`select public.advance_instances(${
    JSON.stringify([{ instance_id: instanceId, step_id: stepId }])
  }::text::jsonb)`;
}

Deno.test("crm-sync creates one Tave lead with only the mapped fields, then moves its job and adds notes", async () => {
  const sql = stackDb();
  try {
    const s = await taveScenario(sql);
    const [{ email }] = await sql<
      { email: string }[]
    >`select email from public.clients where id = ${s.clientId}::uuid`;
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    await settle(sql, s.clientId, "journey.started synced", (log) => finished(log, 1));

    let studio = await studioOf(s.studio);
    assert.equal(studio.leads.length, 1);
    assert.deepEqual(studio.leads[0], {
      FirstName: "Alex & Sam",
      Email: email,
      EventDate: "2027-06-12",
      JobType: "Wedding",
      Source: "Journeys",
    }, "the phone and the venue are not mapped, so they never leave the platform");
    assert.equal(studio.jobs.length, 1);
    assert.equal(studio.jobs[0].stage, "booked", "journey.started moved the job to its configured stage");
    const [link] = await sql<{ contact_id: string; job_id: string; lead_job_id: string }[]>`
      select contact_id, job_id, lead_job_id from public.crm_links where client_id = ${s.clientId}::uuid`;
    assert.equal(link.contact_id, studio.contacts[0].id);
    assert.equal(link.job_id, studio.jobs[0].id);

    await completeStep(sql, instanceId, s.stepIds[0]);
    const log = await settle(sql, s.clientId, "step and journey completion synced", (l) => finished(l, 3));
    assert.deepEqual(log.map((d) => d.event_type), [
      "journey.started",
      "step.completed",
      "journey.completed",
    ]);
    studio = await studioOf(s.studio);
    assert.equal(studio.leads.length, 1, "later events reuse the lead: no second one");
    assert.equal(studio.jobs[0].stage, "completed");
    assert.equal(studio.notes.length, 2);
    assert.match(studio.notes[0].contentHtml, /step 1 \(form\) completed/);
    assert.deepEqual(studio.notes.map((n) => n.jobId), [link.job_id, link.job_id]);
  } finally {
    await sql.end();
  }
});

Deno.test("crm-sync links a contact already in Tave (found by email, any case) instead of creating a lead", async () => {
  const sql = stackDb();
  try {
    const s = await taveScenario(sql);
    const [{ email }] = await sql<
      { email: string }[]
    >`select email from public.clients where id = ${s.clientId}::uuid`;
    const existing = await sim<{ contact_id: string; job_id: string }>(
      `/_sim/tave/studios/${s.studio.studio_id}/contacts`,
      { body: { email: email.toUpperCase(), firstName: "Alex" } },
    );
    await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const [run] = await settle(sql, s.clientId, "journey.started synced", (log) => finished(log, 1));
    assert.equal(run.status, "succeeded");

    const studio = await studioOf(s.studio);
    assert.equal(studio.leads.length, 0, "no duplicate contact: the lead API was not called");
    assert.equal(studio.contacts.length, 1);
    assert.equal(studio.jobs.find((j) => j.id === existing.job_id)?.stage, "booked");
    const [link] = await sql<{ contact_id: string; job_id: string; lead_job_id: string | null }[]>`
      select contact_id, job_id, lead_job_id from public.crm_links where client_id = ${s.clientId}::uuid`;
    assert.deepEqual(link, { contact_id: existing.contact_id, job_id: existing.job_id, lead_job_id: null });
  } finally {
    await sql.end();
  }
});

Deno.test("crm-sync takes the studio's Tave requests from its bucket: a spent bucket defers the sync (rate_limited) without calling Tave", async () => {
  const sql = stackDb();
  try {
    const s = await taveScenario(sql);
    // Another instance's burst has left the studio's bucket 10 s in debt (2 requests/s).
    await sql`insert into public.rate_limits (provider, account, scope, tokens, per_second, updated_at)
      select 'tave', id::text, '', -20, 2, clock_timestamp() from public.supplier_integrations
      where supplier_id = ${s.supplierId}::uuid and provider = 'tave'`;
    await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const [first] = await settle(
      sql,
      s.clientId,
      "the deferral",
      (log) => log[0]?.status === "pending" && log[0]?.last_error?.code === "rate_limited",
    );
    assert.equal(first.attempts, 0, "a rate-limit deferral uses no attempt");
    assert.deepEqual(first.calls, [], "Tave is not called while the bucket is spent");
    assert.match(first.last_error!.message, /Tave request rate/);
    assert.equal((await studioOf(s.studio)).leads.length, 0);

    await sql`update public.rate_limits r set tokens = 20 from public.supplier_integrations si
      where si.id::text = r.account and r.provider = 'tave' and si.supplier_id = ${s.supplierId}::uuid`;
    await sql`update public.module_runs set run_at = now() where id = ${first.run_id}`;
    const [done] = await settle(sql, s.clientId, "the sync", (log) => finished(log, 1));
    assert.equal(done.attempts, 1);
    assert.equal((await studioOf(s.studio)).leads.length, 1);
  } finally {
    await sql.end();
  }
});

Deno.test("crm-sync defers on Tave's 429 (rate_limited, no attempt used), puts the studio's bucket in debt, then syncs once", async () => {
  const sql = stackDb();
  try {
    const s = await taveScenario(sql);
    await sim("/_sim/faults", {
      body: {
        provider: "tave",
        kind: "status",
        status: 429,
        retry_after_s: 30,
        count: 1,
        path: "/api/v2/address-book",
      },
    });
    const before = new Date();
    await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const [first] = await settle(
      sql,
      s.clientId,
      "the first attempt",
      (log) => log[0]?.calls.length > 0 && log[0]?.status !== "running",
    );
    assert.equal(first.status, "pending");
    assert.equal(first.attempts, 0, "a rate-limit deferral uses no attempt");
    assert.deepEqual(first.calls.map((c) => [c.http_status, c.outcome]), [[429, "deferred"]]);
    // The 429 came after `before`: the run may not be due before Retry-After counted from then.
    const [{ wait }] = await sql<{ wait: number }[]>`
      select extract(epoch from run_at - ${before}::timestamptz)::float8 as wait
      from public.module_runs where id = ${first.run_id}`;
    assert.ok(wait >= 30, `the run is not due before Retry-After (${wait} s after the journey started)`);
    const [bucket] = await sql<{ tokens: number }[]>`
      select r.tokens from public.rate_limits r join public.supplier_integrations si on si.id::text = r.account
      where r.provider = 'tave' and si.supplier_id = ${s.supplierId}::uuid`;
    assert.ok(bucket.tokens <= -30 * 2, `the studio's bucket owes Retry-After (${bucket.tokens} tokens)`);

    // Retry-After has passed: the bucket has refilled and the run is due.
    await sql`update public.rate_limits r set tokens = 20 from public.supplier_integrations si
      where si.id::text = r.account and r.provider = 'tave' and si.supplier_id = ${s.supplierId}::uuid`;
    await sql`update public.module_runs set run_at = now() where id = ${first.run_id}`;
    const [done] = await settle(sql, s.clientId, "the retry", (log) => finished(log, 1));
    assert.equal(done.attempts, 1);
    assert.deepEqual(done.calls.map((c) => c.http_status).slice(0, 2), [429, 200]);
    assert.equal((await studioOf(s.studio)).leads.length, 1);
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("crm-sync webhooks verify with the Standard Webhooks library and a failed delivery is retried with the same id", async () => {
  const sql = stackDb();
  try {
    const supplierId = await createSupplier(sql);
    const secret = newSvixSecret();
    const hook = `/${crypto.randomUUID()}`;
    await connectIntegration(sql, supplierId, "crm_webhooks", {
      crm: "honeybook",
      url: `${simulatorUrl}/hooks${hook}`,
      field_map: { couple_name: "names", wedding_date: "event_date" },
    }, { signing_secret: secret });
    const { journeyId } = await createJourney(sql, supplierId, [{ module_type: "form", config: {} }]);
    const clientId = await createClient(sql, supplierId, {
      couple_name: "Zoë & Sam",
      wedding_date: "2027-06-12",
    });
    await sim("/_sim/faults", {
      body: { provider: "hooks", kind: "status", status: 503, count: 1, path: hook },
    });
    const instanceId = await startJourney(sql, supplierId, journeyId, clientId);

    const [first] = await settle(
      sql,
      clientId,
      "the first attempt",
      (log) => log[0]?.attempts === 1 && log[0]?.status !== "running",
    );
    assert.equal(first.status, "pending", "a 503 is retried with backoff");
    await sql`update public.module_runs set run_at = now() where id = ${first.run_id}`;
    const [done] = await settle(sql, clientId, "the delivery", (log) => finished(log, 1));
    assert.deepEqual(done.calls.map((c) => c.http_status), [503, 200]);

    const attempts =
      (await sim<{ path: string; headers: Record<string, string> }[]>("/_sim/requests?provider=hooks"))
        .filter((r) => r.path === hook);
    assert.equal(attempts.length, 2);
    assert.equal(attempts[0].headers["webhook-id"], attempts[1].headers["webhook-id"], "retries keep the id");

    const [received] = await sim<{ headers: Record<string, string>; raw_body: string }[]>(
      `/_sim/hooks/received?path=${encodeURIComponent(hook)}`,
    );
    const payload = new Webhook(secret).verify(received.raw_body, received.headers) as Record<
      string,
      unknown
    >;
    assert.deepEqual(payload, {
      type: "journey.started",
      version: 1,
      id: received.headers["webhook-id"],
      timestamp: (payload as { timestamp: string }).timestamp,
      data: {
        supplier_id: supplierId,
        couple: { id: clientId, names: "Zoë & Sam", event_date: "2027-06-12" },
        changes: [],
        journey: { instance_id: instanceId, journey_id: journeyId, name: "Journey", status: "active" },
        step: null,
      },
    });
    assert.throws(() => new Webhook(newSvixSecret()).verify(received.raw_body, received.headers));
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("crm-inbound re-plans wedding-anchored runs and does not echo the change back to its CRM", async () => {
  const sql = stackDb();
  try {
    const s = await taveScenario(sql);
    const inboundSecret = crypto.randomUUID();
    await connectIntegration(sql, s.supplierId, "crm_webhooks", {
      crm: "honeybook",
      url: `${simulatorUrl}/hooks/${crypto.randomUUID()}`,
      field_map: { wedding_date: "event_date", couple_name: "names" },
    }, { signing_secret: newSvixSecret(), inbound_secret: inboundSecret });
    const anchored = await createJourney(sql, s.supplierId, [{
      module_type: "form",
      config: {},
      timing: { anchor: "wedding_date", offset_days: -7, at: "10:00" },
    }]);
    await startJourney(sql, s.supplierId, anchored.journeyId, s.clientId);
    await settle(sql, s.clientId, "journey.started synced to both", (log) => finished(log, 2));
    const planned = async () =>
      (await sql<{ run_at: Date }[]>`
        select run_at from public.module_runs where step_id = ${
        anchored.stepIds[0]
      }::uuid and status = 'pending'`)[0]
        .run_at.toISOString();
    assert.equal(await planned(), "2027-06-05T09:00:00.000Z");

    const [{ url }] = await sql<
      { url: string }[]
    >`select public.crm_inbound_url(${s.supplierId}::uuid) as url`;
    const push = async (target: string, body: unknown) => {
      const res = await fetch(target, { method: "POST", body: JSON.stringify(body) });
      return { status: res.status, body: await res.json() };
    };
    const change = {
      type: "wedding_date.changed",
      id: `hb-${crypto.randomUUID()}`,
      couple: { id: s.clientId, event_date: "2027-09-04", favourite_colour: "teal" },
    };
    const forged = await push(url.replace(/token=[^&]+/, "token=forged"), change);
    assert.equal(forged.status, 401);
    assert.equal(await planned(), "2027-06-05T09:00:00.000Z", "a forged change changes nothing");

    const applied = await push(url, change);
    assert.equal(applied.status, 200);
    assert.deepEqual(applied.body, {
      result: "updated",
      client_id: s.clientId,
      ignored: ["favourite_colour"],
    });
    assert.equal(
      await planned(),
      "2027-08-28T09:00:00.000Z",
      "the anchored run follows the new wedding date",
    );
    assert.equal((await push(url, change)).body.result, "duplicate", "a repeated delivery is applied once");

    const log = await settle(sql, s.clientId, "the change synced to Tave", (l) => finished(l, 3));
    const update = log.filter((d) => d.event_type === "couple.updated");
    assert.deepEqual(
      update.map((d) => [d.target, d.origin]),
      [["tave", "honeybook"]],
      "not sent back to HoneyBook",
    );
    assert.equal((await studioOf(s.studio)).jobs[0].eventDate, "2027-09-04");

    // The same kind of change made on the platform goes to every CRM.
    await sql`update public.clients set couple_name = 'Alex & Sam Smith' where id = ${s.clientId}::uuid`;
    const after = await settle(sql, s.clientId, "the platform change synced", (l) => finished(l, 5));
    assert.deepEqual(
      after.filter((d) => d.event_type === "couple.updated" && d.origin === null).map((d) => d.target).sort(),
      ["crm_webhooks", "tave"],
    );

    const invalid = await push(url, {
      type: "wedding_date.changed",
      couple: { id: s.clientId, event_date: "04/09/2027" },
    });
    assert.equal(invalid.status, 422);
    assert.deepEqual(invalid.body.error.details.map((d: { path: string }) => d.path), [
      "couple.event_date",
      "couple",
    ]);
    const unknown = await push(url, {
      type: "couple.updated",
      couple: { id: crypto.randomUUID(), names: "X" },
    });
    assert.equal(unknown.status, 404);
  } finally {
    await sql.end();
  }
});

/** A vendor user of a fresh supplier, and a client to call crm-csv with. */
async function vendorUser(sql: Sql) {
  const supplierId = await createSupplier(sql, { time_zone: "Europe/Rome" });
  const userId = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${userId}::uuid, ${`${userId}@studio.example`})`;
  await sql`insert into public.supplier_members (supplier_id, user_id) values (${supplierId}::uuid, ${userId}::uuid)`;
  const token = await userJwt(userId);
  const call = (method: string, body?: string, query = "") =>
    fetch(`${gatewayUrl}/functions/v1/crm-csv?supplier=${supplierId}${query}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" },
      body,
    });
  return { supplierId, token, call };
}

Deno.test("crm-csv imports nothing from a file with bad rows and reports each of them", async () => {
  const sql = stackDb();
  try {
    const v = await vendorUser(sql);
    await createClient(sql, v.supplierId, { email: "taken@example.com" });
    const csv = [
      "First Name,Last Name,Email,Phone,Event Date,Timezone,Notes",
      "Alex,Smith,alex@example.com,+44 7700 900123,2027-06-12,Europe/London,likes barns",
      ",,nameless@example.com,,,,",
      "Jo,Lee,not-an-email,07700 900123,12/06/2027,Mars/Olympus,",
      "Kim,Park,taken@example.com,,2027-07-01,,",
      "Ana,Ruiz,ALEX@example.com,,,,",
    ].join("\n");
    const res = await v.call("POST", csv);
    assert.equal(res.status, 422);
    const body = await res.json();
    assert.equal(body.error.message, "4 of 5 rows have errors; nothing was imported");
    assert.deepEqual(
      body.error.details.errors.map((e: { row: number; column: string }) => `${e.row}:${e.column}`),
      ["3:couple_name", "4:email", "4:phone", "4:wedding_date", "4:time_zone", "5:email", "6:email"],
    );
    assert.deepEqual(body.error.details.ignored_columns, ["Notes"]);
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.clients where supplier_id = ${v.supplierId}::uuid`;
    assert.equal(n, 1, "only the couple that was there before");
  } finally {
    await sql.end();
  }
});

Deno.test("crm-csv imports a CRM export and exports couples with their journey status", async () => {
  const sql = stackDb();
  try {
    const v = await vendorUser(sql);
    const csv = "\uFEFFCouple Name,Email Address,Mobile Phone,Wedding Date,Venue\r\n" +
      '"Zoë & Sam",zoe@example.com,+39 333 123 4567,2027-05-20,"Villa ""Rosa"", Como"\r\n' +
      'Max & Lou,max@example.com,,2027-08-01,=HYPERLINK("x")\r\n';
    const res = await v.call("POST", csv);
    assert.equal(res.status, 201, await res.clone().text());
    assert.deepEqual(await res.json(), { imported: 2, skipped_rows: [], ignored_columns: [] });

    const [zoe] = await sql<{ id: string; phone: string; venue: string }[]>`
      select id, phone, venue from public.clients where supplier_id = ${v.supplierId}::uuid and email = 'zoe@example.com'`;
    assert.equal(zoe.phone, "+393331234567");
    assert.equal(zoe.venue, 'Villa "Rosa", Como');
    const { journeyId } = await createJourney(sql, v.supplierId, [{ module_type: "form", config: {} }]);
    await startJourney(sql, v.supplierId, journeyId, zoe.id);

    const exported = await v.call("GET");
    assert.equal(exported.status, 200);
    assert.match(exported.headers.get("content-type") ?? "", /^text\/csv/);
    const lines = (await exported.text()).trimEnd().split("\r\n");
    assert.equal(
      lines[0],
      "id,couple_name,email,phone,wedding_date,booking_date,venue,time_zone,locale,journey,journey_status," +
        "current_step,current_module,journey_started_at,journey_completed_at",
    );
    assert.equal(lines.length, 3);
    const zoeLine = lines.find((l) => l.startsWith(zoe.id)) ?? "";
    assert.match(
      zoeLine,
      new RegExp(
        `^${zoe.id},Zoë & Sam,zoe@example.com,'\\+393331234567,2027-05-20,,"Villa ""Rosa"", Como",,en,Journey,active,1,form,`,
      ),
    );
    assert.match(lines.join("\n"), /,"'=HYPERLINK\(""x""\)",/, "a formula is exported as text");

    const again = await v.call("POST", csv, "&existing=skip");
    assert.deepEqual(await again.json(), { imported: 0, skipped_rows: [2, 3], ignored_columns: [] });
    const other = await vendorUser(sql);
    const foreign = await fetch(`${gatewayUrl}/functions/v1/crm-csv?supplier=${v.supplierId}`, {
      headers: { authorization: `Bearer ${other.token}` },
    });
    assert.equal(foreign.status, 404, "another vendor's user cannot see this supplier");
    await foreign.body?.cancel();
  } finally {
    await sql.end();
  }
});

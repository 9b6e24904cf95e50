// The Tave / VSCO Workspace adapter's exact requests and its classification of Tave's answers.
import assert from "node:assert/strict";
import type { CrmContext } from "../../shared/modules/crm/context.ts";
import { leadFields } from "../../shared/modules/crm/tave_sync.ts";
import { taveSettings } from "../../shared/modules/crm/config.ts";
import { type TaveAccount, TaveClient } from "../../shared/providers/crm/tave.ts";

function account(answers: (() => Response)[], seen: Request[] = []): TaveAccount {
  return {
    studioId: "4b007MTo",
    secretKey: "sk_test",
    apiKey: "key_test",
    leadBaseUrl: "https://tave.example",
    apiBaseUrl: "https://workspace.example/api/v2",
    timeoutMs: 1000,
    fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Request(input, init));
      const next = answers.shift();
      return next ? Promise.resolve(next()) : Promise.reject(new TypeError("no answer"));
    }) as typeof fetch,
  };
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) => () =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

Deno.test("TaveClient.createLead() posts the fields with the secret key to the studio's New Lead URL", async () => {
  const seen: Request[] = [];
  const tave = new TaveClient(account([json({ Status: "Success", JobID: 123456 })], seen));
  const lead = await tave.createLead({ FirstName: "Alex & Sam", JobType: "Wedding" });
  assert.deepEqual(lead, { ok: true, value: "123456" });
  assert.equal(seen[0].url, "https://tave.example/webservice/create-lead/4b007MTo");
  assert.equal(seen[0].method, "POST");
  assert.deepEqual(await seen[0].json(), {
    SecretKey: "sk_test",
    FirstName: "Alex & Sam",
    JobType: "Wedding",
  });
  assert.equal(seen[0].headers.get("x-api-key"), null, "the v2 key is not sent to the lead API");
  assert.deepEqual(tave.calls.map((c) => [c.operation, c.http_status]), [["lead.create", 200]]);
});

Deno.test("TaveClient.createLead() fails permanently when Tave answers without a Success status", async () => {
  const tave = new TaveClient(account([json({ Status: "Error", Message: "JobType is required." })]));
  const lead = await tave.createLead({ FirstName: "A" });
  assert.equal(lead.ok, false);
  assert.equal(!lead.ok && lead.failure, "permanent");
  assert.match(!lead.ok ? lead.error.message : "", /JobType is required/);
});

Deno.test("TaveClient.createLead() reports an unknown outcome when the answer is lost", async () => {
  const lead = await new TaveClient(account([])).createLead({ FirstName: "A", JobType: "Wedding" });
  assert.equal(!lead.ok && lead.failure, "unknown");
});

Deno.test("TaveClient.findContactByEmail() sends X-API-KEY and matches the email exactly, any case", async () => {
  const seen: Request[] = [];
  const tave = new TaveClient(account([
    json({
      type: "addressbook-collection",
      items: [
        { id: "01aaa", kind: "company", email: "alex@example.com" },
        { id: "01bbb", kind: "person", email: "alex.smith@example.com" },
        { id: "01ccc", kind: "person", email: "ALEX@example.com" },
      ],
    }),
  ], seen));
  assert.deepEqual(await tave.findContactByEmail("alex@example.com"), { ok: true, value: "01ccc" });
  const url = new URL(seen[0].url);
  assert.equal(url.pathname, "/api/v2/address-book");
  assert.equal(url.searchParams.get("email"), "alex@example.com");
  assert.equal(seen[0].headers.get("x-api-key"), "key_test");
});

Deno.test("TaveClient honours Retry-After on a 429 quota-limit answer", async () => {
  const tave = new TaveClient(account([
    json({ type: "quota-limit", title: "Too Many Requests", status: 429 }, 429, { "retry-after": "42" }),
  ]));
  const found = await tave.findContactByEmail("a@example.com");
  assert.deepEqual(
    found.ok ? null : [found.failure, found.retry_after_s, found.error.message],
    ["transient", 42, "contact.find: tave answered 429: Too Many Requests"],
  );
});

Deno.test("TaveClient.updateJob() writes back the job's writable fields with the change", async () => {
  const seen: Request[] = [];
  const tave = new TaveClient(account([
    json({
      id: "01job",
      title: "Smith wedding",
      stage: "lead",
      eventDate: "2027-06-12",
      jobTypeId: "01type",
    }),
    json({ id: "01job", stage: "booked" }),
  ], seen));
  assert.deepEqual(await tave.updateJob("01job", { stage: "booked" }), { ok: true, value: undefined });
  assert.equal(seen[1].method, "PUT");
  assert.deepEqual(await seen[1].json(), { stage: "booked", eventDate: "2027-06-12", jobTypeId: "01type" });
});

Deno.test("leadFields() sends only the mapped fields, and no v2-only ones, when building a lead", () => {
  const settings = taveSettings.parse({
    job_type: "Wedding",
    brand: "Golden Hour",
    field_map: {
      couple_name: "FirstName",
      wedding_date: "EventDate",
      booking_date: "BookingDate",
      "custom.planner": "CF-892517",
    },
  });
  const ctx = {
    couple_name: "Alex & Sam",
    email: "alex@example.com",
    phone: "+447700900123",
    wedding_date: "2027-06-12",
    booking_date: "2026-11-25",
    venue: "The Old Barn",
    custom: { planner: "Jo" },
  } as unknown as CrmContext;
  assert.deepEqual(leadFields(ctx, settings), {
    JobType: "Wedding",
    Brand: "Golden Hour",
    FirstName: "Alex & Sam",
    EventDate: "2027-06-12",
    "CF-892517": "Jo",
  });
});

Deno.test("taveSettings refuses a field map without FirstName and an unknown Tave field", () => {
  const parsed = taveSettings.safeParse({
    job_type: "Wedding",
    field_map: { email: "Email", venue: "Venue" },
  });
  assert.equal(parsed.success, false);
  const messages = parsed.error!.issues.map((i) => i.message).join("; ");
  assert.match(messages, /must be one of FirstName/);
});

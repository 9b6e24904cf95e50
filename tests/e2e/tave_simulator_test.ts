// The simulated Tave / VSCO Workspace over HTTP (in-process, ephemeral port): New Lead API and API v2
// answers as documented, quota limits and injected faults.
import assert from "node:assert/strict";
import { startSimulator } from "../../stack/simulator/server.ts";

// Answers are read field by field as the documented JSON; typing every envelope would add nothing.
// deno-lint-ignore no-explicit-any
type Json = any;

const STUDIO = { provider: "tave", studio_id: "4b007MTo", secret_key: "sk_test", api_key: "key_test" };

async function withTave(
  fn: (call: (path: string, init?: RequestInit) => Promise<[number, Json, Headers]>) => Promise<void>,
) {
  const sim = await startSimulator({ port: 0 });
  const call = async (path: string, init: RequestInit = {}): Promise<[number, Json, Headers]> => {
    const res = await fetch(`${sim.url}${path}`, init);
    return [res.status, await res.json(), res.headers];
  };
  try {
    await call("/_sim/config", { method: "POST", body: JSON.stringify(STUDIO) });
    await fn(call);
  } finally {
    await sim.shutdown();
  }
}

const lead = (body: Record<string, unknown>) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});
const v2 = (key = "key_test") => ({ headers: { "x-api-key": key } });

Deno.test("the Tave simulator creates a lead, its contact and its job when FirstName and JobType are given", async () => {
  await withTave(async (call) => {
    const [status, body] = await call(
      "/tave/webservice/create-lead/4b007MTo",
      lead({ SecretKey: "sk_test", FirstName: "Alex", JobType: "Wedding", Email: "alex@example.com" }),
    );
    assert.equal(status, 200);
    assert.equal(body.Status, "Success");
    const [, contacts] = await call("/tave/api/v2/address-book?email=ALEX@example.com", v2());
    assert.equal(contacts.type, "addressbook-collection");
    assert.equal(contacts.items.length, 1);
    const [, links] = await call(`/tave/api/v2/job-contact?contactId=${contacts.items[0].id}`, v2());
    const [, job] = await call(`/tave/api/v2/job/${links.items[0].jobId}`, v2());
    assert.equal(job.stage, "lead");
    assert.deepEqual(job.externalMappings.map((m: { id: string }) => m.id), [body.JobID]);
  });
});

Deno.test("the Tave simulator refuses leads without a required field or with a wrong secret key", async () => {
  await withTave(async (call) => {
    const [missing, why] = await call(
      "/tave/webservice/create-lead/4b007MTo",
      lead({ SecretKey: "sk_test", FirstName: "Alex" }),
    );
    assert.deepEqual([missing, why], [400, { Status: "Error", Message: "JobType is required." }]);
    const [forbidden] = await call(
      "/tave/webservice/create-lead/4b007MTo",
      lead({ SecretKey: "nope", FirstName: "Alex", JobType: "Wedding" }),
    );
    assert.equal(forbidden, 403);
  });
});

Deno.test("the Tave simulator's API v2 needs X-API-KEY, validates pageSize, and limits the quota", async () => {
  await withTave(async (call) => {
    assert.equal((await call("/tave/api/v2/address-book", v2("wrong")))[0], 401);
    const [bad, problem] = await call("/tave/api/v2/address-book?pageSize=5", v2());
    assert.deepEqual([bad, problem.type, Object.keys(problem.detail)], [400, "validation-error", [
      "pageSize",
    ]]);
    await call("/_sim/config", { method: "POST", body: JSON.stringify({ ...STUDIO, rate_limit_per_s: 1 }) });
    assert.equal((await call("/tave/api/v2/address-book", v2()))[0], 200);
    const [limited, quota, headers] = await call("/tave/api/v2/address-book", v2());
    assert.deepEqual([limited, quota.type], [429, "quota-limit"]);
    assert.ok(Number(headers.get("retry-after")) >= 1);
  });
});

Deno.test("the Tave simulator answers an injected fault in its error envelope with Retry-After", async () => {
  await withTave(async (call) => {
    await call("/_sim/faults", {
      method: "POST",
      body: JSON.stringify({ provider: "tave", kind: "status", status: 503, retry_after_s: 9, count: 1 }),
    });
    const [status, body, headers] = await call("/tave/api/v2/job", v2());
    assert.deepEqual([status, body.status, headers.get("retry-after")], [503, 503, "9"]);
    assert.equal((await call("/tave/api/v2/job", v2()))[0], 200, "the fault was injected once");
  });
});

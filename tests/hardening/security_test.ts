// Reduced security suite inside `npm test`: every signature scheme's vectors, sampled single-bit tampering,
// stale/future times and wrong secrets; the running receivers against misconfigured secrets; and the vendor
// app's endpoints against credentials that are not a signed-in user's.
import assert from "node:assert/strict";
import { checkScheme, SCHEMES } from "../../hardening/security_schemes.ts";
import { BROKEN_SECRETS, checkReceivers, RECEIVERS } from "../../hardening/security_receivers.ts";
import { checkUserEndpoints, NOT_A_USER, USER_ENDPOINTS } from "../../hardening/security_users.ts";
import { stackDb } from "../helpers/stack.ts";
import { moduleHandler, type ModuleHandlerDeps } from "../../shared/runs/handler.ts";
import { MissingSecretError, type SecretStore } from "../../shared/secrets.ts";
import { SignJWT } from "jose";
import { INVOKE_TOKEN } from "../../shared/http/auth.ts";

for (const scheme of SCHEMES) {
  Deno.test(`checkScheme() finds no accepted tampering, stale time or wrong secret when checking ${scheme.name}`, async () => {
    // Every 7th position keeps the test short; `npm run security` flips every bit.
    const report = await checkScheme(scheme, Date.now(), 7);
    assert.deepEqual(report.failures, []);
    assert.equal(report.fresh_accepted, true);
    assert.ok(report.tampered > 0, "no tampering was generated");
  });
}

Deno.test("checkScheme() reports an accepted tampering when the verifier ignores the signature", async () => {
  const lax = { ...SCHEMES[0], verify: () => Promise.resolve("accepted" as const) };
  const report = await checkScheme(lax, Date.now(), 7);
  assert.ok(report.failures.some((f) => f.startsWith("body ")));
  assert.ok(report.failures.some((f) => f.startsWith("stale ")));
});

Deno.test("checkReceivers() gets a 4xx and no written row when a receiver's secret is missing or malformed", async () => {
  const sql = stackDb();
  try {
    const cases = await checkReceivers(sql);
    assert.equal(cases.length, RECEIVERS.length * BROKEN_SECRETS.length * 2);
    assert.deepEqual(cases.filter((c) => c.status !== 401 && c.status !== 403), []);
    assert.deepEqual(cases.filter((c) => c.wrote !== 0), []);
  } finally {
    await sql.end();
  }
});

for (const [what, stored] of [["missing from Vault", undefined], ["empty", ""]] as const) {
  Deno.test(`moduleHandler() answers 401 without draining when functions_invoke_secret is ${what}`, async () => {
    const secrets: SecretStore = {
      byId: () => Promise.reject(new Error("not used")),
      byName: (name) =>
        stored === undefined
          ? Promise.reject(new MissingSecretError(`named "${name}"`))
          : Promise.resolve(stored),
    };
    // No database: a drain would fail on it, so a 401 also shows nothing was claimed.
    const handler = moduleHandler({ secrets, options: { module: "email" } } as unknown as ModuleHandlerDeps);
    const token = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(INVOKE_TOKEN.issuer)
      .setAudience(INVOKE_TOKEN.audience).setExpirationTime("1m").sign(
        new TextEncoder().encode("x".repeat(32)),
      );
    const res = await handler(
      new Request("http://local/module-email", {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: '{"action":"drain","wait":true}',
      }),
    );
    assert.equal(res.status, 401);
    assert.match((await res.json()).error.message, /no invoke secret is configured/);
  });
}

Deno.test("checkUserEndpoints() gets 401/403 and no change when the vendor app's endpoints get no signed-in user", async () => {
  const sql = stackDb();
  try {
    const cases = await checkUserEndpoints(sql);
    assert.equal(cases.length, USER_ENDPOINTS.length * NOT_A_USER.length);
    assert.deepEqual(cases.filter((c) => c.status !== 401 && c.status !== 403), []);
    assert.deepEqual(cases.filter((c) => c.changed), []);
  } finally {
    await sql.end();
  }
});

// The operator console's guards without a stack: escaping, who is an operator, the CSRF token.
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { csrfToken, esc, operatorConsoleHandler, operatorToken } from "../../shared/console/console.ts";
import type { Sql } from "../../shared/db/client.ts";
import { HttpError } from "../../shared/http/errors.ts";

const sign = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode("x".repeat(32)));

const noSql = (() => {
  throw new Error("no database in this test");
}) as unknown as Sql;

Deno.test("esc() escapes every character that could open markup or an attribute", () => {
  assert.equal(
    esc(`<a href="x" onclick='y'>&\``),
    "&#60;a href=&#34;x&#34; onclick=&#39;y&#39;&#62;&#38;&#96;",
  );
  assert.equal(esc(null), "");
  assert.equal(esc(new Date("2026-12-06T04:00:00.123Z")), "2026-12-06T04:00:00Z");
});

Deno.test("operatorToken() accepts the service role and app_metadata.operator, refuses everyone else", async () => {
  const req = (token?: string) =>
    new Request("http://x/", { headers: token ? { authorization: `Bearer ${token}` } : {} });
  assert.ok(operatorToken(req(await sign({ role: "service_role" }))));
  assert.ok(operatorToken(req(await sign({ role: "authenticated", app_metadata: { operator: true } }))));
  const status = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return (e as HttpError).status;
    }
    return 200;
  };
  assert.equal(status(() => operatorToken(req())), 401);
  assert.equal(status(() => operatorToken(req("not-a-jwt"))), 401);
  const anon = await sign({ role: "anon" });
  assert.equal(status(() => operatorToken(req(anon))), 403);
  assert.equal(status(() => operatorToken(req(""))), 401);
  const user = await sign({ role: "authenticated", user_metadata: { operator: true } });
  assert.equal(status(() => operatorToken(req(user))), 403, "user_metadata is the user's own to write");
  assert.equal(status(() => operatorToken(req(undefined))), 401);
});

Deno.test("operatorConsoleHandler() refuses a re-drive whose CSRF token is not the bearer's", async () => {
  const handler = operatorConsoleHandler({ sql: noSql, log: () => {} });
  const token = await sign({ role: "service_role" });
  const post = (body: Record<string, string>, type = "application/x-www-form-urlencoded") =>
    handler(
      new Request("http://x/operator-console", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": type },
        body: new URLSearchParams(body),
      }),
    );
  assert.equal((await post({ run_id: "1", csrf: await csrfToken("another token") })).status, 403);
  assert.equal((await post({ run_id: "1" })).status, 403);
  assert.equal((await post({ run_id: "x", csrf: await csrfToken(token) })).status, 422);
  assert.equal((await post({ run_id: "1", csrf: await csrfToken(token) }, "text/plain")).status, 415);
  const anonKey = await sign({ role: "anon" });
  const refused = await handler(
    new Request("http://x/", { headers: { authorization: `Bearer ${anonKey}` } }),
  );
  assert.equal(refused.status, 403);
  assert.match(refused.headers.get("content-type") ?? "", /text\/html/);
});

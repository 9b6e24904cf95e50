// Unit tests of the local gateway's routing and auth (no server, no Postgres): verify_jwt, 401/404/503 shapes, path rewrite.
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import {
  type CapturedResponse,
  createGatewayHandler,
  type GatewayHandlerOptions,
  parseFunctionsConfig,
} from "../../stack/gateway.ts";
import { parseDotenv } from "../../stack/function_pool.ts";
import { localKeys } from "../../stack/keys.ts";
import { jwtSecret } from "../../stack/config.ts";

interface Forwarded {
  url: string;
  init: RequestInit;
}

/** A handler whose functions are `secure` (verify_jwt on), `open` (off) and `down` (restarting). */
function gateway(overrides: Partial<GatewayHandlerOptions> = {}) {
  const forwarded: Forwarded[] = [];
  const handler = createGatewayHandler({
    resolve: (name) =>
      ({
        secure: { verifyJwt: true, origin: "http://127.0.0.1:7001" },
        open: { verifyJwt: false, origin: "http://127.0.0.1:7002" },
        down: { verifyJwt: false },
      } as Record<string, { verifyJwt: boolean; origin?: string }>)[name],
    jwtSecret,
    fetch: (url, init) => {
      forwarded.push({ url, init });
      return Promise.resolve(
        new Response(JSON.stringify({ ok: true }), {
          status: 201,
          headers: { "content-type": "application/json", "x-custom": "yes", connection: "keep-alive" },
        }),
      );
    },
    ...overrides,
  });
  return { handler, forwarded };
}

const base = "http://127.0.0.1:54321/functions/v1";

async function sign(claims: Record<string, unknown>, secret = jwtSecret, expiresIn = "5m"): Promise<string> {
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

Deno.test("createGatewayHandler() answers 401 Invalid JWT when verify_jwt is on and no token is sent", async () => {
  const { handler, forwarded } = gateway();
  const response = await handler(new Request(`${base}/secure`, { method: "POST", body: "{}" }));
  assert.equal(response.status, 401);
  assert.deepEqual(await response.json(), { code: 401, message: "Invalid JWT" });
  assert.equal(forwarded.length, 0);
});

Deno.test("createGatewayHandler() answers 401 when the token is signed with another secret or expired", async () => {
  const { handler, forwarded } = gateway();
  const foreign = await sign({ role: "anon" }, "another-secret-that-is-at-least-32-characters");
  const expired = await sign({ role: "anon" }, jwtSecret, "-1m");
  for (const token of [foreign, expired, "not.a.jwt"]) {
    const response = await handler(
      new Request(`${base}/secure`, { headers: { authorization: `Bearer ${token}` } }),
    );
    assert.equal(response.status, 401);
    assert.deepEqual(await response.json(), { code: 401, message: "Invalid JWT" });
  }
  assert.equal(forwarded.length, 0);
});

Deno.test("createGatewayHandler() forwards when verify_jwt is on and the anon key is sent", async () => {
  const { handler, forwarded } = gateway();
  const { anonKey } = await localKeys();
  const response = await handler(
    new Request(`${base}/secure`, { headers: { Authorization: `Bearer ${anonKey}` } }),
  );
  assert.equal(response.status, 201);
  await response.body?.cancel();
  assert.equal(forwarded.length, 1);
  assert.equal(new Headers(forwarded[0].init.headers).get("authorization"), `Bearer ${anonKey}`);
});

Deno.test("createGatewayHandler() forwards without a token when verify_jwt is off", async () => {
  const { handler, forwarded } = gateway();
  const response = await handler(new Request(`${base}/open`, { method: "POST", body: '{"a":1}' }));
  assert.equal(response.status, 201);
  assert.deepEqual(await response.json(), { ok: true });
  assert.equal(forwarded.length, 1);
  assert.equal(forwarded[0].init.method, "POST");
  assert.equal(await new Response(forwarded[0].init.body).text(), '{"a":1}');
});

Deno.test("createGatewayHandler() lets CORS preflights through when verify_jwt is on", async () => {
  const { handler, forwarded } = gateway();
  const response = await handler(new Request(`${base}/secure`, { method: "OPTIONS" }));
  assert.equal(response.status, 201);
  await response.body?.cancel();
  assert.equal(forwarded.length, 1);
});

Deno.test("createGatewayHandler() rewrites /functions/v1/<name><rest>?query to /<name><rest>?query", async () => {
  const { handler, forwarded } = gateway();
  for (const path of ["/open", "/open/", "/open/a/b?x=1&y=two"]) {
    const response = await handler(new Request(`${base}${path}`));
    await response.body?.cancel();
  }
  assert.deepEqual(forwarded.map((f) => f.url), [
    "http://127.0.0.1:7002/open",
    "http://127.0.0.1:7002/open/",
    "http://127.0.0.1:7002/open/a/b?x=1&y=two",
  ]);
});

Deno.test("createGatewayHandler() passes x-request-id through, or sets one, both ways", async () => {
  const { handler, forwarded } = gateway();
  const given = await handler(new Request(`${base}/open`, { headers: { "x-request-id": "req-123" } }));
  await given.body?.cancel();
  assert.equal(given.headers.get("x-request-id"), "req-123");
  assert.equal(new Headers(forwarded[0].init.headers).get("x-request-id"), "req-123");

  const generated = await handler(new Request(`${base}/open`));
  await generated.body?.cancel();
  const id = generated.headers.get("x-request-id");
  assert.match(id ?? "", /^[0-9a-f-]{36}$/);
  assert.equal(new Headers(forwarded[1].init.headers).get("x-request-id"), id);
});

Deno.test("createGatewayHandler() drops hop-by-hop headers and keeps the function's own", async () => {
  const { handler, forwarded } = gateway();
  const response = await handler(
    new Request(`${base}/open`, { headers: { connection: "close", "x-client": "1", host: "example.test" } }),
  );
  await response.body?.cancel();
  const sent = new Headers(forwarded[0].init.headers);
  assert.equal(sent.get("connection"), null);
  assert.equal(sent.get("host"), null);
  assert.equal(sent.get("x-client"), "1");
  assert.equal(response.headers.get("x-custom"), "yes");
  assert.equal(response.headers.get("connection"), null);
});

Deno.test("createGatewayHandler() answers 404 for an unknown function or a path outside /functions/v1", async () => {
  const { handler, forwarded } = gateway();
  for (const url of [`${base}/nope`, "http://127.0.0.1:54321/rest/v1/clients", `${base}/`]) {
    const response = await handler(new Request(url));
    assert.equal(response.status, 404);
    assert.deepEqual(await response.json(), {
      code: "NOT_FOUND",
      message: "Requested function was not found",
    });
  }
  assert.equal(forwarded.length, 0);
});

Deno.test("createGatewayHandler() answers 503 while a function restarts or when it cannot be reached", async () => {
  const { handler } = gateway();
  const restarting = await handler(new Request(`${base}/down`));
  assert.equal(restarting.status, 503);
  assert.equal((await restarting.json()).code, 503);

  const unreachable = gateway({ fetch: () => Promise.reject(new TypeError("connection refused")) });
  const response = await unreachable.handler(new Request(`${base}/open`));
  assert.equal(response.status, 503);
  assert.equal((await response.json()).code, 503);
});

Deno.test("createGatewayHandler() answers 405 for TRACE, TRACK and CONNECT, which fetch cannot forward", async () => {
  // Found by the fuzz suite: the forward failed and the gateway answered 503, as if the function were down.
  const { handler, forwarded } = gateway();
  for (const method of ["TRACE", "TRACK", "CONNECT"]) {
    // new Request() refuses these methods; Deno.serve still hands them over, so the request is built by hand.
    const request = { url: `${base}/open`, method, headers: new Headers(), body: null } as unknown as Request;
    const response = await handler(request);
    assert.equal(response.status, 405, method);
    assert.match((await response.json()).message, new RegExp(method));
  }
  assert.equal(forwarded.length, 0);
});

Deno.test("createGatewayHandler() serves the status document at /_gateway/status", async () => {
  const { handler } = gateway({
    status: () => ({ functions: { open: { pid: 42, port: 7002, restarts: 0 } } }),
  });
  const response = await handler(new Request("http://127.0.0.1:54321/_gateway/status"));
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { functions: { open: { pid: 42, port: 7002, restarts: 0 } } });
});

Deno.test("parseFunctionsConfig() defaults verify_jwt to true and honours false", () => {
  const config = parseFunctionsConfig(`
[api]
port = 54321

[functions.webhook-resend]
verify_jwt = false

[functions.journey-steps]
import_map = "../deno.json"

[functions.old]
enabled = false
`);
  assert.equal(config["webhook-resend"].verifyJwt, false);
  assert.equal(config["journey-steps"].verifyJwt, true);
  assert.equal(config.old.enabled, false);
  assert.equal(config.missing, undefined);
});

Deno.test("parseDotenv() reads KEY=value lines with comments, export and quotes", () => {
  assert.deepEqual(
    parseDotenv("# comment\nA=1\nexport B=\"two words\"\nC='x#y'\nD=plain # trailing\n\nnot a line\n"),
    { A: "1", B: "two words", C: "x#y", D: "plain" },
  );
});

Deno.test("localKeys() are the anon and service_role keys `supabase start` prints", async () => {
  const { anonKey, serviceRoleKey } = await localKeys();
  assert.equal(
    anonKey,
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAiOjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0",
  );
  assert.equal(
    serviceRoleKey,
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU",
  );
});

Deno.test("createGatewayHandler() hands each function's answer to capture and still passes it on when capture is set", async () => {
  const captured: CapturedResponse[] = [];
  const { handler } = gateway({ capture: (r) => captured.push(r) });
  const res = await handler(new Request(`${base}/open/x?q=1`, { method: "POST", body: "{}" }));
  assert.deepEqual(await res.json(), { ok: true });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(captured, [{
    fn: "open",
    method: "POST",
    path: "/functions/v1/open/x",
    status: 201,
    body: '{"ok":true}',
  }]);
});

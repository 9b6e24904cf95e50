// Unit tests of the request boundaries every function shares: body size limits (declared and streamed) and
// the signed-in user's claims; cases the fuzz suite (hardening/fuzz.ts) drives through the gateway.
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { HttpError, MAX_BODY_BYTES, readRawBody } from "../../shared/http/errors.ts";
import { userClaims } from "../../shared/http/user.ts";

/** A body that never ends, counting the bytes the reader pulled. */
function endless(chunk = 16 * 1024): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled += chunk;
      controller.enqueue(new Uint8Array(chunk));
    },
  });
  return { stream, pulled: () => pulled };
}

async function statusOf(work: Promise<unknown>): Promise<number> {
  try {
    await work;
    return 200;
  } catch (error) {
    assert.ok(error instanceof HttpError, String(error));
    return error.status;
  }
}

Deno.test("readRawBody() answers 413 from Content-Length alone when the declared body is over the limit", async () => {
  const body = endless();
  const req = new Request("http://x/", {
    method: "POST",
    body: body.stream,
    headers: { "content-length": String(MAX_BODY_BYTES + 1) },
  });
  assert.equal(await statusOf(readRawBody(req)), 413);
  assert.ok(body.pulled() <= 16 * 1024, `read ${body.pulled()} bytes before refusing`);
});

Deno.test("readRawBody() answers 413 once a streamed body without Content-Length passes the limit", async () => {
  const body = endless();
  const req = new Request("http://x/", { method: "POST", body: body.stream });
  assert.equal(await statusOf(readRawBody(req, 64 * 1024)), 413);
  assert.ok(body.pulled() <= 64 * 1024 + 2 * 16 * 1024, `read ${body.pulled()} bytes before refusing`);
});

Deno.test("readRawBody() returns a body at the limit whole", async () => {
  const req = new Request("http://x/", { method: "POST", body: new Uint8Array(4096).fill(7) });
  const raw = await readRawBody(req, 4096);
  assert.equal(raw.byteLength, 4096);
  assert.equal(raw[4095], 7);
});

async function bearer(claims: Record<string, unknown>): Promise<Request> {
  const token = await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(
    new TextEncoder().encode("k".repeat(32)),
  );
  return new Request("http://x/", { headers: { authorization: `Bearer ${token}` } });
}

Deno.test("userClaims() answers 403 when the signed-in subject is not a user id (uuid)", async () => {
  // Found by the fuzz suite: such a subject reached auth.uid()'s uuid cast and crm-csv answered 500.
  for (const sub of ["", "not-a-uuid", "0", "' or 1=1 --", "4f1c2b8e-8a4b-4c55-9d47-2b1f6e0a9c1"]) {
    assert.equal(
      await statusOf((async () => userClaims(await bearer({ role: "authenticated", sub })))()),
      403,
      sub,
    );
  }
  const id = crypto.randomUUID();
  assert.equal(userClaims(await bearer({ role: "authenticated", sub: id })).sub, id);
});

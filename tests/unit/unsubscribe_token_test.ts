// signUnsubscribeToken() is deterministic per run, so an idempotent replay of an email is byte-identical.
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import {
  signUnsubscribeToken,
  unsubscribeKey,
  verifyUnsubscribeToken,
} from "../../shared/modules/email/unsubscribe_token.ts";

Deno.test("signUnsubscribeToken() carries no time, so the same run always gets the same token", async () => {
  const key = await unsubscribeKey("invoke-secret");
  const token = await signUnsubscribeToken(key, "supplier-1", 42);
  assert.equal(decodeJwt(token).iat, undefined);
  assert.equal(decodeJwt(token).exp, undefined);
  assert.equal(await signUnsubscribeToken(key, "supplier-1", 42), token);
  assert.deepEqual(await verifyUnsubscribeToken(key, token), { supplierId: "supplier-1", runId: 42 });
  assert.notEqual(await signUnsubscribeToken(key, "supplier-1", 43), token);
});

// X-Hub-Signature-256 against the official WhatsApp SDK vector (providers.md §13.4) and the derived ones (§14).
import assert from "node:assert/strict";
import { signMeta, verifyMeta } from "../../shared/webhooks/meta.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("signMeta() reproduces the official WhatsApp SDK vector", async () => {
  assert.equal(
    await signMeta("TEST_APP_SECRET", "test"),
    "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221",
  );
});

Deno.test("verifyMeta() accepts the official and derived vectors", async () => {
  assert.equal(
    await verifyMeta(
      "TEST_APP_SECRET",
      enc("test"),
      "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221",
    ),
    true,
  );
  assert.equal(
    await verifyMeta(
      "secret",
      enc("test"),
      "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914",
    ),
    true,
  );
  assert.equal(
    await verifyMeta(
      "my_app_secret",
      enc('{"object":"whatsapp_business_account","entry":[]}'),
      "sha256=1e948187320e1d8a8ab09e20b7172f8fe97e79394c0980b59b485e00288e389d",
    ),
    true,
  );
});

Deno.test("verifyMeta() refuses another secret, a changed body, a missing prefix and no header", async () => {
  const sig = "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221";
  assert.equal(await verifyMeta("OTHER_SECRET", enc("test"), sig), false);
  assert.equal(await verifyMeta("TEST_APP_SECRET", enc("test "), sig), false);
  assert.equal(await verifyMeta("TEST_APP_SECRET", enc("test"), sig.slice("sha256=".length)), false);
  assert.equal(await verifyMeta("TEST_APP_SECRET", enc("test"), null), false);
  assert.equal(await verifyMeta("", enc("test"), sig), false);
});

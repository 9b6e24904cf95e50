// Secret hygiene over the whole `npm test` run (scripts/test.ts runs this after every other Deno suite):
// no Vault credential in any log, table or response, and no couple's email, phone or message in any log.
import assert from "node:assert/strict";
import { scanHygiene } from "../../hardening/security_hygiene.ts";
import { createSupplier } from "../helpers/fixtures.ts";
import type { Sql } from "../helpers/db.ts";
import { stackDb } from "../helpers/stack.ts";

Deno.test("scanHygiene() finds no canary and no personal data when scanning what the test run left", async () => {
  const sql = stackDb();
  try {
    const report = await scanHygiene(sql);
    assert.ok(report.canaries > 0, "no Vault secret to look for");
    assert.ok(report.log_bytes > 0 && report.rows > 0, "nothing was scanned");
    if (Deno.env.get("STACK_CAPTURE_RESPONSES") === "1") {
      assert.ok(report.responses > 0, "no response captured");
    }
    assert.deepEqual(report.secret_hits, []);
    assert.deepEqual(report.personal_hits, []);
  } finally {
    await sql.end();
  }
});

Deno.test("scanHygiene() reports a canary when it leaked into a table, a log and a response", async () => {
  const sql = stackDb();
  const dir = await Deno.makeTempDir();
  const canary = `cnry${crypto.randomUUID().replaceAll("-", "")}`;
  try {
    await Deno.writeTextFile(`${dir}/function-x.log`, `sent with key ${canary}\n`);
    await Deno.writeTextFile(
      `${dir}-responses.jsonl`,
      JSON.stringify({ fn: "x", body: `{"k":"${canary}"}` }) + "\n",
    );
    const rolledBack = new Error("roll back");
    const report = await sql.begin(async (tx) => {
      const db = tx as unknown as Sql;
      const supplier = await createSupplier(db);
      await tx`select vault.create_secret(${JSON.stringify({ api_key: canary })}, ${`leak-${canary}`})`;
      await tx`insert into public.suppressions (supplier_id, channel, address, reason)
        values (${supplier}::uuid, 'email', ${`${canary}@example.com`}, 'manual')`;
      const found = await scanHygiene(db, { logs: dir, responses: `${dir}-responses.jsonl` });
      throw Object.assign(rolledBack, { found });
    }).catch((
      error,
    ) => (error === rolledBack ? (error as Error & { found: unknown }).found : Promise.reject(error)));
    const where = (report as { secret_hits: { where: string }[] }).secret_hits.map((h) => h.where).sort();
    assert.deepEqual(where, ['"public"."suppressions"."address"', "log function-x.log", "response of x"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(`${dir}-responses.jsonl`);
    await sql.end();
  }
});

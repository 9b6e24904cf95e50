// The sms executor on real Postgres with an injected clock and the in-process simulator: quiet hours on
// the nights the clocks change, and send rates shared by instances through Postgres token buckets.
import assert from "node:assert/strict";
import { smsExecutor } from "../../shared/modules/sms/executor.ts";
import { claimRuns, recordOutcomes } from "../../shared/runs/store.ts";
import { vaultSecrets } from "../../shared/secrets.ts";
import type { Sql as FnSql } from "../../shared/db/client.ts";
import { startSimulator } from "../../stack/simulator/server.ts";
import { type Sql, withTestDb } from "../helpers/db.ts";
import { createClient, createJourney, createSupplier, startJourney } from "../helpers/fixtures.ts";

const ACCOUNT = { account_sid: `AC${"0123456789abcdef".repeat(2)}`, auth_token: "integration-token" };

/** A supplier on Twilio with `settings`, and `n` couples each starting a one-step sms journey now. */
async function scenario(
  sql: Sql,
  opts: { settings?: Record<string, unknown>; zone: string; text?: string; n?: number },
) {
  const supplierId = await createSupplier(sql);
  await sql`
    insert into public.supplier_integrations (supplier_id, provider, settings, secret_id)
    values (${supplierId}::uuid, 'twilio', ${
    JSON.stringify({ from: "+15005550006", ...opts.settings })
  }::text::jsonb, vault.create_secret(${JSON.stringify(ACCOUNT)}, ${`twilio:${supplierId}`}))`;
  const { journeyId } = await createJourney(sql, supplierId, [{
    module_type: "sms",
    config: { text: opts.text ?? "Hi {{couple_name}}" },
  }]);
  for (let i = 0; i < (opts.n ?? 1); i++) {
    const clientId = await createClient(sql, supplierId, { time_zone: opts.zone });
    await sql`update public.clients set phone = ${`+4479120000${10 + i}`} where id = ${clientId}::uuid`;
    await startJourney(sql, supplierId, journeyId, clientId);
  }
  return supplierId;
}

function executor(sql: Sql, simUrl: string, now: () => Date) {
  const fnSql = sql as unknown as FnSql;
  return smsExecutor({
    sql: fnSql,
    secrets: vaultSecrets(fnSql),
    twilio: { baseUrl: `${simUrl}/twilio`, timeoutMs: 5000 },
    whatsapp: { baseUrl: `${simUrl}/whatsapp`, timeoutMs: 5000 },
    publicFunctionsUrl: "https://project.supabase.co/functions/v1",
    now,
  });
}

async function withSimulator(fn: (url: string) => Promise<void>) {
  const sim = await startSimulator({ port: 0 });
  try {
    await fetch(`${sim.url}/_sim/config`, {
      method: "POST",
      body: JSON.stringify({ provider: "twilio", ...ACCOUNT, callback_statuses: [] }),
    }).then((r) => r.body?.cancel());
    await fn(sim.url);
  } finally {
    await sim.shutdown();
  }
}

for (
  const [name, zone, night, expected] of [
    [
      "the spring-forward night in London",
      "Europe/London",
      "2027-03-27T22:30:00Z",
      "2027-03-28T07:00:00.000Z",
    ],
    [
      "the fall-back night in New York",
      "America/New_York",
      "2027-11-07T04:30:00Z",
      "2027-11-07T13:00:00.000Z",
    ],
  ] as const
) {
  Deno.test(`smsExecutor() defers a run in quiet hours to 08:00 local on ${name}, without an attempt`, async () => {
    await withTestDb(async (sql) => {
      await withSimulator(async (simUrl) => {
        await scenario(sql, { zone });
        const runs = await claimRuns(sql as unknown as FnSql, "sms", 10, 60);
        assert.equal(runs.length, 1);
        const exec = await executor(sql, simUrl, () => new Date(night)).prepare(runs);
        const attempt = await exec(runs[0]);
        assert.equal(attempt.outcome.kind, "deferred");
        assert.equal(attempt.calls.length, 0, "nothing was sent");
        await recordOutcomes(sql as unknown as FnSql, [{ run: runs[0], attempt }]);
        const [row] = await sql<{ status: string; attempts: number; run_at: Date }[]>`
          select status::text, attempts, run_at from public.module_runs where id = ${runs[0].id}`;
        assert.deepEqual({ ...row, run_at: row.run_at.toISOString() }, {
          status: "pending",
          attempts: 0,
          run_at: expected,
        });
      });
    });
  });
}

Deno.test("smsExecutor() defers a long-code text that the sender's shared bucket cannot pay for yet", async () => {
  await withTestDb(async (sql, connect) => {
    await withSimulator(async (simUrl) => {
      // Four GSM-7 segments per text on a long code (1 segment/s): the first text empties the bucket
      // and leaves it in debt, so the second must wait about 4 s, longer than a worker sleeps.
      await scenario(sql, { zone: "UTC", text: `{{couple_name}} ${"x".repeat(600)}`, n: 2 });
      const runs = await claimRuns(sql as unknown as FnSql, "sms", 10, 60);
      assert.equal(runs.length, 2);
      const noon = () => new Date("2027-06-12T12:00:00Z");
      // Two function instances, each with its own connection: the bucket lives in Postgres.
      const first = await (await executor(sql, simUrl, noon).prepare([runs[0]]))(runs[0]);
      const second = await (await executor(connect(), simUrl, noon).prepare([runs[1]]))(runs[1]);
      assert.equal(first.outcome.kind, "succeeded");
      assert.equal((first.outcome as { result?: { segments?: number } }).result?.segments, 4);
      assert.equal(second.outcome.kind, "deferred");
      assert.equal((second.outcome as { error?: { code: string } }).error?.code, "rate_limited");
      assert.equal(second.calls.length, 0);
    });
  });
});

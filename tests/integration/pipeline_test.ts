// The run pipeline on real Postgres: claims, leases, backoff, dead letters, fencing, journey advance.
import assert from "node:assert/strict";
import { drain } from "../../shared/runs/drain.ts";
import type { Attempt, ModuleExecutor, ModuleRun } from "../../shared/runs/types.ts";
import type { Sql as FnSql } from "../../shared/db/client.ts";
import { withTestDb } from "../helpers/db.ts";
import type { Sql } from "../helpers/db.ts";
import { emailScenario, startJourney } from "../helpers/fixtures.ts";

/** Inserts `n` due email runs for one started journey; returns their ids. */
async function dueRuns(sql: Sql, n: number): Promise<number[]> {
  const s = await emailScenario(sql);
  const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
  await sql`update public.module_runs set status = 'cancelled' where journey_instance_id = ${instanceId}::uuid`;
  const rows = await sql<{ id: number }[]>`
    insert into public.module_runs (supplier_id, journey_instance_id, step_id, module_type, run_at, idempotency_key)
    select ${s.supplierId}::uuid, ${instanceId}::uuid, ${
    s.stepIds[0]
  }::uuid, 'email', now() - interval '1 second',
      'bulk:' || g from generate_series(1, ${n}) g
    returning id::int`;
  return rows.map((r) => r.id);
}

async function claim(sql: Sql, limit: number, lease = 60): Promise<ModuleRun[]> {
  return await sql<ModuleRun[]>`
    select id::int, attempts, max_attempts, idempotency_key, supplier_id, journey_instance_id, step_id
    from public.claim_runs('email', ${limit}, ${lease})`;
}

async function record(sql: Sql, outcomes: Record<string, unknown>[]): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select public.record_outcomes(${
    JSON.stringify(outcomes)
  }::text::jsonb) as n`;
  return row.n;
}

async function runRow(sql: Sql, id: number) {
  const [row] = await sql<
    { status: string; attempts: number; run_at: Date; last_error: { code: string; message: string } | null }[]
  >`select status::text, attempts, run_at, last_error from public.module_runs where id = ${id}`;
  return row;
}

Deno.test("claim_runs() never hands one run to two concurrent claimers", async () => {
  await withTestDb(async (sql, connect) => {
    const ids = await dueRuns(sql, 300);
    const claimer = async (db: Sql) => {
      const got: number[] = [];
      for (;;) {
        const batch = await claim(db, 7);
        if (batch.length === 0) return got;
        got.push(...batch.map((r) => r.id));
      }
    };
    const [a, b] = await Promise.all([claimer(connect()), claimer(connect())]);
    const overlap = a.filter((id) => b.includes(id));
    assert.deepEqual(overlap, []);
    assert.deepEqual([...a, ...b].sort((x, y) => x - y), ids.sort((x, y) => x - y));
    assert.ok(a.length > 0 && b.length > 0, "both claimers got work");
  });
});

Deno.test("claim_runs() skips runs scheduled in the future", async () => {
  await withTestDb(async (sql) => {
    const [id] = await dueRuns(sql, 1);
    await sql`update public.module_runs set run_at = now() + interval '1 hour' where id = ${id}`;
    assert.equal((await claim(sql, 10)).length, 0);
  });
});

Deno.test("sweep() hands a run out again when its worker's lease expired", async () => {
  await withTestDb(async (sql) => {
    const [id] = await dueRuns(sql, 1);
    const [first] = await claim(sql, 1);
    assert.equal(first.attempts, 1);
    assert.equal((await claim(sql, 1)).length, 0, "a leased run is not claimable");
    await sql`update public.module_runs set lease_expires_at = now() - interval '1 second' where id = ${id}`;
    const swept = await sql<{ r: { expired_leases: number } }[]>`select public.sweep() as r`;
    assert.equal(swept[0].r.expired_leases, 1);
    const [again] = await claim(sql, 1);
    assert.equal(again.id, id);
    assert.equal(again.attempts, 2);
  });
});

Deno.test("record_outcomes() retries a transient failure with exponential backoff, then dead-letters it", async () => {
  await withTestDb(async (sql) => {
    const [id] = await dueRuns(sql, 1);
    await sql`update public.module_runs set max_attempts = 3 where id = ${id}`;
    const expectedBase = [5, 10];
    for (const base of expectedBase) {
      const [run] = await claim(sql, 1);
      const before = Date.now();
      await record(sql, [{
        run_id: id,
        attempt: run.attempts,
        kind: "transient",
        error: { code: "application_error", message: "Resend answered 500" },
      }]);
      const row = await runRow(sql, id);
      assert.equal(row.status, "pending");
      const delay = (row.run_at.getTime() - before) / 1000;
      assert.ok(delay >= base * 0.75 - 1 && delay <= base * 1.25 + 1, `delay ${delay}s for base ${base}s`);
      await sql`update public.module_runs set run_at = now() where id = ${id}`;
    }
    const [last] = await claim(sql, 1);
    assert.equal(last.attempts, 3);
    await record(sql, [{
      run_id: id,
      attempt: 3,
      kind: "transient",
      error: { code: "x", message: "Resend answered 503" },
    }]);
    const dead = await runRow(sql, id);
    assert.equal(dead.status, "dead");
    assert.match(dead.last_error!.message, /gave up after 3 attempts: Resend answered 503/);
  });
});

Deno.test("record_outcomes() waits at least Retry-After before the next attempt", async () => {
  await withTestDb(async (sql) => {
    const [id] = await dueRuns(sql, 1);
    const [run] = await claim(sql, 1);
    const before = Date.now();
    await record(sql, [{
      run_id: id,
      attempt: run.attempts,
      kind: "transient",
      retry_after_s: 120,
      error: { code: "rate_limit_exceeded", message: "429" },
    }]);
    const row = await runRow(sql, id);
    assert.ok(row.run_at.getTime() - before >= 119_000);
  });
});

Deno.test("record_outcomes() dead-letters a permanent failure at once with its reason", async () => {
  await withTestDb(async (sql) => {
    const [id] = await dueRuns(sql, 1);
    const [run] = await claim(sql, 1);
    await record(sql, [{
      run_id: id,
      attempt: run.attempts,
      kind: "permanent",
      error: { code: "validation_error", message: "Resend answered 422 invalid_from_address" },
    }]);
    const row = await runRow(sql, id);
    assert.equal(row.status, "dead");
    assert.equal(row.last_error!.code, "validation_error");
    const [redriven] = await sql<{ ok: boolean }[]>`select public.redrive_run(${id}) as ok`;
    assert.equal(redriven.ok, true);
    assert.equal((await runRow(sql, id)).status, "pending");
  });
});

Deno.test("record_outcomes() ignores a late outcome from a worker whose lease was taken over", async () => {
  await withTestDb(async (sql) => {
    const [id] = await dueRuns(sql, 1);
    await claim(sql, 1);
    await sql`update public.module_runs set lease_expires_at = now() - interval '1 second' where id = ${id}`;
    await sql`select public.sweep()`;
    const [second] = await claim(sql, 1);
    assert.equal(second.attempts, 2);
    const n = await record(sql, [{
      run_id: id,
      attempt: 1,
      kind: "permanent",
      error: { code: "x", message: "late" },
    }]);
    assert.equal(n, 0);
    assert.equal((await runRow(sql, id)).status, "running");
  });
});

Deno.test("record_outcomes() defers without counting an attempt", async () => {
  await withTestDb(async (sql) => {
    const [id] = await dueRuns(sql, 1);
    const [run] = await claim(sql, 1);
    const until = new Date(Date.now() + 3_600_000);
    await record(sql, [{
      run_id: id,
      attempt: run.attempts,
      kind: "deferred",
      defer_until: until.toISOString(),
    }]);
    const row = await runRow(sql, id);
    assert.equal(row.status, "pending");
    assert.equal(row.attempts, 0);
    assert.equal(row.run_at.getTime(), until.getTime());
  });
});

Deno.test("record_outcomes() advances the journey and plans the next step's run when a run succeeds", async () => {
  await withTestDb(async (sql) => {
    const s = await emailScenario(sql, { steps: [{}, { timing: { offset_days: 2 } }] });
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    const [run] = await claim(sql, 10);
    await record(sql, [{
      run_id: run.id,
      attempt: 1,
      kind: "succeeded",
      provider: "resend",
      provider_message_id: "msg-1",
      channel: "email",
      recipient: "a@example.com",
      calls: [{
        provider: "resend",
        operation: "emails.send",
        http_status: 200,
        duration_ms: 12,
        error_code: null,
      }],
    }]);
    const [instance] = await sql<{ current_step_id: string; status: string }[]>`
      select current_step_id, status::text from public.journey_instances where id = ${instanceId}::uuid`;
    assert.equal(instance.current_step_id, s.stepIds[1]);
    const next = await sql<{ run_at: Date; status: string }[]>`
      select run_at, status::text from public.module_runs where step_id = ${s.stepIds[1]}::uuid`;
    assert.equal(next.length, 1);
    assert.equal(next[0].status, "pending");
    const days = (next[0].run_at.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 1.99 && days < 2.01, `next step in ${days} days`);
    const [delivery] =
      await sql`select status::text, recipient from public.deliveries where run_id = ${run.id}`;
    assert.equal(delivery.status, "sent");
    const calls =
      await sql`select http_status, outcome from public.integration_calls where run_id = ${run.id}`;
    assert.deepEqual([...calls], [{ http_status: 200, outcome: "succeeded" }]);
  });
});

Deno.test("drain() executes every due run exactly once and records each outcome", async () => {
  await withTestDb(async (sql) => {
    const ids = await dueRuns(sql, 57);
    const seen = new Map<number, number>();
    const executor: ModuleExecutor = {
      prepare: () =>
        Promise.resolve(async (run: ModuleRun): Promise<Attempt> => {
          seen.set(run.id, (seen.get(run.id) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 2));
          return run.id % 2
            ? { outcome: { kind: "succeeded", provider: "fake" }, calls: [] }
            : { outcome: { kind: "permanent", error: { code: "fake", message: "even" } }, calls: [] };
        }),
    };
    const summary = await drain({ sql: sql as unknown as FnSql, executor }, {
      module: "email",
      concurrency: 8,
      batch: 5,
      leaseSeconds: 60,
      lingerMs: 50,
      maxMs: 30_000,
    });
    assert.equal(summary.claimed, 57);
    assert.equal(summary.recorded, 57);
    assert.deepEqual([...seen.values()].filter((n) => n !== 1), []);
    assert.equal(seen.size, 57);
    const statuses = await sql<{ status: string; n: number }[]>`
      select status::text, count(*)::int as n from public.module_runs where id = any(${ids}::bigint[])
      group by 1 order by 1`;
    const odd = ids.filter((id) => id % 2).length;
    assert.deepEqual([...statuses], [{ status: "dead", n: 57 - odd }, { status: "succeeded", n: odd }]);
  });
});

Deno.test("record_outcomes() applies a webhook that raced it from another transaction", async () => {
  await withTestDb(async (sql, connect) => {
    const [id] = await dueRuns(sql, 1);
    const [run] = await claim(sql, 1);
    const [{ supplier_id }] = await sql<{ supplier_id: string }[]>`
      select supplier_id from public.module_runs where id = ${id}`;
    const webhook = connect();
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    let received!: () => void;
    const inTransaction = new Promise<void>((r) => received = r);
    // The webhook's transaction finds no delivery yet and stays open while the outcome is recorded.
    const webhookTx = webhook.begin(async (tx) => {
      const [row] = await tx<{ r: string }[]>`
        select public.receive_delivery_event('resend', 'evt-race', 'email.delivered', ${supplier_id}::uuid,
          'msg-race', 'delivered', now(), '{}') as r`;
      assert.equal(row.r, "pending");
      received();
      await held;
    });
    await inTransaction;
    const recording = record(sql, [{
      run_id: id,
      attempt: run.attempts,
      kind: "succeeded",
      provider: "resend",
      provider_message_id: "msg-race",
      channel: "email",
      recipient: "a@example.com",
    }]);
    await new Promise((r) => setTimeout(r, 200));
    release();
    await webhookTx;
    await recording;
    const [delivery] = await sql<{ status: string }[]>`
      select status::text from public.deliveries where provider_message_id = 'msg-race'`;
    assert.equal(delivery.status, "delivered");
  });
});

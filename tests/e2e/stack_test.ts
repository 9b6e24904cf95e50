// End-to-end checks of the local stack's stand-ins against the running stack (`npm run stack -- up`): Vault, pg_net, auth, gateway.
import assert from "node:assert/strict";
import postgres from "postgres";
import { dbUrl, gatewayUrl, simulatorUrl } from "../../stack/config.ts";
import { FunctionPool } from "../../stack/function_pool.ts";

type Sql = ReturnType<typeof postgres>;

async function withDb(fn: (sql: Sql) => Promise<void>): Promise<void> {
  const sql = postgres(dbUrl(), { max: 2, onnotice: () => {} });
  try {
    await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Waits for pg_net's response row to request `id`. */
async function responseOf(sql: Sql, id: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql<
      { status_code: number | null; content: string | null; timed_out: boolean; error_msg: string | null }[]
    >`
      select status_code, content, timed_out, error_msg from net._http_response where id = ${id}`;
    if (row) return row;
    if (Date.now() > deadline) {
      throw new Error(`No net._http_response row for request ${id} after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("vault.create_secret() stores ciphertext that vault.decrypted_secrets decrypts", async () => {
  await withDb(async (sql) => {
    const plaintext = `sk_test_${crypto.randomUUID()}`;
    const name = `stack-test-${crypto.randomUUID()}`;
    const [{ id }] = await sql<
      { id: string }[]
    >`select vault.create_secret(${plaintext}, ${name}, 'e2e') as id`;
    try {
      const [stored] = await sql<{ secret: string; nonce: Uint8Array | null }[]>`
        select secret, nonce from vault.secrets where id = ${id}`;
      assert.notEqual(stored.secret, plaintext);
      assert.ok(!stored.secret.includes(plaintext), "the stored secret must not contain the plaintext");
      const [decrypted] = await sql<{ decrypted_secret: string; description: string }[]>`
        select decrypted_secret, description from vault.decrypted_secrets where name = ${name}`;
      assert.equal(decrypted.decrypted_secret, plaintext);
      assert.equal(decrypted.description, "e2e");

      await sql`select vault.update_secret(${id}::uuid, 'rotated')`;
      const [updated] = await sql<{ decrypted_secret: string; secret: string }[]>`
        select decrypted_secret, secret from vault.decrypted_secrets where id = ${id}`;
      assert.equal(updated.decrypted_secret, "rotated");
      assert.notEqual(updated.secret, stored.secret);
    } finally {
      await sql`delete from vault.secrets where id = ${id}`;
    }
  });
});

Deno.test("vault.decrypted_secrets is readable by service_role and refused to anon and authenticated", async () => {
  await withDb(async (sql) => {
    await sql.begin(async (tx) => {
      await tx`set local role service_role`;
      await tx`select count(*) from vault.decrypted_secrets`;
    });
    for (const role of ["anon", "authenticated"]) {
      await assert.rejects(
        sql.begin(async (tx) => {
          await tx.unsafe(`set local role ${role}`);
          await tx`select decrypted_secret from vault.decrypted_secrets`;
        }),
        (error: { code?: string }) => error.code === "42501",
        `${role} must get permission denied`,
      );
    }
  });
});

Deno.test("net.http_get() and net.http_post() get a net._http_response row once the transaction commits", async () => {
  await withDb(async (sql) => {
    const [{ id: getId }] = await sql<{ id: string }[]>`
      select net.http_get(${`${simulatorUrl}/_sim/stats`}) as id`;
    const got = await responseOf(sql, getId);
    assert.equal(typeof got.status_code, "number", `GET /_sim/stats failed: ${got.error_msg}`);

    const [{ id: postId }] = await sql<{ id: string }[]>`
      select net.http_post(${`${gatewayUrl}/functions/v1/no-such-function`}, '{"ping": true}'::jsonb) as id`;
    const posted = await responseOf(sql, postId);
    assert.equal(posted.status_code, 404);
    assert.equal(JSON.parse(posted.content ?? "{}").code, "NOT_FOUND");
  });
});

Deno.test("net.http_post() sends nothing when its transaction rolls back", async () => {
  await withDb(async (sql) => {
    let id = "";
    await assert.rejects(sql.begin(async (tx) => {
      [{ id }] = await tx<{ id: string }[]>`select net.http_post(${`${simulatorUrl}/_sim/stats`}) as id`;
      throw new Error("roll back");
    }));
    const [{ id: later }] = await sql<
      { id: string }[]
    >`select net.http_get(${`${simulatorUrl}/_sim/stats`}) as id`;
    await responseOf(sql, later);
    const rows = await sql`select 1 from net._http_response where id = ${id}`;
    assert.equal(rows.length, 0);
  });
});

Deno.test("auth.uid(), auth.role() and auth.jwt() reflect request.jwt.claims", async () => {
  await withDb(async (sql) => {
    const sub = crypto.randomUUID();
    const claims = JSON.stringify({ sub, role: "authenticated", email: "couple@example.com" });
    await sql.begin(async (tx) => {
      await tx`select set_config('request.jwt.claims', ${claims}, true)`;
      const [row] = await tx<{ uid: string; role: string; email: string }[]>`
        select auth.uid()::text as uid, auth.role() as role, auth.jwt() ->> 'email' as email`;
      assert.deepEqual(row, { uid: sub, role: "authenticated", email: "couple@example.com" });
    });
    const [anonymous] = await sql<{ uid: string | null }[]>`select auth.uid()::text as uid`;
    assert.equal(anonymous.uid, null);
  });
});

Deno.test("GET /_gateway/status lists every function with a live pid", async () => {
  const response = await fetch(`${gatewayUrl}/_gateway/status`);
  assert.equal(response.status, 200);
  const { functions } = await response.json() as {
    functions: Record<string, { pid: number; port: number; restarts: number; ready: boolean }>;
  };
  assert.ok(Object.keys(functions).length > 0, "the gateway serves no function");
  for (const [name, fn] of Object.entries(functions)) {
    assert.ok(fn.ready, `${name} is not ready`);
    const status = await Deno.readTextFile(`/proc/${fn.pid}/status`);
    assert.match(status, /VmRSS:\s+\d+ kB/, `${name}: no RSS for pid ${fn.pid}`);
  }
});

Deno.test({
  name: "FunctionPool restarts a function killed with SIGKILL and answers 503 meanwhile",
  sanitizeResources: false,
  async fn() {
    const project = await Deno.makeTempDir({ prefix: "stack-pool-" });
    try {
      await Deno.mkdir(`${project}/supabase/functions/hello`, { recursive: true });
      await Deno.writeTextFile(
        `${project}/supabase/functions/hello/index.ts`,
        'Deno.serve((req) => Response.json({ path: new URL(req.url).pathname, env: Deno.env.get("GREETING") }));\n',
      );
      await Deno.writeTextFile(`${project}/supabase/functions/.env`, "GREETING=hi\n");
      const pool = new FunctionPool({
        root: project,
        gatewayUrl: "http://127.0.0.1:1",
        logsDir: project,
        log: () => {},
      });
      try {
        await pool.start();
        const first = await pool.resolve("hello");
        assert.ok(first?.origin);
        const answer = await (await fetch(`${first.origin}/hello/x`)).json();
        assert.deepEqual(answer, { path: "/hello/x", env: "hi" });

        const pid = pool.status().functions.hello.pid!;
        Deno.kill(pid, "SIGKILL");
        const deadline = Date.now() + 15_000;
        let sawRestarting = false;
        for (;;) {
          const state = pool.status().functions.hello;
          if (!state.ready) sawRestarting = true;
          if (state.ready && state.pid !== pid) break;
          if (Date.now() > deadline) throw new Error("hello was not restarted within 15 s");
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.ok(sawRestarting);
        assert.equal(pool.status().functions.hello.restarts, 1);
        const again = await pool.resolve("hello");
        const response = await fetch(`${again!.origin}/hello`);
        assert.equal(response.status, 200);
        await response.body?.cancel();
      } finally {
        await pool.shutdown();
      }
    } finally {
      await Deno.remove(project, { recursive: true });
    }
  },
});

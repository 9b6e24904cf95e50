// The provider simulator over HTTP (in-process, ephemeral port): Resend's contract, faults, webhooks, control API.
import assert from "node:assert/strict";
import { Resend } from "resend";
import { verifySvix } from "../../shared/webhooks/svix.ts";
import { type Simulator, startSimulator } from "../../stack/simulator/server.ts";

const KEY = "re_test_simulator_key_0001";

type Received = { headers: Headers; raw: Uint8Array; body: Record<string, unknown> };

/** Runs `fn` with a fresh simulator on an ephemeral port, shut down afterwards. */
async function withSim(fn: (sim: Simulator) => Promise<void>): Promise<void> {
  const sim = await startSimulator({ port: 0 });
  try {
    await fn(sim);
  } finally {
    await sim.shutdown();
  }
}

/** A webhook receiver on an ephemeral port that records what it gets and answers `status()`. */
async function withReceiver(
  fn: (r: { url: string; received: Received[]; next: (n: number) => Promise<Received[]> }) => Promise<void>,
  status: (n: number) => number = () => 200,
): Promise<void> {
  const received: Received[] = [];
  const waiters: { n: number; resolve: (r: Received[]) => void }[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const raw = new Uint8Array(await req.arrayBuffer());
    received.push({ headers: req.headers, raw, body: JSON.parse(new TextDecoder().decode(raw)) });
    for (const w of waiters.filter((w) => received.length >= w.n)) w.resolve(received);
    return new Response(null, { status: status(received.length) });
  });
  const next = (n: number) =>
    new Promise<Received[]>((resolve, reject) => {
      if (received.length >= n) return resolve(received);
      const timer = setTimeout(() => reject(new Error(`got ${received.length} of ${n} webhooks`)), 5000);
      waiters.push({
        n,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  try {
    await fn({ url: `http://127.0.0.1:${server.addr.port}/hook`, received, next });
  } finally {
    await server.shutdown();
  }
}

function newSecret(): string {
  return `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))}`;
}

function email(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    from: "Studio Lumen <hello@studio.example>",
    to: "couple@example.com",
    subject: "Welcome",
    html: "<p>Hi</p>",
    tags: [{ name: "run", value: "42" }],
    ...extra,
  };
}

async function post(
  sim: Simulator,
  path: string,
  body: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${KEY}` },
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(`${sim.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
}

async function control<T = Record<string, unknown>>(
  sim: Simulator,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
  const res = await fetch(`${sim.url}/_sim${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: init.body === undefined ? {} : { "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`control ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** The recorded webhook deliveries once there are at least `n` (a receiver may answer before the record is written). */
async function deliveries<T = Record<string, unknown>>(sim: Simulator, n: number): Promise<T[]> {
  for (let i = 0;; i++) {
    const list = await control<T[]>(sim, "/webhooks");
    if (list.length >= n || i >= 200) return list;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const emails = (sim: Simulator) => control<Record<string, unknown>[]>(sim, "/resend/emails");
const stats = async (sim: Simulator) =>
  (await control<{ resend: Record<string, number> }>(sim, "/stats")).resend;

Deno.test("startSimulator() listens on an ephemeral port and describes itself when port is 0", async () => {
  await withSim(async (sim) => {
    assert.notEqual(sim.port, 0);
    assert.equal(sim.url, `http://127.0.0.1:${sim.port}`);
    const res = await fetch(sim.url);
    assert.deepEqual(await res.json(), {
      simulator: "provider-simulator",
      providers: ["resend"],
      control: "/_sim",
    });
  });
});

Deno.test("POST /resend/emails accepts a valid email and GET /emails/{id} returns it when the key is valid", async () => {
  await withSim(async (sim) => {
    const res = await post(sim, "/resend/emails", email({ reply_to: "studio@example.com" }));
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body), ["id"]);
    assert.match(String(res.body.id), /^[0-9a-f-]{36}$/);

    const [stored] = await emails(sim);
    assert.equal(stored.id, res.body.id);
    assert.equal(stored.idempotency_key, null);
    assert.equal(stored.to, "couple@example.com");
    assert.equal(stored.reply_to, "studio@example.com");
    assert.deepEqual(stored.tags, [{ name: "run", value: "42" }]);

    const got = await fetch(`${sim.url}/resend/emails/${res.body.id}`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    const view = await got.json();
    assert.equal(got.status, 200);
    assert.equal(view.object, "email");
    assert.deepEqual(view.to, ["couple@example.com"]);
    assert.equal(view.subject, "Welcome");
  });
});

Deno.test("Resend SDK emails.send() gets the simulator's id and replays it when the idempotency key repeats", async () => {
  await withSim(async (sim) => {
    const resend = new Resend(KEY, { baseUrl: `${sim.url}/resend` });
    const payload = {
      from: "Studio Lumen <hello@studio.example>",
      to: ["couple@example.com"],
      subject: "Welcome",
      html: "<p>Hi</p>",
      replyTo: "studio@example.com",
      tags: [{ name: "run", value: "7" }],
    };
    const first = await resend.emails.send(payload, { idempotencyKey: "run-7" });
    assert.equal(first.error, null);
    const second = await resend.emails.send(payload, { idempotencyKey: "run-7" });
    assert.equal(second.data?.id, first.data?.id);

    const all = await emails(sim);
    assert.equal(all.length, 1);
    assert.equal(all[0].reply_to, "studio@example.com", "the SDK's replyTo arrives as reply_to");
    assert.equal(all[0].idempotency_key, "run-7");
    const s = await stats(sim);
    assert.equal(s.accepted, 1);
    assert.equal(s.idempotent_replays, 1);
    assert.equal(s.duplicate_run_keys, 0);

    const changed = await resend.emails.send({ ...payload, subject: "Other" }, { idempotencyKey: "run-7" });
    assert.equal(changed.error?.name, "invalid_idempotent_request");
    assert.equal(changed.error?.statusCode, 409);
  });
});

Deno.test("POST /resend/emails answers 401/403 with Resend's error body when the key is missing or invalid", async () => {
  await withSim(async (sim) => {
    const missing = await post(sim, "/resend/emails", email(), {});
    assert.equal(missing.status, 401);
    assert.deepEqual(Object.keys(missing.body).sort(), ["message", "name", "statusCode"]);
    assert.equal(missing.body.statusCode, 401);
    assert.equal(missing.body.name, "missing_api_key");

    const wrongPrefix = await post(sim, "/resend/emails", email(), { authorization: "Bearer sk_live_123" });
    assert.equal(wrongPrefix.status, 403);
    assert.equal(wrongPrefix.body.name, "invalid_api_key");

    await control(sim, "/config", { body: { provider: "resend", invalid_keys: ["re_revoked"] } });
    const revoked = await post(sim, "/resend/emails", email(), { authorization: "Bearer re_revoked" });
    assert.equal(revoked.status, 403);
    assert.equal(revoked.body.name, "invalid_api_key");
    assert.equal((await emails(sim)).length, 0);
  });
});

Deno.test("POST /resend/emails answers 400/422 naming the problem when the body is invalid", async () => {
  await withSim(async (sim) => {
    const cases: [unknown, number, string, RegExp?][] = [
      ["{not json", 400, "validation_error"],
      [email({ subject: undefined }), 422, "missing_required_field", /`subject`/],
      [email({ to: undefined }), 422, "missing_required_field", /`to`/],
      [email({ from: undefined }), 422, "missing_required_field", /`from`/],
      [email({ from: "not an address" }), 422, "invalid_from_address"],
      [email({ from: "Studio <hello>" }), 422, "invalid_from_address"],
      [
        email({ to: Array.from({ length: 51 }, (_, i) => `g${i}@example.com`) }),
        422,
        "invalid_parameter",
        /`to`/,
      ],
      [email({ to: "nobody" }), 422, "invalid_parameter", /`to`/],
      [email({ tags: [{ name: "run key", value: "1" }] }), 422, "invalid_parameter", /`tags`/],
      [email({ tags: [{ name: "run", value: "a".repeat(257) }] }), 422, "invalid_parameter", /`tags`/],
    ];
    for (const [body, status, name, message] of cases) {
      const res = await post(sim, "/resend/emails", body);
      assert.equal(res.status, status, `${JSON.stringify(body).slice(0, 60)} → ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body, { statusCode: status, message: res.body.message, name });
      if (message) assert.match(String(res.body.message), message);
    }
    const fifty = await post(
      sim,
      "/resend/emails",
      email({ to: Array.from({ length: 50 }, (_, i) => `g${i}@e.com`) }),
    );
    assert.equal(fifty.status, 200, "50 recipients are allowed");
    assert.equal((await emails(sim)).length, 1);
  });
});

Deno.test("POST /resend/emails enforces the idempotency contract when the same key is reused", async () => {
  await withSim(async (sim) => {
    const headers = (key: string) => ({ authorization: `Bearer ${KEY}`, "idempotency-key": key });
    const first = await post(sim, "/resend/emails", email(), headers("k-1"));
    // Same payload with keys in another order is the same request.
    const reordered = Object.fromEntries(Object.entries(email()).reverse());
    const replay = await post(sim, "/resend/emails", reordered, headers("k-1"));
    assert.equal(replay.status, 200);
    assert.equal(replay.body.id, first.body.id);

    const conflict = await post(sim, "/resend/emails", email({ subject: "Changed" }), headers("k-1"));
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.name, "invalid_idempotent_request");

    const tooLong = await post(sim, "/resend/emails", email(), headers("x".repeat(257)));
    assert.equal(tooLong.status, 400);
    assert.equal(tooLong.body.name, "invalid_idempotency_key");

    // The same key is scoped per API key.
    const other = await post(sim, "/resend/emails", email(), {
      ...headers("k-1"),
      authorization: "Bearer re_other",
    });
    assert.notEqual(other.body.id, first.body.id);
    assert.equal((await emails(sim)).length, 2);

    // Keys expire after 24 h.
    await control(sim, "/clock", { body: { advance_ms: 24 * 3600 * 1000 } });
    const expired = await post(sim, "/resend/emails", email(), headers("k-1"));
    assert.equal(expired.status, 200);
    assert.notEqual(expired.body.id, first.body.id);
    assert.equal((await stats(sim)).duplicate_run_keys, 1, "run 42 was accepted as more than one email");
  });
});

Deno.test("POST /resend/emails answers 409 concurrent_idempotent_requests when the first request is in flight", async () => {
  await withSim(async (sim) => {
    await control(sim, "/config", { body: { provider: "resend", latency_ms: 300 } });
    const headers = { authorization: `Bearer ${KEY}`, "idempotency-key": "slow" };
    const started = performance.now();
    const first = post(sim, "/resend/emails", email(), headers);
    await new Promise((r) => setTimeout(r, 50));
    const second = await post(sim, "/resend/emails", email(), headers);
    assert.equal(second.status, 409);
    assert.equal(second.body.name, "concurrent_idempotent_requests");
    assert.equal((await first).status, 200);
    assert.ok(performance.now() - started >= 290, "the configured latency delays the answer");
    assert.equal((await emails(sim)).length, 1);
  });
});

Deno.test("POST /resend/emails answers 429 with rate-limit headers when the per-key limit is exceeded", async () => {
  await withSim(async (sim) => {
    await control(sim, "/config", { body: { provider: "resend", rate_limit_per_s: 2 } });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await post(sim, "/resend/emails", email()));
    assert.deepEqual(results.map((r) => r.status), [200, 200, 429]);
    const limited = results[2];
    assert.equal(limited.body.name, "rate_limit_exceeded");
    assert.equal(limited.headers.get("ratelimit-limit"), "2");
    assert.equal(limited.headers.get("ratelimit-remaining"), "0");
    assert.equal(limited.headers.get("retry-after"), "1");
    assert.ok(limited.headers.get("ratelimit-reset"));
    assert.equal(results[0].headers.get("ratelimit-remaining"), "1");

    // Another key has its own budget; a per-key override applies to that key only.
    await control(sim, "/config", { body: { provider: "resend", api_key: "re_vip", rate_limit_per_s: 0 } });
    for (let i = 0; i < 5; i++) {
      assert.equal(
        (await post(sim, "/resend/emails", email(), { authorization: "Bearer re_vip" })).status,
        200,
      );
    }
    assert.equal((await stats(sim)).rate_limited, 1);
  });
});

Deno.test("a status fault answers Resend-shaped errors and accepts nothing when injected with count", async () => {
  await withSim(async (sim) => {
    await control(sim, "/faults", { body: { provider: "resend", kind: "status", status: 500, count: 1 } });
    await control(sim, "/faults", {
      body: { provider: "resend", kind: "status", status: 429, retry_after_s: 7, count: 1 },
    });
    const a = await post(sim, "/resend/emails", email());
    assert.equal(a.status, 500);
    assert.deepEqual(a.body, { statusCode: 500, message: a.body.message, name: "application_error" });
    const b = await post(sim, "/resend/emails", email());
    assert.equal(b.status, 429);
    assert.equal(b.body.name, "rate_limit_exceeded");
    assert.equal(b.headers.get("retry-after"), "7");
    const c = await post(sim, "/resend/emails", email());
    assert.equal(c.status, 200);
    assert.equal((await emails(sim)).length, 1);

    const s = await stats(sim);
    assert.equal(s.requests, 3);
    assert.equal(s.faults_injected, 2);
    assert.equal(s.accepted, 1);
    const requests = await control<{ status: number; fault?: string }[]>(sim, "/requests?provider=resend");
    assert.deepEqual(requests.map((r) => [r.status, r.fault]), [[500, "status"], [429, "status"], [
      200,
      undefined,
    ]]);
  });
});

Deno.test("a rate fault hits every request when rate is 1 until DELETE /_sim/faults", async () => {
  await withSim(async (sim) => {
    await control(sim, "/faults", { body: { provider: "resend", kind: "status", status: 503, rate: 1 } });
    for (let i = 0; i < 3; i++) assert.equal((await post(sim, "/resend/emails", email())).status, 503);
    assert.deepEqual(await control(sim, "/faults", { method: "DELETE" }), { removed: 1 });
    assert.equal((await post(sim, "/resend/emails", email())).status, 200);
    assert.equal((await stats(sim)).faults_injected, 3);
  });
});

Deno.test("a reset fault makes fetch reject with a network error after the email is accepted", async () => {
  await withSim(async (sim) => {
    await control(sim, "/faults", { body: { provider: "resend", kind: "reset", count: 1 } });
    // The control call left a pooled keep-alive connection, the case where Deno's fetch would replay a
    // request whose connection closed without a byte: the client must still see the failure.
    await assert.rejects(
      fetch(`${sim.url}/resend/emails`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${KEY}`,
          "content-type": "application/json",
          "idempotency-key": "r-1",
        },
        body: JSON.stringify(email()),
      }),
      TypeError,
    );
    const stored = await emails(sim);
    assert.equal(stored.length, 1, "the provider accepted the email before the connection died");

    // A retry with the same key gets the original email, not a second one.
    const retry = await post(sim, "/resend/emails", email(), {
      authorization: `Bearer ${KEY}`,
      "idempotency-key": "r-1",
    });
    assert.equal(retry.body.id, stored[0].id);
    assert.equal((await emails(sim)).length, 1);
    const requests = await control<{ status: number | null; fault?: string }[]>(sim, "/requests");
    assert.deepEqual(requests.map((r) => [r.status, r.fault]), [[null, "reset"], [200, undefined]]);
  });
});

Deno.test("a zero_bytes reset fault closes without a byte when asked to", async () => {
  await withSim(async (sim) => {
    await control(sim, "/faults", {
      body: { provider: "resend", kind: "reset", zero_bytes: true, count: 1 },
    });
    const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    try {
      await assert.rejects(
        fetch(`${sim.url}/resend/emails`, {
          method: "POST",
          headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
          body: JSON.stringify(email()),
          client,
        }),
        TypeError,
      );
    } finally {
      client.close();
    }
    assert.equal((await emails(sim)).length, 1);
  });
});

Deno.test("Resend SDK reports statusCode null when a reset fault drops the connection", async () => {
  await withSim(async (sim) => {
    await control(sim, "/faults", { body: { provider: "resend", kind: "reset", count: 1 } });
    const resend = new Resend(KEY, { baseUrl: `${sim.url}/resend` });
    const { data, error } = await resend.emails.send({
      from: "hello@studio.example",
      to: "couple@example.com",
      subject: "Hi",
      text: "Hi",
    });
    assert.equal(data, null);
    assert.equal(error?.statusCode, null);
    assert.equal((await emails(sim)).length, 1);
  });
});

Deno.test("a timeout fault accepts the email but answers too late for the client's timeout", async () => {
  await withSim(async (sim) => {
    await control(sim, "/faults", {
      body: { provider: "resend", kind: "timeout", delay_ms: 2000, count: 1 },
    });
    const started = performance.now();
    await assert.rejects(
      fetch(`${sim.url}/resend/emails`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify(email()),
        signal: AbortSignal.timeout(200),
      }),
    );
    assert.ok(performance.now() - started < 1500);
    assert.equal((await emails(sim)).length, 1);
    assert.equal((await stats(sim)).faults_injected, 1);
  });
});

Deno.test("accepted emails trigger Svix-signed email.sent then email.delivered when a webhook is configured", async () => {
  await withReceiver(async ({ url, next }) => {
    await withSim(async (sim) => {
      const secret = newSecret();
      await control(sim, "/config", { body: { provider: "resend", api_key: KEY, webhook: { url, secret } } });
      const sent = await post(sim, "/resend/emails", email());
      const got = await next(2);
      assert.deepEqual(got.map((g) => g.body.type), ["email.sent", "email.delivered"]);
      const ids = new Set<string>();
      for (const g of got) {
        const verified = await verifySvix({ secret, headers: g.headers, rawBody: g.raw });
        ids.add(verified.id);
        assert.match(verified.id, /^msg_[A-Za-z0-9]+$/);
        assert.equal(typeof g.body.created_at, "string");
        assert.deepEqual(g.body.data, {
          email_id: sent.body.id,
          from: "Studio Lumen <hello@studio.example>",
          to: ["couple@example.com"],
          subject: "Welcome",
          created_at: (g.body.data as Record<string, unknown>).created_at,
          tags: [{ name: "run", value: "42" }],
        });
      }
      assert.equal(ids.size, 2, "each event has its own svix-id");

      const recorded = await deliveries(sim, 2);
      assert.deepEqual(recorded.map((d) => [d.type, d.status, d.url, d.email_id]), [
        ["email.sent", 200, url, sent.body.id],
        ["email.delivered", 200, url, sent.body.id],
      ]);
      assert.equal(recorded[0].svix_id, got[0].headers.get("svix-id"));

      // A key without its own webhook and no default: nothing is sent.
      await post(sim, "/resend/emails", email(), { authorization: "Bearer re_unwired" });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await control<unknown[]>(sim, "/webhooks")).length, 2);
    });
  });
});

Deno.test("POST /_sim/resend/emails/:id/events fires one event N times with the same svix-id", async () => {
  await withReceiver(async ({ url, received }) => {
    await withSim(async (sim) => {
      const secret = newSecret();
      await control(sim, "/config", { body: { provider: "resend", webhook: { url, secret, events: [] } } });
      const sent = await post(sim, "/resend/emails", email());
      const fired = await control<{ svix_id: string; statuses: number[] }>(
        sim,
        `/resend/emails/${sent.body.id}/events`,
        {
          body: {
            type: "email.bounced",
            times: 3,
            data: { bounce: { message: "no such user", subType: "General", type: "Permanent" } },
          },
        },
      );
      assert.deepEqual(fired.statuses, [200, 200, 200]);
      assert.equal(received.length, 3);
      for (const r of received) {
        assert.equal(r.headers.get("svix-id"), fired.svix_id);
        await verifySvix({ secret, headers: r.headers, rawBody: r.raw });
        assert.equal(r.body.type, "email.bounced");
        assert.deepEqual((r.body.data as Record<string, unknown>).bounce, {
          message: "no such user",
          subType: "General",
          type: "Permanent",
        });
      }
      const view = await control(sim, `/resend/emails/${sent.body.id}`);
      assert.equal(view.last_event, "bounced");
    });
  });
});

Deno.test("webhook deliveries are retried after the configured delays when the receiver answers 5xx", async () => {
  await withReceiver(async ({ url, next }) => {
    await withSim(async (sim) => {
      const webhook = { url, secret: newSecret(), events: ["email.delivered"], retry_delays_ms: [50, 50] };
      await control(sim, "/config", { body: { provider: "resend", webhook } });
      await post(sim, "/resend/emails", email());
      const got = await next(3);
      assert.equal(new Set(got.map((g) => g.headers.get("svix-id"))).size, 1, "a retry keeps the svix-id");
      let deliveries: { attempt: number; status: number }[] = [];
      for (let i = 0; i < 50 && deliveries.length < 3; i++) {
        await new Promise((r) => setTimeout(r, 10));
        deliveries = await control(sim, "/webhooks");
      }
      assert.deepEqual(deliveries.map((d) => [d.attempt, d.status]), [[1, 500], [2, 500], [3, 200]]);
      const s = await stats(sim);
      assert.equal(s.webhooks_sent, 3);
      assert.equal(s.webhooks_failed, 2);
    });
  }, (n) => (n < 3 ? 500 : 200));
});

Deno.test("POST /resend/emails/batch accepts every email when all are valid and reports errors in permissive mode", async () => {
  await withSim(async (sim) => {
    const ok = await post(sim, "/resend/emails/batch", [email(), email({ to: "b@example.com" })]);
    assert.equal(ok.status, 200);
    assert.equal((ok.body.data as unknown[]).length, 2);

    const strict = await post(sim, "/resend/emails/batch", [email(), email({ from: "bad" })]);
    assert.equal(strict.status, 422);
    assert.equal(strict.body.name, "invalid_from_address");

    const permissive = await post(sim, "/resend/emails/batch", [email(), email({ from: "bad" })], {
      authorization: `Bearer ${KEY}`,
      "x-batch-validation": "permissive",
    });
    assert.equal(permissive.status, 200);
    assert.equal((permissive.body.data as unknown[]).length, 1);
    assert.deepEqual((permissive.body.errors as { index: number }[]).map((e) => e.index), [1]);
    assert.equal((await emails(sim)).length, 3);
  });
});

Deno.test("GET /_sim/requests redacts the API key and records the parsed body when requests arrive", async () => {
  await withSim(async (sim) => {
    await post(sim, "/resend/emails", email());
    const [rec] = await control<Record<string, unknown>[]>(sim, "/requests?provider=resend");
    assert.equal(rec.seq, 1);
    assert.equal(rec.provider, "resend");
    assert.equal(rec.method, "POST");
    assert.equal(rec.path, "/emails");
    assert.equal(rec.status, 200);
    assert.equal(typeof rec.received_at_ms, "number");
    assert.deepEqual(rec.body, email());
    const headers = rec.headers as Record<string, string>;
    assert.equal(headers.authorization, "Bearer re_tes…");
    assert.ok(!JSON.stringify(rec).includes(KEY));
    assert.deepEqual(await control(sim, "/requests?since=1"), []);
  });
});

Deno.test("POST /_sim/reset forgets emails, faults, keys and configuration when called", async () => {
  await withSim(async (sim) => {
    await control(sim, "/config", { body: { provider: "resend", latency_ms: 20, invalid_keys: [KEY] } });
    await control(sim, "/faults", { body: { provider: "resend", kind: "status", status: 500, rate: 0.5 } });
    await post(sim, "/resend/emails", email(), { authorization: "Bearer re_a", "idempotency-key": "k" });
    await control(sim, "/reset", { body: {} });
    assert.deepEqual(await control(sim, "/faults"), []);
    assert.deepEqual(await control(sim, "/requests"), []);
    assert.deepEqual(await emails(sim), []);
    const config = await control(sim, "/config?provider=resend");
    assert.equal(config.latency_ms, 0);
    assert.deepEqual(config.invalid_keys, []);
    const res = await post(sim, "/resend/emails", email({ subject: "new" }), {
      authorization: "Bearer re_a",
      "idempotency-key": "k",
    });
    assert.equal(res.status, 200, "the idempotency key was forgotten");
    assert.deepEqual(await stats(sim), {
      requests: 1,
      faults_injected: 0,
      accepted: 1,
      duplicate_run_keys: 0,
      idempotent_replays: 0,
      rate_limited: 0,
      webhooks_sent: 0,
      webhooks_failed: 0,
    });
  });
});

Deno.test("the control API answers 400 with the reason when its input is invalid", async () => {
  await withSim(async (sim) => {
    const bad: [string, unknown][] = [
      ["/config", { provider: "nope" }],
      ["/config", { provider: "resend", webhook: { url: "ftp://x", secret: newSecret() } }],
      ["/config", { provider: "resend", webhook: { url: "http://127.0.0.1:1/", secret: "plain" } }],
      ["/faults", { provider: "resend", kind: "explode" }],
      ["/faults", { provider: "resend", kind: "status", count: 1, rate: 0.5 }],
      ["/faults", { provider: "resend", kind: "status", rate: 2 }],
    ];
    for (const [path, body] of bad) {
      const res = await fetch(`${sim.url}/_sim${path}`, { method: "POST", body: JSON.stringify(body) });
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
      assert.equal(typeof (await res.json()).error, "string");
    }
    const unknown = await fetch(`${sim.url}/_sim/resend/emails/nope/events`, {
      method: "POST",
      body: JSON.stringify({ type: "email.opened" }),
    });
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
  });
});

Deno.test("the simulator sustains concurrent sends with latency when many clients call at once", async () => {
  await withSim(async (sim) => {
    await control(sim, "/config", { body: { provider: "resend", latency_ms: 50 } });
    const started = performance.now();
    let done = 0;
    await Promise.all(Array.from({ length: 100 }, async (_, worker) => {
      for (let i = 0; i < 10; i++) {
        const res = await post(
          sim,
          "/resend/emails",
          email({ tags: [{ name: "run", value: `${worker}-${i}` }] }),
          {
            authorization: `Bearer ${KEY}`,
            "idempotency-key": `${worker}-${i}`,
          },
        );
        assert.equal(res.status, 200);
        done++;
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    assert.equal(done, 1000);
    assert.ok(seconds < 5, `1000 sends at 50 ms latency took ${seconds.toFixed(2)} s`);
    const s = await stats(sim);
    assert.equal(s.accepted, 1000);
    assert.equal(s.duplicate_run_keys, 0);
  });
});

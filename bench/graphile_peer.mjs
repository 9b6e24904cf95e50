// The benchmark's peer: graphile-worker (run by Node) executing a task that makes the same Resend call to
// the simulator as module-email, at the same concurrency, on the same Postgres in its own schema.
// Driven over stdin/stdout by bench/peer.ts: prints "ready" once the worker listens, stops on stdin's end.
import { Logger, run } from "graphile-worker";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new TypeError(`Cannot start the graphile-worker peer: ${name} is not set`);
  return value;
};
const connectionString = env("PEER_DB_URL");
const resendUrl = env("PEER_RESEND_URL");
const concurrency = Number(env("PEER_CONCURRENCY"));
const schema = process.env.PEER_SCHEMA ?? "graphile_worker";

/** The task: the same POST /emails with an idempotency key as our Resend adapter sends. */
async function sendEmail(payload) {
  const res = await fetch(`${resendUrl}/emails`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      authorization: `Bearer ${payload.api_key}`,
      "idempotency-key": payload.key,
    },
    body: JSON.stringify(payload.email),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`Resend answered ${res.status}: ${text.slice(0, 200)}`);
}

const runner = await run({
  connectionString,
  schema,
  concurrency,
  // Graphile's documented throughput settings: a local queue and batched completions.
  maxPoolSize: Math.max(10, concurrency + 2),
  pollInterval: 1000,
  noHandleSignals: true,
  preset: {
    worker: {
      localQueue: { size: concurrency + 1 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0,
    },
  },
  // Errors only: stdout is the line protocol with the bench, and per-job logging would cost the peer CPU.
  logger: new Logger(() => (level, message) => {
    if (level === "error") console.error(`[graphile-worker] ${message}`);
  }),
  taskList: { send_email: sendEmail },
});
process.stdout.write("ready\n");
process.stdin.resume();
process.stdin.on("end", async () => {
  await runner.stop();
  process.exit(0);
});

// The side-by-side peer: graphile-worker (bench/graphile_peer.mjs under Node) draining the same number
// of jobs that each make the same simulator call, at the same concurrency, on the same Postgres.
import { fileURLToPath } from "node:url";
import { dbUrl, simulatorUrl } from "../stack/config.ts";
import {
  BENCH_TEMPLATE,
  type BenchScenario,
  type DrainResult,
  openLoopDriver,
  type OpenLoopResult,
  openLoopSummary,
  receivedAt,
  type Warmup,
} from "./workloads.ts";
import { cpuSeconds } from "./measure.ts";

const SCHEMA = "graphile_worker";
const script = fileURLToPath(new URL("./graphile_peer.mjs", import.meta.url));

/** What the peer's drain measured, with the Node process's own CPU time. */
export type PeerResult = DrainResult & { version: string; node: string; peer_cpu_s: number };

async function readLine(reader: ReadableStreamDefaultReader<string>, timeoutMs: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the graphile-worker peer did not start")), timeoutMs);
  });
  try {
    const { value } = await Promise.race([reader.read(), timeout]);
    return value ?? "";
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the graphile-worker peer with `concurrency`, runs `work` while it listens, stops it and drops
 * its schema; `work` gets the Node process's pid (for its CPU time). */
async function withPeer<T>(concurrency: number, work: (pid: number) => Promise<T>): Promise<T> {
  const child = new Deno.Command("node", {
    args: [script],
    env: {
      PEER_DB_URL: dbUrl(),
      PEER_RESEND_URL: `${simulatorUrl}/resend`,
      PEER_CONCURRENCY: String(concurrency),
      PEER_SCHEMA: SCHEMA,
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const ready = await readLine(lines, 60_000);
    if (!ready.includes("ready")) throw new Error(`the graphile-worker peer said ${ready}`);
    return await work(child.pid);
  } finally {
    await stdin.close().catch(() => {});
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await child.status;
    clearTimeout(timer);
    await lines.cancel().catch(() => {});
  }
}

async function peerVersions(): Promise<{ version: string; node: string }> {
  const versionText = await Deno.readTextFile(
    fileURLToPath(new URL("../node_modules/graphile-worker/package.json", import.meta.url)),
  );
  const node = await new Deno.Command("node", { args: ["--version"] }).output();
  return { version: JSON.parse(versionText).version, node: new TextDecoder().decode(node.stdout).trim() };
}

/**
 * Starts graphile-worker with `concurrency`, adds `n` jobs in one statement (the same email each of
 * our runs sends, rendered in SQL), and measures until none is left; drops its schema afterwards.
 */
export async function graphileDrain(
  s: BenchScenario,
  n: number,
  concurrency: number,
  timeoutMs: number,
): Promise<PeerResult> {
  try {
    return await withPeer(concurrency, async (pid) => {
      const cpuBefore = await cpuSeconds(pid);
      const started = Date.now();
      await s.sql.unsafe(
        `select count(${SCHEMA}.add_job('send_email', json_build_object(
          'api_key', $1::text,
          'key', format('graphile:%s:%s', $2::text, g),
          'email', json_build_object(
            'from', s.email_from, 'to', c.email, 'reply_to', s.reply_to,
            'subject', replace($3::text, '{{supplier_name}}', s.name),
            'html', replace(replace(replace(replace($4::text, '{{couple_name}}', c.couple_name),
              '{{wedding_date}}', to_char(c.wedding_date, 'FMDD FMMonth YYYY')), '{{venue}}', c.venue),
              '{{supplier_name}}', s.name),
            'tags', json_build_array(
              json_build_object('name', 'module', 'value', 'email'),
              json_build_object('name', 'supplier', 'value', s.id),
              json_build_object('name', 'job', 'value', g::text))))))
        from generate_series(0, $5::int - 1) g
        join public.suppliers s on s.id = $6::uuid
        join public.clients c on c.id = ($7::uuid[])[1 + g % $8::int]`,
        [
          s.apiKey,
          crypto.randomUUID(),
          BENCH_TEMPLATE.subject,
          BENCH_TEMPLATE.html,
          n,
          s.supplierId,
          s.clientIds as unknown as string,
          s.clientIds.length,
        ],
      );
      const committed = Date.now();
      const deadline = committed + timeoutMs;
      let left = n;
      while (left > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        const [row] = await s.sql.unsafe<{ n: number }[]>(
          `select count(*)::int as n from ${SCHEMA}._private_jobs`,
        );
        left = row.n;
      }
      const seconds = (Date.now() - committed) / 1000;
      const peerCpu = await cpuSeconds(pid);
      return {
        runs: n,
        transition_seconds: Math.round((committed - started) / 10) / 100,
        succeeded: n - left,
        seconds: Math.round(seconds * 100) / 100,
        runs_per_s: Math.round((n - left) / seconds),
        open: left,
        ...(await peerVersions()),
        peer_cpu_s: Math.round((peerCpu - cpuBefore) * 10) / 10,
      };
    });
  } finally {
    await s.sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
  }
}

/** The peer's open loop, with the Node process's own CPU time. */
export type PeerOpenLoopResult = OpenLoopResult & { version: string; peer_cpu_s: number };

/**
 * The open-loop workload for graphile-worker: one transition per transaction at `rate` per second, an
 * insert into a table of its own whose row trigger calls `graphile_worker.add_job` with the same email
 * (rendered in SQL, as the drain's jobs), from the same pool of connections. Latency is from the
 * insert's commit clock to the simulator receiving the job's request.
 */
export async function graphileOpenLoop(
  s: BenchScenario,
  rate: number,
  seconds: number,
  concurrency: number,
  timeoutMs: number,
  warmup?: Warmup,
  connections?: number,
): Promise<PeerOpenLoopResult> {
  try {
    return await withPeer(concurrency, async (pid) => {
      const batch = crypto.randomUUID();
      await s.sql.unsafe(`
        create schema if not exists graphile_bench;
        create table graphile_bench.transitions (
          id bigint generated always as identity primary key,
          supplier_id uuid not null, client_id uuid not null, batch text not null);
        create function graphile_bench.enqueue() returns trigger language plpgsql as $fn$
        begin
          perform ${SCHEMA}.add_job('send_email', json_build_object(
            'api_key', si.api_key,
            'key', format('graphile:%s:%s', new.batch, new.id),
            'email', json_build_object(
              'from', s.email_from, 'to', c.email, 'reply_to', s.reply_to,
              'subject', replace(si.subject, '{{supplier_name}}', s.name),
              'html', replace(replace(replace(replace(si.html, '{{couple_name}}', c.couple_name),
                '{{wedding_date}}', to_char(c.wedding_date, 'FMDD FMMonth YYYY')), '{{venue}}', c.venue),
                '{{supplier_name}}', s.name),
              'tags', json_build_array(
                json_build_object('name', 'module', 'value', 'email'),
                json_build_object('name', 'supplier', 'value', s.id),
                json_build_object('name', 'gjob', 'value', new.id::text)))))
          from public.suppliers s, public.clients c, graphile_bench.settings si
          where s.id = new.supplier_id and c.id = new.client_id;
          return null;
        end $fn$;
        create table graphile_bench.settings (api_key text, subject text, html text);
        create trigger enqueue after insert on graphile_bench.transitions
          for each row execute function graphile_bench.enqueue();`);
      await s
        .sql`insert into graphile_bench.settings values (${s.apiKey}, ${BENCH_TEMPLATE.subject}, ${BENCH_TEMPLATE.html})`;
      const since = Date.now();
      let cpuBefore = await cpuSeconds(pid);
      const window = {
        seconds: warmup?.seconds ?? 0,
        onWindow: async () => {
          cpuBefore = await cpuSeconds(pid);
          await warmup?.onWindow?.();
        },
      };
      const transitions = await openLoopDriver(
        rate,
        seconds,
        async (driver, i) => {
          const [row] = await driver<{ id: string; at_ms: number }[]>`
          insert into graphile_bench.transitions (supplier_id, client_id, batch)
          values (${s.supplierId}::uuid, ${s.clientIds[i % s.clientIds.length]}::uuid, ${batch})
          returning id::text, (extract(epoch from clock_timestamp()) * 1000)::float8 as at_ms`;
          return [row.id, row.at_ms];
        },
        window,
        connections,
      );
      const deadline = Date.now() + timeoutMs;
      let left = Infinity;
      while (left > 0 && Date.now() < deadline) {
        const [row] = await s.sql.unsafe<{ n: number }[]>(
          `select count(*)::int as n from ${SCHEMA}._private_jobs`,
        );
        left = row.n;
        if (left > 0) await new Promise((r) => setTimeout(r, 100));
      }
      const peerCpu = await cpuSeconds(pid);
      const received = await receivedAt(since, "gjob");
      const receivedByKey = new Map([...received].map(([id, at]) => [String(id), at]));
      return {
        ...openLoopSummary(rate, seconds, transitions, receivedByKey, left),
        version: (await peerVersions()).version,
        peer_cpu_s: Math.round((peerCpu - cpuBefore) * 10) / 10,
      };
    });
  } finally {
    await s.sql.unsafe(
      `drop schema if exists graphile_bench cascade; drop schema if exists ${SCHEMA} cascade`,
    );
  }
}

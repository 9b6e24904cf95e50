// The side-by-side peer: graphile-worker (bench/graphile_peer.mjs under Node) draining the same number
// of jobs that each make the same simulator call, at the same concurrency, on the same Postgres.
import { fileURLToPath } from "node:url";
import { dbUrl, simulatorUrl } from "../stack/config.ts";
import { BENCH_TEMPLATE, type BenchScenario, type DrainResult } from "./workloads.ts";
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
    const cpuBefore = await cpuSeconds(child.pid);
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
    const peerCpu = await cpuSeconds(child.pid);
    const versionText = await Deno.readTextFile(
      fileURLToPath(new URL("../node_modules/graphile-worker/package.json", import.meta.url)),
    );
    const node = await new Deno.Command("node", { args: ["--version"] }).output();
    return {
      runs: n,
      succeeded: n - left,
      seconds: Math.round(seconds * 100) / 100,
      runs_per_s: Math.round((n - left) / seconds),
      open: left,
      version: JSON.parse(versionText).version,
      node: new TextDecoder().decode(node.stdout).trim(),
      peer_cpu_s: Math.round((peerCpu - cpuBefore) * 10) / 10,
    };
  } finally {
    await stdin.close().catch(() => {});
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await child.status;
    clearTimeout(timer);
    await lines.cancel().catch(() => {});
    await s.sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
  }
}

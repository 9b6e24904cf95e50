// `npm test`: brings up what the tests need, runs every suite (Deno and pgTAP) and ends with one line
// `N passed, N failed` summing them all.
import { dbCredentials } from "../stack/config.ts";
import { cloneDatabase, daemonPid, down, prepareTemplate, up } from "../stack/cli.ts";
import { dropDatabase, withSql } from "../stack/postgres.ts";

const TEMPLATE = "journeys_template";
type Tally = { passed: number; failed: number };

/** Runs a command, streaming its output, and returns it (colour off, so it can be parsed). */
async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; text: string }> {
  const child = new Deno.Command(cmd, {
    args,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      await sink.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  return { code: status.code, text };
}

/** Deno's summary line: `ok | 12 passed (3 steps) | 0 failed` or `FAILED | 10 passed | 2 failed`. */
function denoTally(text: string, code: number): Tally {
  const m = /(?:^|\n)(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(text);
  if (!m) return { passed: 0, failed: code === 0 ? 0 : 1 };
  return { passed: Number(m[1]), failed: Number(m[2]) || (code === 0 ? 0 : 1) };
}

/** TAP lines from pg_prove --verbose; a file that died before its plan counts as one failure. */
function tapTally(text: string, code: number): Tally {
  const passed = (text.match(/^ok \d+/gm) ?? []).length;
  const failed = (text.match(/^not ok \d+/gm) ?? []).length;
  return { passed, failed: failed || (code === 0 ? 0 : 1) };
}

const log = (line: string) => console.log(`[stack] ${line}`);
const wasRunning = (await daemonPid()) !== undefined;
const total: Tally = { passed: 0, failed: 0 };
const add = (t: Tally) => {
  total.passed += t.passed;
  total.failed += t.failed;
};

try {
  await up({ log });
  await prepareTemplate(TEMPLATE, { log });

  const deno = await run(Deno.execPath(), [
    "test",
    "-A",
    "tests/unit",
    "tests/integration",
    "tests/e2e",
    "tests/hardening",
  ], {
    TEST_TEMPLATE_DB: TEMPLATE,
  });
  add(denoTally(deno.text, deno.code));

  const pgtapDb = `pgtap_${Date.now()}`;
  const url = await cloneDatabase(pgtapDb, TEMPLATE);
  try {
    await withSql(url, (sql) => sql`create extension if not exists pgtap`);
    const files: string[] = [];
    for await (const f of Deno.readDir("tests/sql")) {
      if (f.name.endsWith(".sql")) files.push(`tests/sql/${f.name}`);
    }
    const tap = await run("pg_prove", ["--verbose", "--dbname", url, ...files.sort()], {
      PGPASSWORD: dbCredentials.password,
    });
    add(tapTally(tap.text, tap.code));
  } finally {
    await dropDatabase(pgtapDb);
  }
} catch (error) {
  console.error(`test run failed: ${error instanceof Error ? error.stack ?? error.message : error}`);
  total.failed += 1;
} finally {
  if (!wasRunning && !Deno.env.get("KEEP_STACK")) await down({ log }).catch(() => {});
}

console.log(`${total.passed} passed, ${total.failed} failed`);
Deno.exit(total.failed === 0 ? 0 : 1);

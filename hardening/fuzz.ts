// `npm run fuzz`: every public endpoint gets thousands of malformed requests through the local gateway;
// writes hardening/results/fuzz.json and the README figures. Options: --seed=N --requests=N --concurrency=N
// --only=<function>[,<function>].
import { parseArgs } from "node:util";
import { stackDb } from "../tests/helpers/stack.ts";
import { publishReadmeBlock } from "../scripts/readme_block.ts";
import { createFuzzContext, dropFuzzContext, ENDPOINTS } from "./fuzz_endpoints.ts";
import { clean, type EndpointResult, fuzzEndpoint, logErrorsSince, quiesced } from "./fuzz_run.ts";
import { restart } from "../stack/cli.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seed: { type: "string" },
    requests: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "8" },
    only: { type: "string" },
  },
});
const seed = values.seed ? Number(values.seed) : crypto.getRandomValues(new Uint32Array(1))[0];
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const only = values.only?.split(",");
const endpoints = ENDPOINTS.filter((e) => !only || only.includes(e.name));
console.log(
  `fuzz: seed ${seed}, ${requests} requests per endpoint, ${endpoints.length} endpoints, concurrency ${concurrency}`,
);
console.log(
  `replay: npm run fuzz -- --seed=${seed} --requests=${requests}${only ? ` --only=${only.join(",")}` : ""}`,
);

const sql = stackDb();
const started = Date.now();
let results: EndpointResult[] = [];
try {
  const ctx = await createFuzzContext(sql);
  try {
    results = await quiesced(sql, async () => {
      const out: EndpointResult[] = [];
      for (const spec of endpoints) {
        out.push(
          await fuzzEndpoint(sql, ctx, spec, ENDPOINTS.indexOf(spec), {
            seed,
            requests,
            concurrency,
            log: console.log,
          }),
        );
      }
      return out;
    });
  } finally {
    await dropFuzzContext(sql, ctx);
  }
} finally {
  await sql.end();
}

// Function processes may hold their output until they exit: restart them, then read every log again.
console.log("fuzz: restarting the stack to flush the functions' logs");
await restart({ log: () => {} });
for (const r of results) r.log_errors = (await logErrorsSince(r.endpoint, r.log_offset)).slice(0, 10);

const total = results.reduce(
  (t, r) => ({
    requests: t.requests + r.requests,
    s2xx: t.s2xx + r.s2xx,
    s4xx: t.s4xx + r.s4xx,
    s413: t.s413 + r.s413,
    s5xx: t.s5xx + r.s5xx,
    no_answer: t.no_answer + r.no_answer,
    rows_written: t.rows_written + r.rows_written,
    crashes: t.crashes + r.crashes,
  }),
  { requests: 0, s2xx: 0, s4xx: 0, s413: 0, s5xx: 0, no_answer: 0, rows_written: 0, crashes: 0 },
);
const failing = results.filter((r) => !clean(r)).map((r) => r.endpoint);
const minutes = Math.round((Date.now() - started) / 6000) / 10;

if (!only) {
  await Deno.mkdir("hardening/results", { recursive: true });
  await Deno.writeTextFile(
    "hardening/results/fuzz.json",
    `${
      JSON.stringify(
        {
          seed,
          requests_per_endpoint: requests,
          concurrency,
          minutes,
          at: new Date().toISOString(),
          total,
          failing,
          endpoints: results,
        },
        null,
        2,
      )
    }\n`,
  );
  const rows = results.map((r) =>
    `| ${r.endpoint} | ${r.requests} | ${r.s2xx} | ${r.s4xx} | ${r.s413} | ${r.s5xx} | ${r.no_answer} | ${r.rows_written} | ${r.crashes} |`
  );
  await publishReadmeBlock(
    "README.md",
    "fuzz",
    [
      `Seed ${seed}, ${requests} malformed requests per endpoint (${total.requests} in all, ${minutes} min). ` +
      `Endpoints breaking a rule: ${failing.length ? failing.join(", ") : "none"}.`,
      "",
      "| endpoint | requests | 2xx | 4xx | 413 | 5xx | no answer | rows written | crashes |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
      ...rows,
      `| **all** | ${total.requests} | ${total.s2xx} | ${total.s4xx} | ${total.s413} | ${total.s5xx} | ${total.no_answer} | ${total.rows_written} | ${total.crashes} |`,
    ].join("\n"),
  );
}
console.log(
  `fuzz: ${total.requests} requests in ${minutes} min; failing endpoints: ${
    failing.length ? failing.join(", ") : "none"
  }`,
);
if (only) { for (const r of results) console.log(`${r.endpoint} answers: ${JSON.stringify(r.codes)}`); }
for (const r of results.filter((r) => !clean(r))) {
  console.log(
    `${r.endpoint}: tables ${JSON.stringify(r.tables_written)} log ${
      JSON.stringify(r.log_errors.slice(0, 3))
    }`,
  );
  for (const f of r.findings.slice(0, 5)) {
    console.log(`  request ${f.index} (${f.category}) ${f.method} ${f.target} -> ${f.status ?? f.error}`);
  }
}
Deno.exit(failing.length ? 1 : 0);

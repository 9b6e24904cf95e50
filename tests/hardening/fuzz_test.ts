// The fuzz suite's reduced form in `npm test`: a fixed seed and 50 malformed requests per public endpoint,
// with the full run's assertions (no 5xx, no crash, no row written, oversized bodies 413).
import assert from "node:assert/strict";
import { stackDb } from "../helpers/stack.ts";
import { createFuzzContext, dropFuzzContext, ENDPOINTS } from "../../hardening/fuzz_endpoints.ts";
import { fuzzEndpoint, quiesced } from "../../hardening/fuzz_run.ts";

const SEED = 20261126;
const REQUESTS = 50;

for (const [index, spec] of ENDPOINTS.entries()) {
  Deno.test(`fuzzEndpoint() finds no 5xx, crash or written row when ${spec.name} gets ${REQUESTS} malformed requests`, async () => {
    const sql = stackDb();
    try {
      const ctx = await createFuzzContext(sql);
      try {
        const r = await quiesced(
          sql,
          () => fuzzEndpoint(sql, ctx, spec, index, { seed: SEED, requests: REQUESTS, concurrency: 4 }),
        );
        const replay = `replay: npm run fuzz -- --seed=${SEED} --requests=${REQUESTS} --only=${spec.name}`;
        assert.equal(r.requests, REQUESTS);
        assert.deepEqual(
          r.findings,
          [],
          `requests answered 5xx, not at all, or oversized without 413 (${replay})`,
        );
        assert.equal(r.s5xx, 0, replay);
        assert.equal(r.no_answer, 0, replay);
        assert.deepEqual(r.tables_written, {}, `rows written by rejected requests (${replay})`);
        assert.equal(r.crashes, 0, `${spec.name} restarted (${replay})`);
        assert.deepEqual(r.log_errors, [], replay);
      } finally {
        await dropFuzzContext(sql, ctx);
      }
    } finally {
      await sql.end();
    }
  });
}

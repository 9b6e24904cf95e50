// The full chaos suite (npm run chaos): 5,000 runs under provider faults, three kill -9 of module functions
// and a Postgres restart; prints the figures, writes hardening/results/chaos.json and the README block.
import { publishReadmeBlock } from "../scripts/readme_block.ts";
import { table } from "../bench/report.ts";
import { type ChaosFigures, FAULT_MIX, runChaos } from "./chaos_scenario.ts";

/** The figures as the README and the terminal show them. */
export function figuresTable(f: ChaosFigures): string {
  const dead = Object.entries(f.dead_by_reason).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  return table([
    ["figure", "value"],
    ["runs (transitions → runs)", `${f.runs} (${f.instances} journeys of 2 steps)`],
    ["runs by provider", Object.entries(f.by_provider).map(([k, v]) => `${k} ${v}`).join(", ")],
    ["provider requests", f.provider_requests],
    [
      "faults injected",
      `5xx ${f.faults_injected.status_5xx}, 429 ${f.faults_injected.status_429}, timeout ${f.faults_injected.timeout}, reset ${f.faults_injected.reset}`,
    ],
    ["retries (attempts beyond the first)", f.retries],
    ["succeeded", f.succeeded],
    ["skipped", f.skipped],
    ["dead (by reason)", `${f.dead} (${dead})`],
    ["unknown outcomes reconciled", f.unknown_reconciled],
    ["duplicates (runs accepted > 1 time)", `${f.duplicates} (${f.extra_sends} extra sends)`],
    ["succeeded without an accepted send", f.succeeded_unsent],
    [
      "lost (not terminal + transitions without their run)",
      `${f.lost} (${f.not_terminal} + ${f.lost_transitions})`,
    ],
    ["wall time", `${f.wall_s} s`],
    ["kill -9 of module functions (restarts seen)", `${f.kills} (${f.function_restarts})`],
    ["Postgres restarts (cron sweeps after)", `${f.pg_restarts} (${f.cron_sweeps_after_restart ?? "-"})`],
  ]);
}

if (import.meta.main) {
  const instances = Number(Deno.args[0] ?? 2500);
  const f = await runChaos({
    instances,
    kills: [{ at: 0.2, fn: "module-email" }, { at: 0.55, fn: "module-sms" }, {
      at: 0.85,
      fn: "module-email",
    }],
    pgRestartAt: 0.4,
    unknownDeadlineS: 30,
    // Backoff 1 s, 2 s, 4 s, 8 s instead of production's 5 s base: the same retries, a shorter tail.
    retryBaseS: 1,
    settleTimeoutMs: 15 * 60_000,
  });
  const text = figuresTable(f);
  console.log(text);
  if (instances === 2500) {
    await Deno.mkdir("hardening/results", { recursive: true });
    await Deno.writeTextFile(
      "hardening/results/chaos.json",
      JSON.stringify({ at: new Date().toISOString(), fault_mix: FAULT_MIX, ...f }, null, 2) + "\n",
    );
    await publishReadmeBlock(
      "README.md",
      "chaos",
      `Latest full run (${
        new Date().toISOString().slice(0, 10)
      }, \`npm run chaos\`):\n\n\`\`\`\n${text}\n\`\`\``,
    );
  }
  const faultless = Object.entries(f.faults_injected).filter(([, n]) => n === 0).map(([kind]) => kind);
  const ok = f.lost === 0 && f.duplicates === 0 && f.succeeded_unsent === 0 && faultless.length === 0;
  if (!ok) {
    console.error(
      `chaos: FAILED (lost, duplicated or unsent runs above${
        faultless.length ? `; no ${faultless.join(", ")} fault injected` : ""
      })`,
    );
  }
  Deno.exit(ok ? 0 : 1);
}

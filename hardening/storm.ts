// `npm run storm`: 10,000 signed webhooks in 60 s at the ten receivers, audited for exactly-once
// processing; writes hardening/results/storm.json and the README's storm block.
import { up } from "../stack/cli.ts";
import { root } from "../stack/config.ts";
import { publishReadmeBlock } from "../scripts/readme_block.ts";
import { stackDb } from "../tests/helpers/stack.ts";
import { runStorm, type StormAudit } from "./storm_plan.ts";

const WEBHOOKS = Number(Deno.env.get("STORM_WEBHOOKS") ?? 10_000);
const DURATION_MS = Number(Deno.env.get("STORM_SECONDS") ?? 60) * 1000;

/** The README block: what was sent, what had to hold (deliveries, then bookings, forms and CRM changes), latency. */
function figures(a: StormAudit, load: number[]): string {
  const ms = (x: { p50: number; p95: number; p99: number }) => `${x.p50} / ${x.p95} / ${x.p99}`;
  const s = a.sideEffects;
  const rows = [
    [
      "Webhooks sent (distinct events + exact duplicates)",
      `${a.webhooks} (${a.distinctEvents} + ${a.duplicatesSent})`,
    ],
    ["Achieved rate (open loop)", `${a.achievedRate}/s over ${DURATION_MS / 1000} s`],
    [
      "Deliveries (recorded during the storm / out-of-order statuses)",
      `${a.deliveries} (${a.waitingDeliveries} / ${a.outOfOrderDeliveries})`,
    ],
    [
      "Delivery inbox rows (processed / ignored status-less types / unprocessed)",
      `${a.inbox.rows} (${a.inbox.processed} / ${a.inbox.ignored} / ${a.inbox.unprocessed})`,
    ],
    ["Events lost", String(a.lostEvents)],
    ["delivery_events beyond one per event", String(a.duplicateDeliveryEvents)],
    ["Wrong final statuses", String(a.wrongFinalStatus)],
    ["Suppressions (expected / found)", `${a.suppressions.expected} / ${a.suppressions.found}`],
    [
      "Meetings / form requests / couples (subjects per receiver)",
      Object.entries(s.subjects).map(([r, n]) => `${r}: ${n}`).join(", "),
    ],
    ["Booking and CRM inbox rows (lost / extra)", `${s.inboxRows} (${s.lostEvents} / ${s.extraInboxRows})`],
    [
      "Wrong meetings / journeys after bookings / reminders",
      `${s.wrongMeetings} / ${s.wrongJourneys} / ${s.wrongReminders}`,
    ],
    ["Wrong form requests / couples / CRM echoes", `${s.wrongForms} / ${s.wrongCouples} / ${s.crmEchoes}`],
    ["5xx or unanswered / unexpected 4xx", `${a.http5xx} / ${a.unexpected4xx}`],
    ["Answers by HTTP status", Object.entries(a.answers).map(([s, n]) => `${s}: ${n}`).join(", ")],
    ["Receiver latency p50 / p95 / p99 (ms), all", ms(a.latencyMs)],
    ...Object.entries(a.byProvider).map((
      [p, x],
    ) => [`… ${p === "crm-inbound" ? p : `webhook-${p}`} (${x.webhooks})`, ms(x)]),
    [
      "Machine load average at the start (1 / 5 / 15 min, 2 cores)",
      load.map((x) => x.toFixed(1)).join(" / "),
    ],
  ];
  return [
    `Latest full run (${new Date().toISOString().slice(0, 10)}): ${
      a.problems.length === 0 ? "passed" : "FAILED"
    }.`,
    "",
    "| Figure | Value |",
    "| --- | --- |",
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
  ].join("\n");
}

await up({ log: (line) => console.log(`[stack] ${line}`) });
const sql = stackDb();
// Other stacks may share the machine: the load average says how much the latency figures owe to them.
const loadBefore = Deno.loadavg();
try {
  const audit = await runStorm(sql, { webhooks: WEBHOOKS, durationMs: DURATION_MS, runsPerSupplier: 40 });
  await Deno.mkdir(`${root}/hardening/results`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/hardening/results/storm.json`,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        planned: { webhooks: WEBHOOKS, duration_ms: DURATION_MS },
        load_average: { before: loadBefore, after: Deno.loadavg() },
        ...audit,
      },
      null,
      2,
    ) +
      "\n",
  );
  const table = figures(audit, loadBefore);
  await publishReadmeBlock(`${root}/README.md`, "storm", table);
  console.log(table);
  if (audit.problems.length > 0) {
    console.error(`Storm failed:\n${audit.problems.join("\n")}`);
    Deno.exitCode = 1;
  }
} finally {
  await sql.end();
}

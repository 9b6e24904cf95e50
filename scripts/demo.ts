// `npm run demo`: starts the local stack (and leaves it up), then follows two couples of two vendors in
// different zones through a whole wedding journey on a simulated clock (scripts/demo/journey.ts), and prints
// each couple's activity timeline in their own zone and a one-screen summary.
import postgres from "postgres";
import { dbUrl, gatewayUrl } from "../stack/config.ts";
import { up } from "../stack/cli.ts";
import { type DemoCouple, type DemoResult, runDemo } from "./demo/journey.ts";

type TimelineRow = {
  at: Date;
  kind: string;
  step_position: number | null;
  module_type: string | null;
  status: string;
  provider: string | null;
  channel: string | null;
  http_status: number | null;
  code: string | null;
  reason: string | null;
  provider_message_id: string | null;
};

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [
    pad(header, widths),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map((r) => pad(r, widths)),
  ];
}

function zoned(zone: string) {
  const f = new Intl.DateTimeFormat("en-GB", {
    timeZone: zone,
    weekday: "short",
    day: "2-digit",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
  return (d: Date) => f.format(d);
}

/** The couple's activity timeline (public.activity_timeline), on the story's clock, in their zone. */
async function printTimeline(sql: postgres.Sql, demo: DemoResult, c: DemoCouple): Promise<void> {
  const rows = await sql<TimelineRow[]>`
    select at, kind, step_position, module_type, status, provider, channel, http_status, code, reason,
      provider_message_id
    from public.activity_timeline(${c.clientId}::uuid, null, null, 500) order by at, key`;
  const when = zoned(c.timeZone);
  // Providers stamp events to the second (WhatsApp, Twilio): an event is never before its message was
  // sent, which places it on the story's clock.
  const sentAt = new Map(rows.filter((r) => r.kind === "delivery").map((r) => [r.provider_message_id, r.at]));
  for (const r of rows) {
    const sent = r.kind === "delivery_event" ? sentAt.get(r.provider_message_id) : undefined;
    if (sent && sent > r.at) r.at = sent;
  }
  rows.sort((a, b) => a.at.getTime() - b.at.getTime());
  const shown = rows.filter((r) =>
    (r.kind === "attempt") || (r.kind === "delivery_event" && r.status !== "sent") ||
    (r.kind.startsWith("run_") && r.kind !== "run_planned") || r.kind === "replied" || r.kind === "opted_out"
  );
  console.log(`\nActivity timeline of ${c.couple} (${c.vendor}), times in ${c.timeZone}:`);
  const lines = table(
    ["when", "step", "module", "what", "provider", "status", "detail"],
    shown.map((r) => [
      when(demo.clock.story(r.at)),
      r.step_position === null ? "-" : String(r.step_position),
      r.module_type ?? "-",
      r.kind === "attempt"
        ? "call"
        : r.kind === "delivery_event"
        ? `${r.channel} event`
        : r.kind.replace("run_", "run "),
      r.provider ?? "-",
      r.kind === "attempt" ? `${r.http_status ?? "no answer"} ${r.status}` : r.status,
      [r.kind === "attempt" ? r.reason : null, r.code, r.kind === "attempt" ? null : r.reason]
        .filter(Boolean).join(": ").slice(0, 70),
    ]),
  );
  for (const l of lines) console.log(`  ${l}`);
}

/** One screen: each couple's steps with when they ran, how, and what came back. */
async function printSummary(sql: postgres.Sql, demo: DemoResult): Promise<void> {
  console.log(`\nSummary (simulated ${demo.clock.days} days in ${(demo.elapsedMs / 1000).toFixed(1)} s):`);
  console.log(
    "(planned: the time the pipeline's SQL chose; ran: when the clock reached it. The clock moves in whole days,\n" +
      " so what comes due runs at the demo's own time of day.)",
  );
  for (const c of demo.couples) {
    const when = zoned(c.timeZone);
    const steps = await sql<
      {
        id: number;
        position: number;
        module: string;
        status: string;
        provider: string | null;
        done: Date;
        events: string | null;
      }[]
    >`
      select r.id::int, s.position, r.module_type::text as module, r.status::text, r.provider,
        r.completed_at as done,
        (select string_agg(distinct e.status::text, ',') from public.deliveries d
          join public.delivery_events e on e.delivery_id = d.id where d.run_id = r.id) as events
      from public.module_runs r join public.journey_steps s on s.id = r.step_id
      where r.journey_instance_id = ${c.instanceId}::uuid
        and r.id = (select min(x.id) from public.module_runs x
          where x.journey_instance_id = r.journey_instance_id and x.step_id = r.step_id)
      order by s.position`;
    const [reminders] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.meeting_reminders mr join public.module_runs r on r.id = mr.run_id
      join public.meetings m on m.id = mr.meeting_id where m.client_id = ${c.clientId}::uuid and r.status = 'succeeded'`;
    const crm = await sql<{ target: string; events: string }[]>`
      select target, string_agg(n || ' ' || event_type || ' ' || status, ', ' order by first) as events
      from (select target, event_type, status, count(*)::text || '×' as n, min(run_id) as first
        from public.crm_delivery_log where client_id = ${c.clientId}::uuid group by 1, 2, 3) e
      group by target`;
    const notes = await sql<{ kind: string }[]>`
      select kind from public.supplier_notifications where supplier_id = ${c.supplierId}::uuid order by id`;
    console.log(`\n${c.couple} with ${c.vendor}: wedding ${c.weddingDate}, moved to ${c.movedTo}`);
    const rating = demo.ratings[c.couple];
    for (
      const l of table(
        ["step", "module", "planned by the pipeline", "ran", "provider", "status", "delivery events"],
        steps.map((s) => [
          String(s.position),
          s.module,
          demo.clock.planned.has(s.id) ? when(demo.clock.planned.get(s.id)!) : "at once",
          s.done ? when(demo.clock.story(s.done)) : "-",
          s.provider ?? "-",
          s.status,
          s.events ?? "-",
        ]),
      )
    ) console.log(`  ${l}`);
    console.log(
      `  Consultation booked on Calendly (invitee …${
        demo.bookings[c.couple].slice(-12)
      }); SMS reminders: ${reminders.n}`,
    );
    console.log(
      `  Review: ${c.rating} stars, routed to ${rating?.route}${
        rating?.platforms ? ` (${rating.platforms.map((p) => p.platform).join(", ")})` : ""
      }`,
    );
    for (const t of crm) console.log(`  CRM ${t.target}: ${t.events}`);
    if (notes.length) console.log(`  Vendor notifications: ${notes.map((n) => n.kind).join(", ")}`);
  }
  console.log(
    `\nOperator console: ${gatewayUrl}/functions/v1/operator-console (service-role key as the bearer token).`,
  );
}

await up();
const sql = postgres(dbUrl(), { max: 4, onnotice: () => {} });
try {
  const demo = await runDemo(sql, (line) => console.log(line));
  for (const c of demo.couples) await printTimeline(sql, demo, c);
  await printSummary(sql, demo);
} finally {
  await sql.end();
}

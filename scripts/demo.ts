// `npm run demo`: starts the local stack, books a couple with the seeded vendor, and follows the
// journey's email step through the pipeline to the Resend simulator and back by webhook.
import postgres from "postgres";
import { dbUrl, gatewayUrl, simulatorUrl } from "../stack/config.ts";
import { up } from "../stack/cli.ts";

const SUPPLIER = "5eed0000-0000-4000-8000-000000000001";
const JOURNEY = "5eed0000-0000-4000-8000-0000000000a1";

async function simulator(path: string, body: unknown): Promise<void> {
  const res = await fetch(`${simulatorUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`simulator ${path} answered ${res.status}`);
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
}

await up();
const sql = postgres(dbUrl(), { max: 2, onnotice: () => {} });
try {
  // The vendor's Resend account: a key the simulator accepts and the webhook signing secret, in Vault.
  const webhookSecret = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24))))}`;
  const apiKey = "re_demo_golden_hour";
  const secret = JSON.stringify({ api_key: apiKey, webhook_secret: webhookSecret });
  await sql.begin(async (tx) => {
    const [existing] = await tx<{ secret_id: string }[]>`
      select secret_id::text from public.supplier_integrations where supplier_id = ${SUPPLIER} and provider = 'resend'`;
    if (existing) {
      await tx`select vault.update_secret(${existing.secret_id}::uuid, ${secret})`;
    } else {
      await tx`insert into public.supplier_integrations (supplier_id, provider, secret_id)
        values (${SUPPLIER}, 'resend', vault.create_secret(${secret}, 'resend:golden-hour'))`;
    }
  });
  await simulator("/_sim/config", {
    provider: "resend",
    api_key: apiKey,
    webhook: { url: `${gatewayUrl}/functions/v1/webhook-resend?supplier=${SUPPLIER}`, secret: webhookSecret },
  });

  const today = new Date().toISOString().slice(0, 10);
  const [couple] = await sql<{ id: string }[]>`
    insert into public.clients (supplier_id, couple_name, email, time_zone, locale, wedding_date, booking_date, venue)
    values (${SUPPLIER}, 'Priya & Tom', ${`priya.tom.${Date.now()}@example.com`}, 'Europe/Rome', 'en-GB',
      '2027-09-18', ${today}, 'Villa Cimbrone, Ravello')
    returning id`;
  const started = performance.now();
  const [instance] = await sql<{ id: string }[]>`
    insert into public.journey_instances (journey_id, supplier_id, client_id)
    values (${JOURNEY}, ${SUPPLIER}, ${couple.id}) returning id`;
  console.log(`Booked Priya & Tom with Golden Hour Photography; journey ${instance.id} started.\n`);

  // Follow the welcome email until the provider's "delivered" webhook has come back.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [row] = await sql<{ status: string | null }[]>`
      select d.status::text from public.module_runs r left join public.deliveries d on d.run_id = r.id
      where r.journey_instance_id = ${instance.id} order by r.id limit 1`;
    if (row?.status === "delivered") break;
    if (Date.now() > deadline) throw new Error("the welcome email was not delivered within 30 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  const elapsed = Math.round(performance.now() - started);

  const rows = await sql<{
    position: number;
    module: string;
    template: string;
    provider: string | null;
    status: string;
    attempts: number;
    run_at: Date;
    latency_ms: number | null;
    message_id: string | null;
    delivery: string | null;
  }[]>`
    select s.position, r.module_type::text as module, s.config ->> 'template' as template, r.provider,
      r.status::text, r.attempts, r.run_at,
      (select round(extract(epoch from (c.created_at - r.created_at)) * 1000)::int
        from public.integration_calls c where c.run_id = r.id order by c.id desc limit 1) as latency_ms,
      r.provider_message_id as message_id, d.status::text as delivery
    from public.module_runs r
    join public.journey_steps s on s.id = r.step_id
    left join public.deliveries d on d.run_id = r.id
    where r.journey_instance_id = ${instance.id}
    order by s.position`;
  const header = [
    "step",
    "module",
    "template",
    "provider",
    "status",
    "attempts",
    "run at (UTC)",
    "latency",
    "provider message id",
    "delivery",
  ];
  const table = rows.map((r) => [
    String(r.position),
    r.module,
    r.template,
    r.provider ?? "-",
    r.status,
    String(r.attempts),
    r.run_at.toISOString().slice(0, 16).replace("T", " "),
    r.latency_ms === null ? "-" : `${r.latency_ms} ms`,
    r.message_id ?? "-",
    r.delivery ?? "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  console.log(pad(header, widths));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of table) console.log(pad(r, widths));

  const events = await sql<{ status: string; applied: boolean; occurred_at: Date }[]>`
    select e.status::text, e.applied, e.occurred_at from public.delivery_events e
    join public.deliveries d on d.id = e.delivery_id join public.module_runs r on r.id = d.run_id
    where r.journey_instance_id = ${instance.id} order by e.id`;
  console.log(`\nWebhook events for the welcome email: ${events.map((e) => e.status).join(" → ")}`);
  console.log(
    `Transition to "delivered" webhook: ${elapsed} ms. The questionnaire waits for its run_at (10 days after booking, 10:00 in Rome).`,
  );

  // A simulated clock: rather than wait 10 days, move the couple's pending runs back by the time to the
  // next one, then sweep. The pipeline's own SQL planned that time; the demo only shifts the data.
  const planned = new Map(
    (await sql<{ id: string; run_at: Date }[]>`
      select id::text, run_at from public.module_runs where journey_instance_id = ${instance.id}`)
      .map((r) => [r.id, r.run_at]),
  );
  const [next] = await sql<{ due: Date | null }[]>`
    select min(run_at) as due from public.module_runs
    where journey_instance_id = ${instance.id} and status = 'pending'`;
  if (next?.due) {
    const shiftMs = Math.max(0, next.due.getTime() - Date.now());
    await sql`update public.module_runs set run_at = run_at - ${`${shiftMs} milliseconds`}::interval
      where journey_instance_id = ${instance.id} and status = 'pending'`;
    await sql`select public.sweep()`;
    console.log(`\nSimulated clock advanced by ${(shiftMs / 86_400_000).toFixed(1)} days; sweeping.`);
    const until = Date.now() + 20_000;
    for (;;) {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from public.module_runs
        where journey_instance_id = ${instance.id} and status in ('pending', 'running')`;
      if (row.n === 0 || Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  // The couple's activity timeline, as the vendor app reads it (public.activity_timeline), in Rome time:
  // wall-clock times of what happened, and the time the pipeline planned for each run.
  const timeline = await sql<
    {
      at: Date;
      kind: string;
      run_id: string | null;
      step_position: number | null;
      module_type: string | null;
      provider: string | null;
      status: string;
      code: string | null;
      run_at: Date | null;
    }[]
  >`select at, kind, run_id::text, step_position, module_type, provider, status, code, run_at
    from public.activity_timeline(${couple.id}::uuid, null, null, 100) order by at, key`;
  const rome = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Europe/Rome",
    dateStyle: "short",
    timeStyle: "medium",
  });
  console.log(`\nActivity timeline of Priya & Tom (Europe/Rome):`);
  for (const e of timeline) {
    console.log(
      `  ${rome.format(e.at)}  step ${e.step_position ?? "-"}  ${e.kind.padEnd(15)} ${
        (e.module_type ?? "-").padEnd(6)
      } ${(e.provider ?? "-").padEnd(8)} ${e.kind === "run_planned" ? "" : e.status}${
        e.code ? ` (${e.code})` : ""
      }${
        e.kind === "run_planned" && e.run_id && planned.has(e.run_id)
          ? `planned for ${rome.format(planned.get(e.run_id)!)}`
          : ""
      }`,
    );
  }
} finally {
  await sql.end();
}

// The whole-journey demo: two vendors in different zones, one couple each, booked today and followed from
// the welcome email to the referral invitation on a simulated clock. Every provider is the simulator; every
// time is decided by the pipeline's own SQL. `npm run demo` prints it; tests/e2e/demo_test.ts checks it.
import type postgres from "postgres";
import { gatewayUrl, simulatorUrl } from "../../stack/config.ts";
import { addDays } from "../../shared/time/dates.ts";
import { connectIntegration, newTaveStudio, type TaveStudio } from "../../tests/helpers/crm.ts";
import {
  connectProvider,
  createClient,
  createJourney,
  createSupplier,
  createTemplate,
  startJourney,
} from "../../tests/helpers/fixtures.ts";
import { connectTwilio, quietHoursAway, ukMobile } from "../../tests/helpers/sms_fixtures.ts";
import { newSvixSecret, sim, userJwt } from "../../tests/helpers/stack.ts";
import { SimulatedClock } from "./clock.ts";

type Sql = postgres.Sql;

const DAY_MS = 86_400_000;
const digits = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b % 10).join("");
const hex = (n: number) =>
  Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");

/** One vendor of the demo and its couple. */
export type DemoCouple = {
  vendor: string;
  supplierId: string;
  couple: string;
  clientId: string;
  instanceId: string;
  timeZone: string;
  crm: "tave" | "honeybook";
  rating: number;
  /** The wedding date as booked, and as moved later in the journey. */
  weddingDate: string;
  movedTo: string;
  stepIds: string[];
  tave?: TaveStudio;
  hook?: string;
  inboundSecret?: string;
  whatsapp: { phone_number_id: string; access_token: string; app_secret: string };
  phone: string;
};

/** What a demo run leaves behind, for the printout and the test. */
export type DemoResult = {
  couples: DemoCouple[];
  clock: SimulatedClock;
  /** Per couple: what the review rating answered (its route), from journey-links. */
  ratings: Record<string, { route: string; platforms?: { platform: string }[] }>;
  /** The booked Calendly invitee per couple. */
  bookings: Record<string, string>;
  elapsedMs: number;
};

const SETTINGS_TAVE = {
  job_type: "Wedding",
  source: "Journeys",
  field_map: { couple_name: "FirstName", email: "Email", wedding_date: "EventDate" },
  stages: { "journey.started": "booked", "journey.completed": "completed" },
};

/** The journey every vendor of the demo runs. */
function journeySteps(eventType: string) {
  return [
    { module_type: "email", config: { template: "welcome" }, timing: {} },
    {
      module_type: "form",
      config: {
        form: {
          provider: "internal",
          form_id: "questionnaire",
          url: "https://studio.example/forms/questionnaire",
        },
        fields: { dietary: "diet", guests: "guest_count" },
        block_progress: true,
      },
      timing: { anchor: "booking_date", offset_days: 10, at: "10:00" },
    },
    {
      module_type: "meeting",
      config: {
        provider: "calendly",
        meeting_type: "Consultation",
        calendly_event_type: eventType,
        reminders: {
          enabled: true,
          channel: "sms",
          sms_text: "Reminder: {{meeting_type}} at {{meeting_time}}.",
        },
      },
      timing: {},
    },
    {
      module_type: "sms",
      config: {
        channel: "whatsapp",
        text: "Two days to go, {{couple_name}}!",
        whatsapp_template: {
          name: "wedding_countdown",
          language: "en_GB",
          body_parameters: ["{{couple_name}}"],
        },
      },
      timing: { anchor: "wedding_date", offset_days: -2, at: "10:00" },
    },
    {
      module_type: "review",
      config: { days_after_wedding: 10, rating_url: "https://studio.example/rate" },
      timing: { anchor: "wedding_date", offset_days: 10, at: "10:00" },
    },
    { module_type: "referral", config: {}, timing: { offset_days: 7, at: "11:00" } },
  ];
}

async function member(sql: Sql, supplierId: string): Promise<string> {
  const userId = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${userId}::uuid, ${`${userId}@vendor.example`})`;
  await sql`insert into public.supplier_members (supplier_id, user_id) values (${supplierId}::uuid, ${userId}::uuid)`;
  return await userJwt(userId);
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${gatewayUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** One vendor with every integration the journey needs, in the simulator and in Vault. */
async function vendor(
  sql: Sql,
  v: {
    name: string;
    zone: string;
    couple: string;
    coupleZone: string;
    wedding: string;
    movedTo: string;
    crm: "tave" | "honeybook";
    rating: number;
    failover: boolean;
  },
): Promise<DemoCouple> {
  const supplierId = await createSupplier(sql, {
    name: v.name,
    time_zone: v.zone,
    email_from: `${v.name} <hello@${v.name.toLowerCase().replaceAll(/[^a-z]+/g, "")}.example>`,
  });
  await sql`update public.suppliers set quiet_hours = ${JSON.stringify(quietHoursAway())}::text::jsonb
    where id = ${supplierId}::uuid`;
  await createTemplate(sql, supplierId, "welcome", {
    subject: "Welcome, {{couple_name}}!",
    html: "<p>Dear {{couple_name}}, thank you for booking {{supplier_name}} for {{wedding_date}}.</p>",
  });

  // Email: Resend first (its webhooks signed back to us), Mailgun as the failover for one vendor.
  const resend = { api_key: `re_demo_${hex(12)}`, webhook_secret: newSvixSecret() };
  await connectProvider(sql, supplierId, "resend", resend, {}, 100);
  await sim("/_sim/config", {
    body: {
      provider: "resend",
      api_key: resend.api_key,
      webhook: {
        url: `${gatewayUrl}/functions/v1/webhook-resend?supplier=${supplierId}`,
        secret: resend.webhook_secret,
      },
    },
  });
  if (v.failover) {
    await connectProvider(
      sql,
      supplierId,
      "mailgun",
      {
        api_key: `key-${hex(16)}`,
        webhook_signing_key: hex(16),
      },
      { domain: "studio.example" },
      200,
    );
  }

  // SMS through Twilio, WhatsApp through Meta's Cloud API with an approved template.
  await connectTwilio(sql, supplierId);
  const whatsapp = { phone_number_id: `1${digits(14)}`, access_token: `EAAG${hex(20)}`, app_secret: hex(16) };
  await connectProvider(sql, supplierId, "whatsapp", {
    access_token: whatsapp.access_token,
    app_secret: whatsapp.app_secret,
    verify_token: hex(8),
  }, { phone_number_id: whatsapp.phone_number_id });
  await sim("/_sim/config", {
    body: {
      provider: "whatsapp",
      ...whatsapp,
      webhook_url: `${gatewayUrl}/functions/v1/webhook-whatsapp?supplier=${supplierId}`,
      templates: [{ name: "wedding_countdown", language: "en_GB" }],
      non_users: [],
    },
  });

  // Calendly, connected by the vendor through meeting-setup (it registers the booking webhook).
  const token = `cal_pat_${crypto.randomUUID()}`;
  const eventType = await sim<{ uri: string }>("/_sim/calendly/event_types", {
    body: { access_token: token, name: "Consultation", duration: 30 },
  });
  const jwt = await member(sql, supplierId);
  const connected = await post("/functions/v1/meeting-setup", {
    action: "connect_calendly",
    supplier_id: supplierId,
    access_token: token,
  }, { authorization: `Bearer ${jwt}` });
  if (connected.status !== 201) {
    throw new Error(`Calendly connect answered ${connected.status}: ${JSON.stringify(connected.body)}`);
  }

  // The CRM: Tave / VSCO Workspace, or a HoneyBook automation's webhook (which also pushes changes back).
  let tave: TaveStudio | undefined;
  let hook: string | undefined;
  let inboundSecret: string | undefined;
  if (v.crm === "tave") {
    tave = newTaveStudio();
    await sim("/_sim/config", { body: { provider: "tave", ...tave } });
    await connectIntegration(sql, supplierId, "tave", SETTINGS_TAVE, tave);
  } else {
    hook = `/demo/${crypto.randomUUID()}`;
    inboundSecret = crypto.randomUUID();
    await connectIntegration(sql, supplierId, "crm_webhooks", {
      crm: "honeybook",
      url: `${simulatorUrl}/hooks${hook}`,
      field_map: { couple_name: "names", wedding_date: "event_date" },
    }, { signing_secret: newSvixSecret(), inbound_secret: inboundSecret });
  }

  await sql`insert into public.review_platforms (supplier_id, platform, place_id, url, position) values
    (${supplierId}::uuid, 'google', 'ChIJN1t_tDeuEmsRUsoyG83frY4', null, 1)`;
  await sql`insert into public.referral_programmes (supplier_id, landing_url, reward)
    values (${supplierId}::uuid, 'https://studio.example/referred', '£100 off for every friend who books')`;

  const { journeyId, stepIds } = await createJourney(sql, supplierId, journeySteps(eventType.uri));
  const phone = ukMobile();
  const clientId = await createClient(sql, supplierId, {
    couple_name: v.couple,
    email: `${v.couple.toLowerCase().replaceAll(/[^a-z]+/g, ".")}.${hex(3)}@example.com`,
    time_zone: v.coupleZone,
    wedding_date: v.wedding,
    booking_date: new Date().toISOString().slice(0, 10),
  });
  await sql`update public.clients set phone = ${phone.national}, country = 'GB' where id = ${clientId}::uuid`;
  const instanceId = await startJourney(sql, supplierId, journeyId, clientId);
  return {
    vendor: v.name,
    supplierId,
    couple: v.couple,
    clientId,
    instanceId,
    timeZone: v.coupleZone,
    crm: v.crm,
    rating: v.rating,
    weddingDate: v.wedding,
    movedTo: v.movedTo,
    stepIds,
    tave,
    hook,
    inboundSecret,
    whatsapp,
    phone: phone.e164,
  };
}

type StepRun = { id: number; status: string; attempts: number };

async function stepRun(sql: Sql, c: DemoCouple, step: number): Promise<StepRun | undefined> {
  const [row] = await sql<StepRun[]>`
    select id::int, status::text, attempts from public.module_runs
    where journey_instance_id = ${c.instanceId}::uuid and step_id = ${c.stepIds[step]}::uuid
    order by id limit 1`; // the step's own run: a meeting step's reminders come after it
  return row;
}

/** Polls until `probe` answers, or fails naming what it waited for. */
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`The demo timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The link with `needle` in the newest email the simulator's Resend or Mailgun took for a run. */
async function linkFor(runId: number, needle: string): Promise<string> {
  return await until(`the email of run ${runId}`, async () => {
    for (const provider of ["resend", "mailgun"]) {
      const emails = await sim<{ html: string; text?: string }[]>(`/_sim/${provider}/emails?run=${runId}`);
      for (const e of emails) {
        const m = new RegExp(`https?://[^"'\\s<>]*${needle.replaceAll(".", "\\.")}[^"'\\s<>]*`).exec(e.html);
        if (m) return m[0].replaceAll("&amp;", "&");
      }
    }
    return undefined;
  });
}

/** Runs the demo; `log` receives one line per thing that happens. */
export async function runDemo(sql: Sql, log: (line: string) => void = () => {}): Promise<DemoResult> {
  const started = performance.now();
  const today = new Date().toISOString().slice(0, 10);
  const couples = [
    await vendor(sql, {
      name: "Golden Hour Photography",
      zone: "Europe/London",
      couple: "Priya & Tom",
      coupleZone: "Europe/Rome",
      wedding: addDays(today, 60),
      movedTo: addDays(today, 67),
      crm: "tave",
      rating: 5,
      failover: true,
    }),
    await vendor(sql, {
      name: "Harbour Lights Venue",
      zone: "America/New_York",
      couple: "Maya & Leo",
      coupleZone: "America/Chicago",
      wedding: addDays(today, 60),
      movedTo: addDays(today, 74),
      crm: "honeybook",
      rating: 2,
      failover: false,
    }),
  ];
  const [golden, harbour] = couples;
  const clock = new SimulatedClock(sql, couples.map((c) => c.clientId));
  const ratings: DemoResult["ratings"] = {};
  const bookings: DemoResult["bookings"] = {};
  for (const c of couples) {
    log(`${c.vendor} booked ${c.couple} (${c.timeZone}) for ${c.weddingDate}; their journey starts.`);
  }

  /** Advances the clock run by run until `done` holds. */
  const reach = async (what: string, done: () => Promise<boolean>) => {
    await clock.settle();
    for (let i = 0; i < 12; i++) {
      if (await done()) return;
      await clock.advanceToNextRun(log);
    }
    throw new Error(`The demo's clock did not reach ${what}`);
  };
  const stepIs = (c: DemoCouple, step: number, ok: (r: StepRun) => boolean) => async () => {
    const r = await stepRun(sql, c, step);
    return r !== undefined && ok(r);
  };
  const all = (step: number, ok: (r: StepRun) => boolean) => async () =>
    (await Promise.all(couples.map((c) => stepIs(c, step, ok)()))).every(Boolean);
  const status = (...s: string[]) => (r: StepRun) => s.includes(r.status);

  // 1. Welcome email, now.
  await reach("the welcome emails", all(0, status("succeeded")));
  log("Welcome emails sent (Resend; delivered webhooks signed back).");

  // 2. The questionnaire, 10 days after booking at 10:00 in the couple's zone; the couple fills it in.
  await reach("the questionnaires", all(1, status("waiting")));
  for (const c of couples) {
    const run = (await stepRun(sql, c, 1))!;
    const link = await linkFor(run.id, "studio.example/forms/questionnaire");
    const submitted = await post("/functions/v1/form-submissions", {
      journey_token: new URL(link).searchParams.get("journey_token"),
      answers: { diet: "vegetarian", guest_count: 96 },
    }, await anonHeaders());
    if (submitted.status !== 201) throw new Error(`The form submission answered ${submitted.status}`);
    log(`${c.couple} submitted the questionnaire through its signed link.`);
  }

  // 3. The Calendly single-use link; the couple books a consultation five days later.
  await reach("the booking links", all(2, status("waiting")));
  for (const c of couples) {
    const run = (await stepRun(sql, c, 2))!;
    const [meeting] = await sql<{ booking_url: string }[]>`
      select booking_url from public.meetings where run_id = ${run.id}`;
    // Two hours and a few seconds past whole days, so the 2 h reminder comes due as the clock reaches it.
    const start = new Date(Date.now() + 5 * DAY_MS + 2 * 3_600_000 + 4_000);
    const booked = await sim<{ invitee: string }>("/_sim/calendly/book", {
      body: { booking_url: meeting.booking_url, start_time: start.toISOString() },
    });
    bookings[c.couple] = booked.invitee;
    log(`${c.couple} booked the consultation on the Calendly link (signed invitee.created webhook).`);
  }
  await reach("the bookings", all(2, status("succeeded")));

  // 4. The reminders by SMS, 24 h and 2 h before the consultation.
  const remindersSent = async () => {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.meeting_reminders mr join public.module_runs r on r.id = mr.run_id
      join public.meetings m on m.id = mr.meeting_id
      where m.client_id = any(${couples.map((c) => c.clientId)}::uuid[]) and r.status = 'succeeded'`;
    return row.n >= 2 * couples.length;
  };
  await reach("the consultation reminders", remindersSent);
  log("Consultation reminders sent by SMS (Twilio), 24 h and 2 h before.");

  // 5. The wedding date moves: one vendor changes it in the app, the other's HoneyBook pushes the change.
  for (const c of couples) {
    if (c.crm === "honeybook") {
      const [{ url }] = await sql<
        { url: string }[]
      >`select public.crm_inbound_url(${c.supplierId}::uuid) as url`;
      const res = await fetch(url, {
        method: "POST",
        body: JSON.stringify({
          type: "wedding_date.changed",
          id: `hb-${crypto.randomUUID()}`,
          couple: { id: c.clientId, event_date: clock.storedDate(c.movedTo) },
        }),
      });
      await res.body?.cancel();
      if (res.status !== 200) throw new Error(`HoneyBook's change answered ${res.status}`);
      log(
        `HoneyBook moves ${c.couple}'s wedding from ${c.weddingDate} to ${c.movedTo}; pending steps re-plan.`,
      );
    } else {
      await sql`update public.clients set wedding_date = ${clock.storedDate(c.movedTo)}::date
        where id = ${c.clientId}::uuid`;
      log(
        `${c.vendor} moves ${c.couple}'s wedding from ${c.weddingDate} to ${c.movedTo}; pending steps re-plan.`,
      );
    }
  }

  // 6. WhatsApp template two days before the wedding.
  await reach("the WhatsApp countdowns", all(3, status("succeeded")));
  log("WhatsApp countdown templates sent (Meta Cloud API).");

  // 7. The review request ten days after, during a Resend outage: one vendor fails over to Mailgun, the
  // other (Resend only) keeps its run pending and retries with backoff until Resend is back.
  await sim("/_sim/faults", { body: { provider: "resend", kind: "status", status: 503, rate: 1 } });
  log("Resend outage injected in the simulator: every request answers 503.");
  try {
    await reach(`${golden.couple}'s review request`, stepIs(golden, 4, status("succeeded")));
    log(`${golden.couple}'s review request failed over from Resend to Mailgun within one attempt.`);
    await reach(
      `${harbour.couple}'s review request`,
      stepIs(harbour, 4, (r) => r.status === "pending" && r.attempts > 0),
    );
    log(
      `${harbour.couple}'s review request has no failover route: it stays pending and retries with backoff.`,
    );
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
  }
  log("Resend recovers.");
  // The retry is due seconds to minutes later in real time: the demo brings it forward instead of waiting.
  await sql`update public.module_runs set run_at = now()
    where id = ${(await stepRun(sql, harbour, 4))!.id} and status = 'pending'`;
  await sql`select public.sweep()`;
  await reach("the retried review request", all(4, status("succeeded")));
  for (const c of couples) {
    const run = (await stepRun(sql, c, 4))!;
    const link = await linkFor(run.id, "studio.example/rate");
    const rated = await post("/functions/v1/journey-links/review/rating", {
      journey_token: new URL(link).searchParams.get("journey_token"),
      rating: c.rating,
    });
    ratings[c.couple] = rated.body;
    log(`${c.couple} rate ${c.rating} stars: routed to ${rated.body.route}.`);
  }

  // 8. The referral invitation a week later; the journey completes and the CRMs hear of it.
  await reach("the referral invitations", all(5, status("succeeded")));
  const synced = async () => {
    const [row] = await sql<{ done: boolean }[]>`
      select bool_and(i.status::text = 'completed') and not exists (
        select 1 from public.crm_delivery_log l where l.client_id = any(${
      couples.map((c) => c.clientId)
    }::uuid[])
          and l.status not in ('succeeded', 'skipped')) as done
      from public.journey_instances i where i.id = any(${couples.map((c) => c.instanceId)}::uuid[])`;
    return row.done;
  };
  await until(
    "the journeys to complete and sync to the CRMs",
    async () => (await synced()) || undefined,
    30_000,
  );
  log("Referral invitations sent; both journeys completed and synced to Tave and HoneyBook.");
  return { couples, clock, ratings, bookings, elapsedMs: performance.now() - started };
}

async function anonHeaders(): Promise<Record<string, string>> {
  const { localKeys } = await import("../../stack/keys.ts");
  return { authorization: `Bearer ${(await localKeys()).anonKey}` };
}

// The SMS channel from other modules end to end: a form's third reminder and a meeting reminder go out
// by SMS at the simulated Twilio (run key on the callback, delivery updated by its signed callbacks),
// and an SMS reminder to a couple with no number or who opted out is skipped with the reason.
import assert from "node:assert/strict";
import type { Sql } from "../helpers/db.ts";
import { connectResend, startJourney } from "../helpers/fixtures.ts";
import { calendlyScenario, drainNow as drainMeeting, meetingsOf, waitRun } from "../helpers/meeting.ts";
import { drainNow, waitForRun } from "../helpers/modules.ts";
import { connectTwilio, quietHoursAway, smsScenario } from "../helpers/sms_fixtures.ts";
import { sim, stackDb, waitFor } from "../helpers/stack.ts";

type TwilioMessage = { sid: string; to: string; body: string; status_callback: string; run: string | null };

const twilioMessages = (key: string) =>
  sim<TwilioMessage[]>(`/_sim/twilio/messages?run=${encodeURIComponent(key)}`);

/** A journey of one internal form step reminding by email, email, then SMS, for a couple in UTC. */
async function formScenario(
  sql: Sql,
  opts: Parameters<typeof smsScenario>[1] = {},
  beforeReminder: (s: Awaited<ReturnType<typeof smsScenario>>) => Promise<unknown> = async () => {},
) {
  const s = await smsScenario(sql, {
    whatsapp: false,
    steps: [{
      module_type: "form",
      config: {
        form: { provider: "internal", form_id: "questionnaire", url: "https://studio.example/forms/q" },
        fields: { dietary: "diet" },
        reminder_time: "00:00",
        reminders: [
          { after_days: 1, channel: "email" },
          { after_days: 2, channel: "email" },
          { after_days: 3, channel: "sms" },
        ],
      },
    }],
    ...opts,
  });
  await connectResend(sql, s.supplierId, {
    api_key: `re_test_${crypto.randomUUID().replaceAll("-", "")}`,
    webhook_secret: "whsec_dGVzdA==",
  });
  const instanceId = await s.start();
  const run = await waitForRun(
    sql,
    instanceId,
    s.stepIds[0],
    "the form to be sent",
    (r) => r.result !== null,
  );
  // The third reminder falls at 00:00 UTC three days after the send.
  await sql`update public.form_requests
    set sent_at = date_trunc('day', now()) - interval '3 days' + interval '30 minutes' where run_id = ${run.id}`;
  await beforeReminder(s);
  await drainNow(sql, "form", run.id);
  const [third] = await sql<
    { channel: string; status: string; reason: string | null; provider_message_id: string | null }[]
  >`select m.channel, m.status, m.reason, m.provider_message_id from public.form_reminders m
    join public.form_requests f on f.id = m.request_id where f.run_id = ${run.id} and m.position = 3`;
  return { ...s, run, third };
}

Deno.test("module-form sends the third reminder by SMS through Twilio and records its delivery", async () => {
  const sql = stackDb();
  try {
    const s = await formScenario(sql);
    assert.deepEqual({ ...s.third, provider_message_id: undefined }, {
      channel: "sms",
      status: "sent",
      reason: null,
      provider_message_id: undefined,
    });
    const messages = await twilioMessages(`${s.run.idempotency_key}:reminder:3`);
    assert.equal(messages.length, 1, "exactly one text");
    const [text] = messages;
    assert.equal(text.sid, s.third.provider_message_id);
    assert.equal(text.to, s.phone.e164, "the national number was sent in E.164");
    assert.match(text.body, /^Hi Alex & Sam, a reminder from .+: please fill in your questionnaire: /);
    assert.match(text.body, /https:\/\/studio\.example\/forms\/q\?journey_token=[\w-]+\.[\w-]+\.[\w-]+/);
    assert.ok(text.status_callback.includes(`supplier=${s.supplierId}`));
    const delivered = await waitFor("the reminder's delivery to be delivered", async () => {
      const [d] = await sql<{ status: string; channel: string; recipient: string }[]>`
        select status::text, channel, recipient from public.deliveries
        where provider = 'twilio' and provider_message_id = ${text.sid}`;
      return d?.status === "delivered" ? d : undefined;
    });
    assert.deepEqual({ ...delivered }, { status: "delivered", channel: "sms", recipient: s.phone.e164 });
  } finally {
    await sql.end();
  }
});

Deno.test("module-form skips an SMS reminder with the reason when the couple has no phone or opted out", async () => {
  const sql = stackDb();
  try {
    const noPhone = await formScenario(sql, { phone: null });
    assert.deepEqual({ ...noPhone.third }, {
      channel: "sms",
      status: "skipped",
      reason: "The couple has no phone number",
      provider_message_id: null,
    });

    const optedOut = await formScenario(sql, {}, (s) =>
      // The couple replied STOP after the form was sent.
      sql`select public.record_messaging_consent(${s.supplierId}::uuid, 'sms', ${s.phone.e164}, false, now())`);
    assert.equal(optedOut.third.status, "skipped");
    assert.match(
      optedOut.third.reason!,
      /^\+447912\d{6} is on the supplier's SMS suppression list \(opted_out\)$/,
    );
    assert.deepEqual(await twilioMessages(`${optedOut.run.idempotency_key}:reminder:3`), []);
  } finally {
    await sql.end();
  }
});

Deno.test("module-meeting sends a reminder configured for SMS through Twilio with the run key", async () => {
  const sql = stackDb();
  try {
    const s = await calendlyScenario(sql, { reminders: { channel: "sms" } }, { time_zone: "Europe/London" });
    await connectTwilio(sql, s.supplierId);
    await sql`update public.suppliers set quiet_hours = ${JSON.stringify(quietHoursAway())}::text::jsonb
      where id = ${s.supplierId}::uuid`;
    await sql`update public.clients set phone = '07912 345678', country = 'GB' where id = ${s.clientId}::uuid`;
    const instanceId = await startJourney(sql, s.supplierId, s.journeyId, s.clientId);
    await waitRun(sql, instanceId, 0, "waiting");
    const [meeting] = await meetingsOf(sql, instanceId);
    const start = new Date(Math.ceil((Date.now() + 3 * 86_400_000) / 3_600_000) * 3_600_000);
    await sim("/_sim/calendly/book", {
      body: { booking_url: meeting.booking_url, start_time: start.toISOString() },
    });
    const [reminder] = await sql<{ run_id: number; idempotency_key: string }[]>`
      select mr.run_id::int, r.idempotency_key from public.meeting_reminders mr
      join public.module_runs r on r.id = mr.run_id where mr.meeting_id = ${meeting.id}::uuid and mr.lead = '24h'`;
    await drainMeeting(sql, [reminder.run_id]);

    const messages = await twilioMessages(reminder.idempotency_key);
    assert.equal(messages.length, 1, "exactly one text");
    assert.equal(messages[0].to, "+447912345678");
    assert.match(
      messages[0].body,
      /^Hi Alex & Sam Lee, a reminder of your Consultation with Studio on .+\. Where: https:\/\//,
    );
    const [run] = await sql<{ status: string; provider: string; provider_message_id: string }[]>`
      select status::text, provider, provider_message_id from public.module_runs where id = ${reminder.run_id}`;
    assert.deepEqual({ ...run }, {
      status: "succeeded",
      provider: "twilio",
      provider_message_id: messages[0].sid,
    });
    await waitFor("the reminder's delivery to be delivered", async () => {
      const [d] = await sql<{ status: string; channel: string }[]>`
        select status::text, channel from public.deliveries where run_id = ${reminder.run_id}`;
      return d?.status === "delivered" && d.channel === "sms";
    });
  } finally {
    await sql.end();
  }
});

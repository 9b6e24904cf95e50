// The sms module end to end on the local stack: transition → pg_net kick → module-sms → simulated Twilio
// or WhatsApp → signed callbacks → delivery status; opt-outs, the 24-hour window, fallbacks, quiet hours,
// out-of-order and forged callbacks.
import assert from "node:assert/strict";
import { FunctionsHttpError } from "@supabase/functions-js";
import { gatewayUrl } from "../../stack/config.ts";
import { signMeta } from "../../shared/webhooks/meta.ts";
import { signTwilio } from "../../shared/webhooks/twilio.ts";
import { zonedInstant } from "../../shared/time/zones.ts";
import type { Sql } from "../helpers/db.ts";
import { deliveryOf, runOf, smsScenario } from "../helpers/sms_fixtures.ts";
import { sim, stackDb, supabase, userJwt, waitFor } from "../helpers/stack.ts";

type TwilioMessage = {
  sid: string;
  to: string;
  from: string;
  body: string;
  status_callback: string;
  run: string | null;
  num_segments: number;
};
type WhatsAppMessage = {
  id: string;
  to: string;
  type: string;
  text: string | null;
  template: { name: string; language: string; parameters: string[] } | null;
  biz_opaque_callback_data: string | null;
};

const twilioMessages = (run: string) =>
  sim<TwilioMessage[]>(`/_sim/twilio/messages?run=${encodeURIComponent(run)}`);
const whatsappMessages = (run: string) =>
  sim<WhatsAppMessage[]>(`/_sim/whatsapp/messages?run=${encodeURIComponent(run)}`);

async function settled(sql: Sql, instanceId: string, statuses = ["succeeded", "dead", "skipped", "unknown"]) {
  return await waitFor(`the run of ${instanceId} to settle`, async () => {
    const r = await runOf(sql, instanceId);
    return r && statuses.includes(r.status) ? r : undefined;
  });
}

async function deliveryStatus(sql: Sql, runId: number, status: string) {
  return await waitFor(`delivery ${status}`, async () => (await deliveryOf(sql, runId))?.status === status);
}

Deno.test("module-sms texts a national number through Twilio and records delivery from signed callbacks", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql, {
      config: { text: "Hi {{couple_name}}, see you on {{wedding_date}}!" },
    });
    const instanceId = await s.start();
    const run = await settled(sql, instanceId);
    assert.equal(run.status, "succeeded", JSON.stringify(run.last_error));
    assert.equal(run.provider, "twilio");
    await deliveryStatus(sql, run.id, "delivered");

    const [message, ...more] = await twilioMessages(run.idempotency_key);
    assert.equal(more.length, 0, "exactly one text");
    assert.equal(message.sid, run.provider_message_id);
    assert.equal(message.to, s.phone.e164, "the national number was normalised with the couple's country");
    assert.equal(message.from, "+15005550006");
    assert.equal(message.body, "Hi Alex & Sam, see you on 12 June 2027!");
    const callback = new URL(message.status_callback);
    assert.equal(callback.pathname, "/functions/v1/webhook-twilio");
    assert.equal(callback.searchParams.get("run"), run.idempotency_key);
    const delivery = await deliveryOf(sql, run.id);
    assert.deepEqual(
      {
        channel: delivery.channel,
        recipient: delivery.recipient,
        segments: delivery.segments,
        encoding: delivery.encoding,
      },
      { channel: "sms", recipient: s.phone.e164, segments: 1, encoding: "GSM-7" },
    );
    const [instance] =
      await sql`select status::text from public.journey_instances where id = ${instanceId}::uuid`;
    assert.equal(instance.status, "completed");
  } finally {
    await sql.end();
  }
});

Deno.test("module-sms dead-letters a Twilio 21610 and records the opt-out, so the next text is skipped", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql);
    // The couple replied STOP to this sender outside our knowledge: Twilio refuses with 21610.
    await sim("/_sim/config", { body: { provider: "twilio", opted_out: [s.phone.e164] } });
    const first = await settled(sql, await s.start());
    assert.equal(first.status, "dead");
    assert.equal(first.attempts, 1, "21610 is not retried");
    assert.equal(first.last_error?.code, "21610_opted_out");
    const [suppression] = await sql`select reason from public.suppressions
      where supplier_id = ${s.supplierId}::uuid and channel = 'sms' and address = ${s.phone.e164}`;
    assert.equal(suppression?.reason, "opted_out");
    const second = await settled(sql, await s.start());
    assert.equal(second.status, "skipped");
    assert.equal(second.last_error?.code, "opted_out");
    assert.equal((await twilioMessages(second.idempotency_key)).length, 0);
  } finally {
    await sql.end();
  }
});

Deno.test("webhook-twilio turns STOP into an opt-out, START into an opt-in and answers HELP", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql);
    await sql`update public.supplier_integrations set settings = settings || '{"help_text": "Studio: call 020 7946 0000 <any time>"}'
      where supplier_id = ${s.supplierId}::uuid and provider = 'twilio'`;
    const inbound = (body: string) =>
      sim<{ status: number; body: string }>("/_sim/twilio/inbound", {
        body: { account_sid: s.twilio.account_sid, from: s.phone.e164, body },
      });
    const stop = await inbound("Stop");
    assert.equal(stop.status, 200);
    assert.match(stop.body, /<Response\/>$/);
    const skipped = await settled(sql, await s.start());
    assert.equal(skipped.status, "skipped", "a pending text to an opted-out number is skipped");
    assert.equal(skipped.last_error?.code, "opted_out");
    assert.match(skipped.last_error!.message, /suppression list \(opted_out\)/);

    const help = await inbound("HELP");
    assert.match(help.body, /<Message>Studio: call 020 7946 0000 &#60;any time&#62;<\/Message>/);

    assert.equal((await inbound("START")).status, 200);
    const [contact] = await sql`select opted_in_at > opted_out_at as opted_in from public.messaging_contacts
      where supplier_id = ${s.supplierId}::uuid and channel = 'sms' and address = ${s.phone.e164}`;
    assert.equal(contact.opted_in, true);
    const sent = await settled(sql, await s.start());
    assert.equal(sent.status, "succeeded", "after START texts go out again");
  } finally {
    await sql.end();
  }
});

Deno.test("webhook-twilio keeps the furthest status when callbacks arrive out of order", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql);
    await sim("/_sim/config", { body: { provider: "twilio", ...s.twilio, callback_statuses: [] } });
    const run = await settled(sql, await s.start());
    assert.equal(run.status, "succeeded");
    const fire = (statuses: string[], extra: Record<string, unknown> = {}) =>
      sim<{ statuses: number[] }>(`/_sim/twilio/messages/${run.provider_message_id}/callbacks`, {
        body: { statuses, ...extra },
      });
    assert.deepEqual((await fire(["delivered", "sent", "queued"])).statuses, [200, 200, 200]);
    assert.equal((await deliveryOf(sql, run.id)).status, "delivered");
    assert.deepEqual((await fire(["delivered"], { times: 2 })).statuses, [200, 200]);
    const events = await sql<{ status: string; applied: boolean }[]>`
      select e.status::text, e.applied from public.delivery_events e join public.deliveries d on d.id = e.delivery_id
      where d.run_id = ${run.id} order by e.id`;
    assert.deepEqual(events.map((e) => ({ ...e })), [
      { status: "delivered", applied: true },
      { status: "sent", applied: false },
      { status: "queued", applied: false },
    ]);
    await fire(["undelivered"], { error_code: "30007" });
    assert.equal((await deliveryOf(sql, run.id)).status, "failed");
  } finally {
    await sql.end();
  }
});

Deno.test("webhook-twilio and webhook-whatsapp refuse forged callbacks with 401 and change nothing", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql);
    await sim("/_sim/config", { body: { provider: "twilio", ...s.twilio, callback_statuses: ["sent"] } });
    const run = await settled(sql, await s.start());
    await deliveryStatus(sql, run.id, "sent");
    const count = async () =>
      (await sql<{ n: number }[]>`select count(*)::int as n from public.webhook_events
        where supplier_id = ${s.supplierId}::uuid`)[0].n;
    const before = await count();

    const url = `${gatewayUrl}/functions/v1/webhook-twilio?supplier=${s.supplierId}&run=${
      encodeURIComponent(run.idempotency_key)
    }`;
    const params = {
      AccountSid: s.twilio.account_sid,
      MessageSid: run.provider_message_id!,
      MessageStatus: "failed",
      ErrorCode: "30007",
      To: s.phone.e164,
    };
    const post = async (signature: string, body = params) => {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature },
        body: new URLSearchParams(body),
      });
      return { status: res.status, body: await res.json() };
    };
    const wrongToken = await post(await signTwilio("not-the-token", url, params));
    assert.equal(wrongToken.status, 401);
    assert.equal(wrongToken.body.error.code, "invalid_signature");
    const tampered = await post(await signTwilio(s.twilio.auth_token, url, params), {
      ...params,
      ErrorCode: "21610",
    });
    assert.equal(tampered.status, 401);
    const otherUrl = await post(
      await signTwilio(s.twilio.auth_token, url.replace("&run=", "&run=x"), params),
    );
    assert.equal(otherUrl.status, 401, "the signature covers the run key in the URL");
    const unsigned = await fetch(url, { method: "POST", body: new URLSearchParams(params) });
    assert.equal(unsigned.status, 401);
    await unsigned.body?.cancel();

    const waUrl = `${gatewayUrl}/functions/v1/webhook-whatsapp?supplier=${s.supplierId}`;
    const waBody = JSON.stringify({
      object: "whatsapp_business_account",
      entry: [{
        id: "1",
        changes: [{
          field: "messages",
          value: {
            metadata: { phone_number_id: s.whatsapp.phone_number_id },
            messages: [{
              from: s.phone.e164.slice(1),
              id: "wamid.forged",
              timestamp: "1",
              type: "text",
              text: { body: "STOP" },
            }],
          },
        }],
      }],
    });
    const forgedWa = await fetch(waUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-hub-signature-256": await signMeta("not-the-secret", waBody),
      },
      body: waBody,
    });
    assert.equal(forgedWa.status, 401);
    await forgedWa.body?.cancel();

    assert.equal(await count(), before, "nothing reached the inbox");
    assert.equal((await deliveryOf(sql, run.id)).status, "sent");
    const suppressions =
      await sql`select 1 from public.suppressions where supplier_id = ${s.supplierId}::uuid`;
    assert.equal(suppressions.length, 0);
  } finally {
    await sql.end();
  }
});

Deno.test("module-sms sends free-form WhatsApp inside the 24-hour window and keeps the highest status", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql, { config: { channel: "whatsapp", text: "Hi {{couple_name}} 💍" } });
    await sim("/_sim/config", {
      body: {
        provider: "whatsapp",
        phone_number_id: s.whatsapp.phone_number_id,
        access_token: s.whatsapp.access_token,
        app_secret: s.whatsapp.app_secret,
        webhook_url: `${gatewayUrl}/functions/v1/webhook-whatsapp?supplier=${s.supplierId}`,
        statuses: [],
      },
    });
    // The couple writes first: the inbound webhook opens the window.
    const inbound = await sim<{ status: number }>("/_sim/whatsapp/inbound", {
      body: { phone_number_id: s.whatsapp.phone_number_id, from: s.phone.e164, text: "Hello!" },
    });
    assert.equal(inbound.status, 200);
    const run = await settled(sql, await s.start());
    assert.equal(run.status, "succeeded", JSON.stringify(run.last_error));
    assert.equal(run.provider, "whatsapp");
    const [message, ...more] = await whatsappMessages(run.idempotency_key);
    assert.equal(more.length, 0);
    assert.deepEqual({ type: message.type, text: message.text, to: message.to }, {
      type: "text",
      text: "Hi Alex & Sam 💍",
      to: s.phone.e164.slice(1),
    });
    assert.equal(message.biz_opaque_callback_data, run.idempotency_key);

    const fire = (statuses: string[]) =>
      sim<{ statuses: number[] }>(`/_sim/whatsapp/messages/${encodeURIComponent(message.id)}/statuses`, {
        body: { statuses },
      });
    assert.deepEqual((await fire(["read", "delivered", "sent"])).statuses, [200, 200, 200]);
    const delivery = await deliveryOf(sql, run.id);
    assert.deepEqual({ status: delivery.status, channel: delivery.channel }, {
      status: "opened",
      channel: "whatsapp",
    });
    assert.equal(delivery.segments, null, "segments are an SMS measure");
  } finally {
    await sql.end();
  }
});

Deno.test("module-sms answers WhatsApp 131047 with the approved template", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql, {
      config: {
        channel: "whatsapp",
        text: "Hi {{couple_name}}",
        whatsapp_template: {
          name: "wedding_update",
          language: "en_GB",
          body_parameters: ["{{couple_name}}"],
        },
      },
    });
    // Our record says the window is open, but WhatsApp never saw the message (it closed): 131047.
    await sql`select public.record_inbound_message(${s.supplierId}::uuid, 'whatsapp', ${s.phone.e164}, now() - interval '1 hour')`;
    const run = await settled(sql, await s.start());
    assert.equal(run.status, "succeeded", JSON.stringify(run.last_error));
    const [message, ...more] = await whatsappMessages(run.idempotency_key);
    assert.equal(more.length, 0, "only the template was accepted");
    assert.deepEqual(message.template, {
      name: "wedding_update",
      language: "en_GB",
      parameters: ["Alex & Sam"],
    });
    const calls = await sql<{ operation: string; error_code: string | null }[]>`
      select operation, error_code from public.integration_calls where run_id = ${run.id} order by id`;
    assert.deepEqual(calls.map((c) => ({ ...c })), [
      { operation: "messages.text", error_code: "131047" },
      { operation: "messages.template", error_code: null },
    ]);
  } finally {
    await sql.end();
  }
});

Deno.test("module-sms sends the template outside the window, and falls back to SMS for a non-WhatsApp number", async () => {
  const sql = stackDb();
  try {
    const template = { name: "wedding_update", language: "en_GB", body_parameters: ["{{couple_name}}"] };
    const s = await smsScenario(sql, {
      config: { channel: "both", text: "Hi {{couple_name}}", whatsapp_template: template },
    });
    const run = await settled(sql, await s.start());
    assert.equal(run.provider, "whatsapp");
    assert.equal((await whatsappMessages(run.idempotency_key))[0].type, "template");
    assert.equal((await twilioMessages(run.idempotency_key)).length, 0);

    const other = await smsScenario(sql, {
      config: { channel: "both", text: "Hi {{couple_name}}", whatsapp_template: template },
    });
    await sim("/_sim/config", {
      body: {
        provider: "whatsapp",
        phone_number_id: other.whatsapp.phone_number_id,
        access_token: other.whatsapp.access_token,
        app_secret: other.whatsapp.app_secret,
        templates: [template],
        non_users: [other.phone.e164],
      },
    });
    const fallback = await settled(sql, await other.start());
    assert.equal(fallback.status, "succeeded", JSON.stringify(fallback.last_error));
    assert.equal(fallback.provider, "twilio");
    assert.equal(fallback.result?.fallback_from, "whatsapp 131026");
    assert.equal((await twilioMessages(fallback.idempotency_key)).length, 1);
    assert.equal((await deliveryOf(sql, fallback.id)).channel, "sms");
  } finally {
    await sql.end();
  }
});

Deno.test("module-sms defers a text inside quiet hours to their end in the couple's zone, and sends nothing", async () => {
  const sql = stackDb();
  try {
    // A quiet window around the current time in Auckland, wherever the test runs.
    const zone = "Pacific/Auckland";
    const local = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", hourCycle: "h23" })
      .format(new Date());
    const h = Number(local);
    const pad = (n: number) => String((n + 24) % 24).padStart(2, "0");
    const quiet = { start: `${pad(h - 1)}:00`, end: `${pad(h + 2)}:00` };
    const s = await smsScenario(sql, { time_zone: zone, quiet_hours: quiet });
    const before = new Date();
    const instanceId = await s.start();
    const run = await waitFor("the run to be deferred", async () => {
      const r = await runOf(sql, instanceId);
      return r.status === "pending" && r.run_at.getTime() > Date.now() + 60_000 ? r : undefined;
    });
    const dayOf = (d: Date) => new Intl.DateTimeFormat("en-CA", { timeZone: zone }).format(d);
    // The end of the window: today at `end`, or tomorrow when the window wrapped past midnight.
    const candidates = [0, 1].map((days) =>
      zonedInstant(dayOf(new Date(before.getTime() + days * 86_400_000)), quiet.end, zone).getTime()
    );
    const expected = candidates.find((t) => t > before.getTime());
    assert.equal(run.run_at.getTime(), expected);
    assert.equal(run.attempts, 0, "a deferral is not an attempt");
    assert.equal((await twilioMessages(run.idempotency_key)).length, 0);

    // Explicitly urgent on the wedding day itself: it goes out through quiet hours.
    const today = dayOf(new Date());
    const urgent = await smsScenario(sql, {
      time_zone: zone,
      quiet_hours: quiet,
      wedding_date: today,
      timing: { urgent: true },
    });
    const sent = await settled(sql, await urgent.start());
    assert.equal(sent.status, "succeeded");
  } finally {
    await sql.end();
  }
});

Deno.test("module-sms skips without recorded consent when the step requires opt-in, and fails an invalid number naming it", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql, { config: { require_opt_in: true } });
    const skipped = await settled(sql, await s.start());
    assert.equal(skipped.status, "skipped");
    assert.equal(skipped.last_error?.code, "no_opt_in");
    await sql`update public.clients set consent = '{"sms": true}' where id = ${s.clientId}::uuid`;
    assert.equal((await settled(sql, await s.start())).status, "succeeded", "consent recorded on the couple");

    const bad = await smsScenario(sql, { phone: "0791", country: "GB" });
    const dead = await settled(sql, await bad.start());
    assert.equal(dead.status, "dead");
    assert.equal(dead.last_error?.code, "invalid_phone");
    assert.match(dead.last_error!.message, /"0791"/);
  } finally {
    await sql.end();
  }
});

Deno.test("a Twilio send whose answer is lost is held as unknown, then reconciled by the callback carrying its run key", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql);
    await sim("/_sim/config", { body: { provider: "twilio", ...s.twilio, callback_statuses: [] } });
    await sim("/_sim/faults", { body: { provider: "twilio", kind: "reset", count: 1 } });
    const instanceId = await s.start();
    const held = await settled(sql, instanceId, ["unknown", "succeeded"]);
    assert.equal(held.status, "unknown", "no blind resend: Twilio has no idempotency key");
    assert.equal(held.last_error?.code, "no_response");
    const [message, ...more] = await twilioMessages(held.idempotency_key);
    assert.equal(more.length, 0);
    await sim(`/_sim/twilio/messages/${message.sid}/callbacks`, { body: { statuses: ["delivered"] } });
    const run = await runOf(sql, instanceId);
    assert.equal(run.status, "succeeded");
    assert.equal(run.provider_message_id, message.sid);
    assert.equal((await deliveryOf(sql, run.id)).status, "delivered");
    const [instance] =
      await sql`select status::text from public.journey_instances where id = ${instanceId}::uuid`;
    assert.equal(instance.status, "completed", "the journey moved on");
  } finally {
    await sim("/_sim/faults", { method: "DELETE" });
    await sql.end();
  }
});

Deno.test("webhook-whatsapp answers Meta's verification handshake only with the supplier's verify token", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql, { twilio: false });
    const verify = (token: string, mode = "subscribe") =>
      fetch(
        `${gatewayUrl}/functions/v1/webhook-whatsapp?supplier=${s.supplierId}&hub.mode=${mode}&hub.verify_token=${token}&hub.challenge=1158201444`,
      );
    const ok = await verify(s.whatsapp.verify_token);
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "1158201444");
    const wrong = await verify("guess");
    assert.equal(wrong.status, 403);
    await wrong.body?.cancel();
    const wrongMode = await verify(s.whatsapp.verify_token, "unsubscribe");
    assert.equal(wrongMode.status, 403);
    await wrongMode.body?.cancel();
  } finally {
    await sql.end();
  }
});

Deno.test("webhook-whatsapp honours STOP from an inbound message and refreshes the window", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql, { config: { channel: "whatsapp" } });
    await sim("/_sim/whatsapp/inbound", {
      body: { phone_number_id: s.whatsapp.phone_number_id, from: s.phone.e164, text: "stop" },
    });
    const [contact] = await sql`select last_inbound_at is not null as window, opted_out_at is not null as out
      from public.messaging_contacts where supplier_id = ${s.supplierId}::uuid and channel = 'whatsapp'
      and address = ${s.phone.e164}`;
    assert.deepEqual({ ...contact }, { window: true, out: true });
    const run = await settled(sql, await s.start());
    assert.equal(run.status, "skipped");
    assert.equal(run.last_error?.code, "opted_out");
  } finally {
    await sql.end();
  }
});

Deno.test("journey-steps refuses an sms step config naming every bad field, and accepts a good one", async () => {
  const sql = stackDb();
  try {
    const s = await smsScenario(sql);
    const userId = crypto.randomUUID();
    await sql`insert into auth.users (id, email) values (${userId}::uuid, ${`${userId}@studio.example`})`;
    await sql`insert into public.supplier_members (supplier_id, user_id) values (${s.supplierId}::uuid, ${userId}::uuid)`;
    const app = await supabase(await userJwt(userId));
    const bad = await app.functions.invoke("journey-steps", {
      body: {
        journey_id: s.journeyId,
        position: 2,
        module_type: "sms",
        config: {
          channel: "pigeon",
          text: "",
          media_url: "http://insecure.example/a.jpg",
          whatsapp_template: { name: "X" },
        },
      },
    });
    assert.ok(bad.error instanceof FunctionsHttpError);
    assert.equal(bad.error.context.status, 422);
    const reason = await bad.error.context.json();
    assert.deepEqual(reason.error.details.map((d: { path: string }) => d.path).sort(), [
      "channel",
      "media_url",
      "text",
      "whatsapp_template.language",
      "whatsapp_template.name",
    ]);
    const ok = await app.functions.invoke("journey-steps", {
      body: {
        journey_id: s.journeyId,
        position: 2,
        module_type: "sms",
        config: { channel: "both", text: "Hi" },
      },
    });
    assert.equal(ok.error, null);
    assert.deepEqual(ok.data.config, { channel: "both", text: "Hi", require_opt_in: false, custom: {} });
  } finally {
    await sql.end();
  }
});

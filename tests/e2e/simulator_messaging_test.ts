// The simulated Twilio and WhatsApp Graph speak their documented contracts: auth, validation errors, faults.
import assert from "node:assert/strict";
import { type Simulator, startSimulator } from "../../stack/simulator/server.ts";

const ACCOUNT = { account_sid: `AC${"ab".repeat(16)}`, auth_token: "sim-token" };
const NUMBER = { phone_number_id: "105500", access_token: "EAAGsim", app_secret: "sim-secret" };

async function withSim(fn: (sim: Simulator) => Promise<void>) {
  const sim = await startSimulator({ port: 0 });
  try {
    for (
      const body of [{ provider: "twilio", ...ACCOUNT }, {
        provider: "whatsapp",
        ...NUMBER,
        templates: [{ name: "t", language: "en_GB" }],
      }]
    ) {
      await (await fetch(`${sim.url}/_sim/config`, { method: "POST", body: JSON.stringify(body) })).body
        ?.cancel();
    }
    await fn(sim);
  } finally {
    await sim.shutdown();
  }
}

const sendSms = (
  sim: Simulator,
  form: Record<string, string>,
  auth = `${ACCOUNT.account_sid}:${ACCOUNT.auth_token}`,
) =>
  fetch(`${sim.url}/twilio/2010-04-01/Accounts/${ACCOUNT.account_sid}/Messages.json`, {
    method: "POST",
    headers: { authorization: `Basic ${btoa(auth)}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  }).then(async (r) => ({ status: r.status, headers: r.headers, body: await r.json() }));

const sendWa = (sim: Simulator, body: unknown, token = NUMBER.access_token) =>
  fetch(`${sim.url}/whatsapp/v21.0/${NUMBER.phone_number_id}/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));

Deno.test("simulated Twilio accepts a valid message and answers Twilio's error shapes otherwise", async () => {
  await withSim(async (sim) => {
    const ok = await sendSms(sim, { To: "+447912000001", From: "+15005550006", Body: "Hi €" });
    assert.equal(ok.status, 201);
    assert.match(ok.body.sid, /^SM[0-9a-f]{32}$/);
    assert.deepEqual([ok.body.status, ok.body.num_segments], ["queued", "1"]);
    const badAuth = await sendSms(
      sim,
      { To: "+447912000001", From: "+15005550006", Body: "Hi" },
      `${ACCOUNT.account_sid}:nope`,
    );
    assert.deepEqual([badAuth.status, badAuth.body.code], [401, 20003]);
    const badTo = await sendSms(sim, { To: "07912", From: "+15005550006", Body: "Hi" });
    assert.deepEqual([badTo.status, badTo.body.code, badTo.body.more_info], [
      400,
      21211,
      "https://www.twilio.com/docs/errors/21211",
    ]);
    const noFrom = await sendSms(sim, { To: "+447912000001", Body: "Hi" });
    assert.equal(noFrom.body.code, 21603);
    await (await fetch(`${sim.url}/_sim/faults`, {
      method: "POST",
      body: JSON.stringify({ provider: "twilio", kind: "status", status: 429, retry_after_s: 2 }),
    })).body?.cancel();
    const limited = await sendSms(sim, { To: "+447912000001", From: "+15005550006", Body: "Hi" });
    assert.deepEqual([limited.status, limited.body.code, limited.headers.get("retry-after")], [
      429,
      20429,
      "2",
    ]);
  });
});

Deno.test("simulated WhatsApp refuses free-form text outside the window and unknown templates", async () => {
  await withSim(async (sim) => {
    const text = { messaging_product: "whatsapp", to: "447912000001", type: "text", text: { body: "Hi" } };
    const outside = await sendWa(sim, text);
    assert.deepEqual([outside.status, outside.body.error.code, outside.body.error.type], [
      400,
      131047,
      "OAuthException",
    ]);
    const template = (language: string) => ({
      messaging_product: "whatsapp",
      to: "447912000002",
      type: "template",
      template: { name: "t", language: { code: language } },
    });
    const wrongLanguage = await sendWa(sim, template("en"));
    assert.equal(wrongLanguage.body.error.code, 132001, "en and en_GB are different templates");
    const ok = await sendWa(sim, template("en_GB"));
    assert.equal(ok.status, 200);
    assert.match(ok.body.messages[0].id, /^wamid\./);
    const again = await sendWa(sim, template("en_GB"));
    assert.equal(again.body.error.code, 131056, "one message per 6 s to the same user");
    const badToken = await sendWa(sim, text, "EAAGwrong");
    assert.deepEqual([badToken.status, badToken.body.error.code], [401, 190]);
  });
});

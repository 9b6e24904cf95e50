// The integrations function end to end through the gateway as a signed-in vendor: credentials verified with
// the (simulated) provider before anything is stored, Vault, our webhook registered and removed, rotation,
// health in list, and refusals (another supplier's user, malformed input, wrong credentials).
import assert from "node:assert/strict";
import { createSupplier } from "../helpers/fixtures.ts";
import { sim, stackDb, supabase, userJwt } from "../helpers/stack.ts";
import { gatewayUrl } from "../../stack/config.ts";
import { signSvix } from "../../shared/webhooks/svix.ts";
import type { Sql } from "../helpers/db.ts";

async function member(sql: Sql) {
  const supplierId = await createSupplier(sql);
  const userId = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${userId}::uuid, ${`${userId}@studio.example`})`;
  await sql`insert into public.supplier_members (supplier_id, user_id) values (${supplierId}::uuid, ${userId}::uuid)`;
  return { supplierId, jwt: await userJwt(userId) };
}

/** Calls the function with supabase-js as the app does; returns the status and the parsed body. */
async function invoke(
  jwt: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const client = await supabase(jwt);
  const { data, error } = await client.functions.invoke("integrations", {
    body: body as Record<string, unknown>,
  });
  if (!error) return { status: 200, body: data };
  const res = (error as { context?: Response }).context;
  if (!res) throw error;
  return { status: res.status, body: await res.json() };
}

async function rowOf(sql: Sql, supplierId: string, provider: string) {
  const [row] = await sql<
    { id: string; status: string; settings: Record<string, unknown>; secret: string | null }[]
  >`
    select i.id::text, i.status, i.settings, s.decrypted_secret as secret
    from public.supplier_integrations i left join vault.decrypted_secrets s on s.id = i.secret_id
    where i.supplier_id = ${supplierId}::uuid and i.provider = ${provider}`;
  return row;
}

type Registered = { id: string; endpoint: string; events: string[] };

Deno.test("integrations connect verifies a Resend key, stores it in Vault and registers our webhook", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const apiKey = `re_live_${crypto.randomUUID().replaceAll("-", "")}`;
    const res = await invoke(v.jwt, {
      action: "connect",
      supplier_id: v.supplierId,
      provider: "resend",
      credentials: { api_key: apiKey },
      settings: { from: "Studio <hello@studio.example>" },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(!JSON.stringify(res.body).includes(apiKey), "the key never comes back");
    const webhook = res.body.webhook as { url: string; registered: boolean; registration: { id: string } };
    assert.equal(webhook.registered, true);
    assert.match(webhook.url, new RegExp(`/functions/v1/webhook-resend\\?supplier=${v.supplierId}$`));

    const row = await rowOf(sql, v.supplierId, "resend");
    assert.equal(row.status, "connected");
    const secret = JSON.parse(row.secret!);
    assert.equal(secret.api_key, apiKey);
    assert.match(secret.webhook_secret, /^whsec_/);
    assert.equal((row.settings.webhook as { id: string }).id, webhook.registration.id);

    const hooks = await sim<Registered[]>("/_sim/resend/webhooks");
    const mine = hooks.find((h) => h.id === webhook.registration.id);
    assert.ok(mine, "the simulator recorded the registration");
    assert.equal(mine.endpoint, webhook.url);
    assert.ok(mine.events.includes("email.bounced"));

    // list: status, reason, since, settings, never the secret.
    const list = await invoke(v.jwt, { action: "list", supplier_id: v.supplierId });
    assert.equal(list.status, 200);
    const [item] = list.body.integrations as Record<string, unknown>[];
    assert.equal(item.provider, "resend");
    assert.equal(item.status, "connected");
    assert.equal(item.status_reason, null);
    assert.ok(!Number.isNaN(Date.parse(String(item.status_since))));
    assert.ok(!JSON.stringify(list.body).includes(apiKey));
    assert.ok(!JSON.stringify(list.body).includes(secret.webhook_secret));

    // test: the key works.
    const tested = await invoke(v.jwt, { action: "test", supplier_id: v.supplierId, provider: "resend" });
    assert.equal(tested.status, 200);
    assert.equal(tested.body.ok, true);

    // rotate: a new key verified, one Vault update, the webhook secret kept.
    const newKey = `re_live_${crypto.randomUUID().replaceAll("-", "")}`;
    const rotated = await invoke(v.jwt, {
      action: "rotate",
      supplier_id: v.supplierId,
      provider: "resend",
      credentials: { api_key: newKey },
    });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const after = await rowOf(sql, v.supplierId, "resend");
    const rotatedSecret = JSON.parse(after.secret!);
    assert.equal(rotatedSecret.api_key, newKey);
    assert.equal(rotatedSecret.webhook_secret, secret.webhook_secret);
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.supplier_integrations where supplier_id = ${v.supplierId}::uuid`;
    assert.equal(n, 1);

    // A rotation to a rejected key changes nothing.
    await sim("/_sim/config", { body: { provider: "resend", invalid_keys: ["re_revoked_rotation_key"] } });
    const refused = await invoke(v.jwt, {
      action: "rotate",
      supplier_id: v.supplierId,
      provider: "resend",
      credentials: { api_key: "re_revoked_rotation_key" },
    });
    assert.equal(refused.status, 422);
    assert.equal(JSON.parse((await rowOf(sql, v.supplierId, "resend")).secret!).api_key, newKey);

    // disconnect: our registration is removed, then the row and its Vault secret.
    const secretId = (await sql<{ secret_id: string }[]>`
      select secret_id::text from public.supplier_integrations
      where supplier_id = ${v.supplierId}::uuid and provider = 'resend'`)[0].secret_id;
    const gone = await invoke(v.jwt, { action: "disconnect", supplier_id: v.supplierId, provider: "resend" });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.equal(gone.body.webhook_removed, true);
    assert.equal(await rowOf(sql, v.supplierId, "resend"), undefined);
    assert.equal((await sql`select 1 from vault.secrets where id = ${secretId}::uuid`).length, 0);
    const remaining = await sim<Registered[]>("/_sim/resend/webhooks");
    assert.ok(!remaining.some((h) => h.id === webhook.registration.id));
  } finally {
    await sql.end();
  }
});

Deno.test("a Resend reconnect's new signing secret verifies its webhooks at once, the replaced one no more", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const connect = () =>
      invoke(v.jwt, {
        action: "connect",
        supplier_id: v.supplierId,
        provider: "resend",
        credentials: { api_key: `re_live_${crypto.randomUUID().replaceAll("-", "")}` },
        settings: { from: "Studio <hello@studio.example>" },
      });
    const post = async (secret: string) => {
      const body = JSON.stringify({
        type: "email.delivered",
        created_at: new Date().toISOString(),
        data: { email_id: crypto.randomUUID() },
      });
      const id = `msg_${crypto.randomUUID()}`;
      const timestamp = Math.floor(Date.now() / 1000);
      const res = await fetch(`${gatewayUrl}/functions/v1/webhook-resend?supplier=${v.supplierId}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "svix-id": id,
          "svix-timestamp": String(timestamp),
          "svix-signature": await signSvix(secret, id, timestamp, body),
        },
        body,
      });
      await res.body?.cancel();
      return res.status;
    };
    assert.equal((await connect()).status, 200);
    const first = JSON.parse((await rowOf(sql, v.supplierId, "resend")).secret!).webhook_secret;
    assert.ok(
      (await post(first)) < 300,
      "the first registration's events are accepted (and its secret cached)",
    );
    assert.equal((await connect()).status, 200);
    const second = JSON.parse((await rowOf(sql, v.supplierId, "resend")).secret!).webhook_secret;
    assert.notEqual(second, first, "the reconnect made a new registration with its own secret");
    assert.ok((await post(second)) < 300, "the new secret is read at once, not after the cache's minute");
    assert.equal(await post(first), 401, "the replaced registration's secret no longer verifies");
  } finally {
    await sql.end();
  }
});

Deno.test("integrations connect answers 422 with Resend's reason for a rejected key and stores nothing", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const res = await invoke(v.jwt, {
      action: "connect",
      supplier_id: v.supplierId,
      provider: "resend",
      credentials: { api_key: "sk_not_a_resend_key" },
    });
    assert.equal(res.status, 422);
    const error = res.body.error as { code: string; message: string };
    assert.equal(error.code, "credentials_rejected");
    assert.match(error.message, /API key is invalid/);
    assert.equal(await rowOf(sql, v.supplierId, "resend"), undefined);
  } finally {
    await sql.end();
  }
});

Deno.test("integrations refuses another supplier's user and malformed input, writing nothing", async () => {
  const sql = stackDb();
  try {
    const owner = await member(sql);
    const other = await member(sql);
    const foreign = await invoke(other.jwt, {
      action: "connect",
      supplier_id: owner.supplierId,
      provider: "resend",
      credentials: { api_key: `re_${crypto.randomUUID()}` },
    });
    assert.equal(foreign.status, 404);
    const foreignList = await invoke(other.jwt, { action: "list", supplier_id: owner.supplierId });
    assert.equal(foreignList.status, 404);

    for (
      const body of [
        { action: "connect", supplier_id: owner.supplierId, provider: "resend", credentials: {} },
        { action: "connect", supplier_id: owner.supplierId, provider: "nope", credentials: { api_key: "x" } },
        {
          action: "connect",
          supplier_id: "not-a-uuid",
          provider: "resend",
          credentials: { api_key: "re_1234567" },
        },
        {
          action: "connect",
          supplier_id: owner.supplierId,
          provider: "resend",
          credentials: { api_key: `re_${crypto.randomUUID()}` },
          settings: { base_url: "https://attacker.example" },
        },
        { action: "explode", supplier_id: owner.supplierId },
      ]
    ) {
      const res = await invoke(owner.jwt, body);
      assert.ok(res.status >= 400 && res.status < 500, `${JSON.stringify(body)} → ${res.status}`);
    }
    const [{ n }] = await sql<{ n: number }[]>`
      select count(*)::int as n from public.supplier_integrations where supplier_id = ${owner.supplierId}::uuid`;
    assert.equal(n, 0);
  } finally {
    await sql.end();
  }
});

Deno.test("integrations test marks a rejected integration disconnected, and a working one connected again", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const apiKey = `re_live_${crypto.randomUUID().replaceAll("-", "")}`;
    const res = await invoke(v.jwt, {
      action: "connect",
      supplier_id: v.supplierId,
      provider: "resend",
      credentials: { api_key: apiKey },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await sim("/_sim/config", { body: { provider: "resend", invalid_keys: [apiKey] } });
    const tested = await invoke(v.jwt, { action: "test", supplier_id: v.supplierId, provider: "resend" });
    assert.equal(tested.status, 200);
    assert.equal(tested.body.ok, false);
    const list = await invoke(v.jwt, { action: "list", supplier_id: v.supplierId });
    const [item] = list.body.integrations as Record<string, unknown>[];
    assert.equal(item.status, "disconnected");
    assert.match(String(item.status_reason), /API key is invalid/);
    assert.ok(item.status_code);
  } finally {
    await sql.end();
  }
});

Deno.test("integrations connect checks Twilio's Account SID and Auth Token and answers the webhook steps", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const hex = () =>
      Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    const twilio = { account_sid: `AC${hex()}`, auth_token: hex() };
    await sim("/_sim/config", { body: { provider: "twilio", ...twilio } });
    const wrong = await invoke(v.jwt, {
      action: "connect",
      supplier_id: v.supplierId,
      provider: "twilio",
      credentials: { ...twilio, auth_token: hex() },
      settings: { from: "+15005550006" },
    });
    assert.equal(wrong.status, 422, JSON.stringify(wrong.body));
    assert.match((wrong.body.error as { message: string }).message, /Authenticate/);
    assert.equal((wrong.body.error as { details: { provider_code: string } }).details.provider_code, "20003");
    assert.equal(await rowOf(sql, v.supplierId, "twilio"), undefined);

    const res = await invoke(v.jwt, {
      action: "connect",
      supplier_id: v.supplierId,
      provider: "twilio",
      credentials: twilio,
      settings: { from: "+15005550006" },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(!JSON.stringify(res.body).includes(twilio.auth_token));
    const webhook = res.body.webhook as { url: string; registered: boolean; steps: string[] };
    assert.equal(webhook.registered, false);
    assert.ok(webhook.steps.some((s) => s.includes(webhook.url)));
    assert.equal(
      JSON.parse((await rowOf(sql, v.supplierId, "twilio")).secret!).auth_token,
      twilio.auth_token,
    );
  } finally {
    await sql.end();
  }
});

Deno.test("integrations connect registers a signed Typeform webhook per form and disconnect removes it", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const token = `tfp_${crypto.randomUUID().replaceAll("-", "")}`;
    const form = `F${crypto.randomUUID().slice(0, 7)}`;
    await sim("/_sim/config", { body: { provider: "typeform", access_token: token, form_ids: [form] } });
    const wrong = await invoke(v.jwt, {
      action: "connect",
      supplier_id: v.supplierId,
      provider: "typeform",
      credentials: { access_token: `tfp_${crypto.randomUUID().replaceAll("-", "")}` },
      settings: { form_ids: [form] },
    });
    assert.equal(wrong.status, 422, JSON.stringify(wrong.body));
    assert.match((wrong.body.error as { message: string }).message, /Authentication credentials not found/);

    const res = await invoke(v.jwt, {
      action: "connect",
      supplier_id: v.supplierId,
      provider: "typeform",
      credentials: { access_token: token },
      settings: { form_ids: [form] },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const secret = JSON.parse((await rowOf(sql, v.supplierId, "typeform")).secret!);
    assert.ok(!JSON.stringify(res.body).includes(secret.webhook_secret));
    type Hook = { form_id: string; url: string; has_secret: boolean };
    const hook = (await sim<Hook[]>("/_sim/typeform/webhooks")).find((h) => h.form_id === form);
    assert.ok(hook?.has_secret);
    assert.equal(hook.url, (res.body.webhook as { url: string }).url);

    // The simulator's signed response reaches webhook-typeform and passes its signature check (no journey
    // token in it, so it is refused after verification, not with 401).
    const fired = await sim<{ status: number }>(`/_sim/typeform/forms/${form}/responses`, { body: {} });
    assert.notEqual(fired.status, 401);
    assert.ok(fired.status >= 200 && fired.status < 500, String(fired.status));

    const gone = await invoke(v.jwt, {
      action: "disconnect",
      supplier_id: v.supplierId,
      provider: "typeform",
    });
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
    assert.equal(gone.body.webhook_removed, true);
    assert.ok(!(await sim<Hook[]>("/_sim/typeform/webhooks")).some((h) => h.form_id === form));
  } finally {
    await sql.end();
  }
});

Deno.test("integrations connect checks SendGrid scopes and registers a signed Event Webhook", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const connect = (api_key: string) =>
      invoke(v.jwt, {
        action: "connect",
        supplier_id: v.supplierId,
        provider: "sendgrid",
        credentials: { api_key },
      });
    const revoked = await connect("not-a-sendgrid-key");
    assert.equal(revoked.status, 422);
    assert.match((revoked.body.error as { message: string }).message, /invalid, expired, or revoked/);
    const readOnly = `SG.${crypto.randomUUID()}`;
    await sim("/_sim/config", { body: { provider: "sendgrid", api_key: readOnly, scopes: ["stats.read"] } });
    const noSend = await connect(readOnly);
    assert.equal(noSend.status, 422);
    assert.match((noSend.body.error as { message: string }).message, /mail\.send/);
    assert.equal(await rowOf(sql, v.supplierId, "sendgrid"), undefined);

    const apiKey = `SG.${crypto.randomUUID()}`;
    const res = await connect(apiKey);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const webhook = res.body.webhook as { registered: boolean; registration: { id: string } };
    assert.equal(webhook.registered, true);
    const secret = JSON.parse((await rowOf(sql, v.supplierId, "sendgrid")).secret!);
    const { public_key } = await sim<{ public_key: string }>("/_sim/sendgrid/public_key");
    assert.equal(secret.webhook_public_key, public_key);
    type Hook = { id: string; signed: boolean };
    assert.ok(
      (await sim<Hook[]>("/_sim/sendgrid/event_webhooks")).find((h) => h.id === webhook.registration.id)
        ?.signed,
    );

    const gone = await invoke(v.jwt, {
      action: "disconnect",
      supplier_id: v.supplierId,
      provider: "sendgrid",
    });
    assert.equal(gone.body.webhook_removed, true);
    assert.ok(
      !(await sim<Hook[]>("/_sim/sendgrid/event_webhooks")).some((h) => h.id === webhook.registration.id),
    );
  } finally {
    await sql.end();
  }
});

type Vendor = { supplierId: string; jwt: string };

function connectBody(v: Vendor, provider: string, credentials: unknown, settings: unknown = {}) {
  return { action: "connect", supplier_id: v.supplierId, provider, credentials, settings };
}

/** Connecting with credentials the provider refuses answers 422 with its reason and writes nothing. */
async function assertRefused(
  sql: Sql,
  v: Vendor,
  provider: string,
  credentials: unknown,
  settings: unknown,
  reason: RegExp,
): Promise<{ details: Record<string, unknown> }> {
  const res = await invoke(v.jwt, connectBody(v, provider, credentials, settings));
  assert.equal(res.status, 422, JSON.stringify(res.body));
  const error = res.body.error as { code: string; message: string; details: Record<string, unknown> };
  assert.equal(error.code, "credentials_rejected");
  assert.match(error.message, reason);
  assert.equal(await rowOf(sql, v.supplierId, provider), undefined, "nothing is written");
  return error;
}

/** `list` shows the integration connected with its settings, and none of the given secrets. */
async function assertListed(v: Vendor, provider: string, secrets: string[]) {
  const list = await invoke(v.jwt, { action: "list", supplier_id: v.supplierId });
  assert.equal(list.status, 200, JSON.stringify(list.body));
  const item = (list.body.integrations as Record<string, unknown>[]).find((i) => i.provider === provider);
  assert.equal(item?.status, "connected");
  assert.equal(item.status_reason, null);
  const text = JSON.stringify(list.body);
  for (const s of secrets) assert.ok(!text.includes(s), "no secret in list");
}

async function disconnect(v: Vendor, provider: string) {
  const gone = await invoke(v.jwt, { action: "disconnect", supplier_id: v.supplierId, provider });
  assert.equal(gone.status, 200, JSON.stringify(gone.body));
  return gone.body as { webhook_removed: boolean; webhook_note: string | null };
}

const randomKey = (prefix: string) => `${prefix}${crypto.randomUUID().replaceAll("-", "")}`;

Deno.test("integrations connect checks the Mailgun domain, registers our webhook for each event and disconnect removes it", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const domain = `mg${crypto.randomUUID().slice(0, 8)}.studio.example`;
    const revoked = randomKey("key-revoked-");
    await sim("/_sim/config", { body: { provider: "mailgun", invalid_keys: [revoked] } });
    await assertRefused(sql, v, "mailgun", { api_key: revoked }, { domain }, /Forbidden/);

    const apiKey = randomKey("key-");
    const res = await invoke(v.jwt, connectBody(v, "mailgun", { api_key: apiKey }, { domain }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(!JSON.stringify(res.body).includes(apiKey));
    const webhook = res.body.webhook as { url: string; registered: boolean };
    assert.equal(webhook.registered, true);
    assert.match(webhook.url, new RegExp(`/functions/v1/webhook-mailgun\\?supplier=${v.supplierId}$`));
    assert.deepEqual((res.body.account as { domain: string }).domain, domain);

    const row = await rowOf(sql, v.supplierId, "mailgun");
    assert.equal(row.status, "connected");
    const secret = JSON.parse(row.secret!);
    assert.equal(secret.api_key, apiKey);
    assert.match(secret.webhook_signing_key, /^key-/, "the account's signing key is fetched and stored");

    type Hook = { domain: string; event: string; url: string };
    const mine = (await sim<Hook[]>("/_sim/mailgun/webhooks")).filter((h) => h.domain === domain);
    assert.deepEqual(
      mine.map((h) => h.event).sort(),
      ["clicked", "complained", "delivered", "opened", "permanent_fail", "temporary_fail", "unsubscribed"],
    );
    assert.ok(mine.every((h) => h.url === webhook.url));
    await assertListed(v, "mailgun", [apiKey, secret.webhook_signing_key]);

    assert.equal((await disconnect(v, "mailgun")).webhook_removed, true);
    assert.equal(await rowOf(sql, v.supplierId, "mailgun"), undefined);
    assert.ok(!(await sim<Hook[]>("/_sim/mailgun/webhooks")).some((h) => h.domain === domain));
  } finally {
    await sql.end();
  }
});

Deno.test("integrations connect fetches the WhatsApp phone number, answers Graph's 190 as 422 and gives the webhook steps", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const phoneNumberId = String(100000000 + Math.floor(Math.random() * 899999999));
    const token = randomKey("EAAG");
    const appSecret = randomKey("");
    await sim("/_sim/config", {
      body: {
        provider: "whatsapp",
        phone_number_id: phoneNumberId,
        access_token: token,
        app_secret: appSecret,
        verified_name: "Lakeside Studio",
      },
    });
    const credentials = { access_token: token, app_secret: appSecret, verify_token: randomKey("verify-") };
    const settings = { phone_number_id: phoneNumberId };
    const refused = await assertRefused(
      sql,
      v,
      "whatsapp",
      { ...credentials, access_token: randomKey("EAAG") },
      settings,
      /Invalid OAuth access token/,
    );
    assert.equal(refused.details.provider_code, "190");
    await assertRefused(sql, v, "whatsapp", credentials, { phone_number_id: "999000111" }, /does not exist/);

    const res = await invoke(v.jwt, connectBody(v, "whatsapp", credentials, settings));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((res.body.account as { verified_name: string }).verified_name, "Lakeside Studio");
    const webhook = res.body.webhook as { url: string; registered: boolean; steps: string[] };
    assert.equal(webhook.registered, false, "Meta has no API to register it: steps instead");
    assert.match(webhook.url, new RegExp(`/functions/v1/webhook-whatsapp\\?supplier=${v.supplierId}$`));
    assert.ok(webhook.steps.some((s) => s.includes(webhook.url)));
    assert.ok(webhook.steps.some((s) => /verify token/.test(s)));
    const text = JSON.stringify(res.body);
    for (const s of Object.values(credentials)) assert.ok(!text.includes(s));
    const secret = JSON.parse((await rowOf(sql, v.supplierId, "whatsapp")).secret!);
    assert.deepEqual(secret, credentials);
    await assertListed(v, "whatsapp", Object.values(credentials));

    const gone = await disconnect(v, "whatsapp");
    assert.equal(gone.webhook_removed, false);
    assert.equal(await rowOf(sql, v.supplierId, "whatsapp"), undefined);
  } finally {
    await sql.end();
  }
});

Deno.test("integrations connect checks the Jotform user, registers a form webhook with a secret token and disconnect removes it", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const apiKey = randomKey("jf");
    const form = String(200000000000000 + Math.floor(Math.random() * 1e9));
    await sim("/_sim/config", {
      body: { provider: "jotform", api_key: apiKey, username: "lakeside", form_ids: [form] },
    });
    await assertRefused(
      sql,
      v,
      "jotform",
      { api_key: randomKey("jf") },
      { form_ids: [form] },
      /not authorized/,
    );

    // A form that is not the account's: 422 from the registration, nothing stored.
    const other = await invoke(v.jwt, connectBody(v, "jotform", { api_key: apiKey }, { form_ids: ["123"] }));
    assert.equal(other.status, 422, JSON.stringify(other.body));
    assert.equal((other.body.error as { code: string }).code, "webhook_registration_refused");
    assert.equal(await rowOf(sql, v.supplierId, "jotform"), undefined);

    const res = await invoke(v.jwt, connectBody(v, "jotform", { api_key: apiKey }, { form_ids: [form] }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((res.body.account as { username: string }).username, "lakeside");
    const secret = JSON.parse((await rowOf(sql, v.supplierId, "jotform")).secret!);
    assert.match(secret.webhook_token, /^[0-9a-f]{48}$/);
    assert.ok(!JSON.stringify(res.body).includes(secret.webhook_token), "the token stays in Vault");
    assert.equal((res.body.webhook as { registered: boolean }).registered, true);

    type Hook = { form_id: string; url: string };
    const hooks = (await sim<Hook[]>("/_sim/jotform/webhooks")).filter((h) => h.form_id === form);
    assert.equal(hooks.length, 1);
    assert.equal(
      hooks[0].url,
      `${(res.body.webhook as { url: string }).url.replace("token=…", `token=${secret.webhook_token}`)}`,
    );
    await assertListed(v, "jotform", [apiKey, secret.webhook_token]);

    assert.equal((await disconnect(v, "jotform")).webhook_removed, true);
    assert.ok(!(await sim<Hook[]>("/_sim/jotform/webhooks")).some((h) => h.form_id === form));
  } finally {
    await sql.end();
  }
});

Deno.test("integrations connect checks Acuity's /me, subscribes our webhook to each appointment event and disconnect deletes them", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const userId = String(10000000 + Math.floor(Math.random() * 89999999));
    const apiKey = randomKey("acuity");
    await sim("/_sim/config", {
      body: { provider: "acuity", user_id: userId, api_key: apiKey, timezone: "Europe/Paris" },
    });
    const settings = { scheduler_url: `https://app.acuityscheduling.com/schedule.php?owner=${userId}` };
    await assertRefused(
      sql,
      v,
      "acuity",
      { user_id: userId, api_key: randomKey("wrong") },
      settings,
      /Unauthorized/,
    );

    const res = await invoke(v.jwt, connectBody(v, "acuity", { user_id: userId, api_key: apiKey }, settings));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((res.body.account as { timezone: string }).timezone, "Europe/Paris");
    const webhook = res.body.webhook as { url: string; registered: boolean; registration: { ids: number[] } };
    assert.equal(webhook.registered, true);
    type Sub = { id: number; owner: string; event: string; target: string };
    const subs = (await sim<Sub[]>("/_sim/acuity/webhooks")).filter((s) => s.owner === userId);
    assert.deepEqual(
      subs.map((s) => s.event).sort(),
      ["appointment.canceled", "appointment.rescheduled", "appointment.scheduled"],
    );
    assert.ok(subs.every((s) => s.target === webhook.url));
    assert.deepEqual(subs.map((s) => s.id).sort(), [...webhook.registration.ids].sort());

    // A booking reaches our receiver through the registered webhook, signed with the stored API key.
    const booked = await sim<{ statuses: number[] }>("/_sim/acuity/book", {
      body: { user_id: userId, scheduler_url: `${settings.scheduler_url}&email=couple@example.com` },
    });
    assert.equal(booked.statuses.length, 1);
    assert.notEqual(booked.statuses[0], 401, "the signature verifies");
    await assertListed(v, "acuity", [apiKey]);

    assert.equal((await disconnect(v, "acuity")).webhook_removed, true);
    assert.ok(!(await sim<Sub[]>("/_sim/acuity/webhooks")).some((s) => s.owner === userId));
  } finally {
    await sql.end();
  }
});

Deno.test("integrations connect checks the Tave / VSCO Workspace API key with /studio/me", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const studio = {
      studio_id: `studio-${crypto.randomUUID().slice(0, 8)}`,
      secret_key: randomKey("sk"),
      api_key: randomKey("vsco"),
    };
    await sim("/_sim/config", { body: { provider: "tave", ...studio } });
    const settings = { job_type: "Wedding", field_map: { couple_name: "FirstName", email: "Email" } };
    await assertRefused(
      sql,
      v,
      "tave",
      { ...studio, api_key: randomKey("vsco") },
      settings,
      /answered 401 Unauthorized/,
    );

    const res = await invoke(v.jwt, connectBody(v, "tave", studio, settings));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((res.body.account as { studio: string }).studio, `Studio ${studio.studio_id}`);
    assert.equal(res.body.webhook, null, "Tave is outbound only");
    assert.deepEqual(JSON.parse((await rowOf(sql, v.supplierId, "tave")).secret!), studio);
    await assertListed(v, "tave", [studio.secret_key, studio.api_key]);
    await disconnect(v, "tave");
    assert.equal(await rowOf(sql, v.supplierId, "tave"), undefined);
  } finally {
    await sql.end();
  }
});

Deno.test("integrations connect of CRM webhooks answers the inbound URL and the signing steps", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const malformed = await invoke(
      v.jwt,
      connectBody(v, "crm_webhooks", { signing_secret: "not-whsec" }, { crm: "honeybook" }),
    );
    assert.equal(malformed.status, 422);
    assert.equal(await rowOf(sql, v.supplierId, "crm_webhooks"), undefined);

    const res = await invoke(
      v.jwt,
      connectBody(v, "crm_webhooks", {}, { crm: "honeybook", url: "https://hooks.zapier.example/catch/1" }),
    );
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const webhook = res.body.webhook as { url: string; registered: boolean; steps: string[] };
    assert.equal(webhook.registered, false);
    const [{ url }] = await sql<
      { url: string }[]
    >`select public.crm_inbound_url(${v.supplierId}::uuid) as url`;
    assert.equal(webhook.url, url, "the URL the automation posts to, with its token");
    assert.ok(webhook.steps.some((s) => s.includes(url)));
    assert.ok(
      webhook.steps.some((s) =>
        /webhook-signature/.test(s) && s.includes("https://hooks.zapier.example/catch/1")
      ),
    );
    const secret = JSON.parse((await rowOf(sql, v.supplierId, "crm_webhooks")).secret!);
    assert.match(secret.signing_secret, /^whsec_/);
    assert.ok(!JSON.stringify(res.body).includes(secret.signing_secret));
    assert.ok(!JSON.stringify(res.body).includes(secret.inbound_secret));

    // The URL is accepted by the receiver (an unknown couple is a 4xx, not a 401).
    const posted = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "couple.updated", couple: { id: crypto.randomUUID() } }),
    });
    await posted.body?.cancel();
    assert.notEqual(posted.status, 401);
    assert.ok(posted.status < 500, String(posted.status));
    await assertListed(v, "crm_webhooks", [secret.signing_secret, secret.inbound_secret]);
    await disconnect(v, "crm_webhooks");
  } finally {
    await sql.end();
  }
});

Deno.test("integrations Calendly reconnect keeps our subscription and disconnect deletes it", async () => {
  const sql = stackDb();
  try {
    const v = await member(sql);
    const token = randomKey("calendly_pat_");
    const first = await invoke(v.jwt, connectBody(v, "calendly", { access_token: token }));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const webhook = first.body.webhook as { url: string; registered: boolean; registration: { uri: string } };
    assert.equal(webhook.registered, true);
    type Sub = { uri: string; url: string };
    const mine = async () =>
      (await sim<Sub[]>("/_sim/calendly/subscriptions")).filter((s) => s.url === webhook.url);
    assert.deepEqual((await mine()).map((s) => s.uri), [webhook.registration.uri]);
    const key = JSON.parse((await rowOf(sql, v.supplierId, "calendly")).secret!).signing_key;

    // Calendly keeps one subscription per URL: connecting again keeps it and its signing key.
    const again = await invoke(v.jwt, connectBody(v, "calendly", { access_token: token }));
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual((await mine()).map((s) => s.uri), [webhook.registration.uri]);
    assert.equal(JSON.parse((await rowOf(sql, v.supplierId, "calendly")).secret!).signing_key, key);

    assert.equal((await disconnect(v, "calendly")).webhook_removed, true);
    assert.deepEqual(await mine(), []);
  } finally {
    await sql.end();
  }
});

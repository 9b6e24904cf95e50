// Unit tests of what the form, review and referral links rest on: the Typeform signature (its
// documented vector), link tokens, scanner filtering, calendar dates and form schedules.
import assert from "node:assert/strict";
import { HttpError } from "../../shared/http/errors.ts";
import { scannerReason } from "../../shared/links/scanners.ts";
import { type LinkPurpose, signLinkToken, verifyLinkToken } from "../../shared/links/tokens.ts";
import { formStepConfig } from "../../shared/modules/form/config.ts";
import { reminderTimes } from "../../shared/modules/form/executor.ts";
import { renderContent } from "../../shared/render/content.ts";
import { addDays, nextAnniversary } from "../../shared/time/dates.ts";
import { signTypeform, verifyTypeform } from "../../shared/webhooks/typeform.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const SECRET = "0123456789abcdef0123456789abcdef";
const REQUEST_ID = "4f1c2b8e-8a4b-4c55-9d47-2b1f6e0a9c11";

Deno.test("signTypeform() reproduces the providers.md vector (base64, not hex)", async () => {
  assert.equal(
    await signTypeform("abc123", '{"event_id":"01","event_type":"form_response"}'),
    "sha256=Mgx2tuqaRER0+NyBYHTDsOQnB7BUTbjh0dlCFRG9BSQ=",
  );
});

Deno.test("verifyTypeform() accepts the vector and refuses a tampered body, another secret or a hex signature", async () => {
  const body = '{"event_id":"01","event_type":"form_response"}';
  const header = "sha256=Mgx2tuqaRER0+NyBYHTDsOQnB7BUTbjh0dlCFRG9BSQ=";
  await verifyTypeform("abc123", header, enc(body));
  await assert.rejects(
    verifyTypeform("abc123", header, enc(body.replace("01", "02"))),
    /no matching signature/,
  );
  await assert.rejects(verifyTypeform("abc124", header, enc(body)), /no matching signature/);
  await assert.rejects(verifyTypeform("abc123", null, enc(body)), /missing headers/);
  await assert.rejects(
    verifyTypeform(
      "abc123",
      "sha256=320c76b6ea9a4444743ef8dc8174c3b0e42707b0544db8e1d1d9501511bd0524",
      enc(body),
    ),
    /no matching signature/,
  );
});

Deno.test("verifyLinkToken() returns the claims when the token is untouched and for its purpose", async () => {
  const t = await signLinkToken(
    SECRET,
    "form",
    { sub: REQUEST_ID, run: 7 },
    new Date(),
    new Date(Date.now() + 60_000),
  );
  const claims = await verifyLinkToken(SECRET, "form", t);
  assert.equal(claims.sub, REQUEST_ID);
  assert.equal(claims.run, 7);
});

Deno.test("verifyLinkToken() answers 400 when tampered, foreign or for another purpose, and 410 when expired", async () => {
  const now = new Date();
  const t = await signLinkToken(
    SECRET,
    "review_click",
    { sub: "r", plt: "google" },
    now,
    new Date(now.getTime() + 60_000),
  );
  const status = async (p: Promise<unknown>) => {
    try {
      await p;
      return 200;
    } catch (e) {
      return (e as HttpError).status;
    }
  };
  const [h, , s] = t.split(".");
  const forged = `${h}.${btoa(JSON.stringify({ sub: "r", plt: "facebook" })).replaceAll("=", "")}.${s}`;
  assert.equal(await status(verifyLinkToken(SECRET, "review_click", forged)), 400);
  assert.equal(await status(verifyLinkToken(SECRET.replace("0", "1"), "review_click", t)), 400);
  assert.equal(await status(verifyLinkToken(SECRET, "referral", t)), 400);
  assert.equal(await status(verifyLinkToken(SECRET, "review_click", undefined)), 400);
  assert.equal(
    await status(verifyLinkToken(SECRET, "review_click", t, new Date(now.getTime() + 120_000))),
    410,
  );
});

Deno.test("verifyLinkToken() answers 400 when a signed token's subject is not an id of its purpose's form", async () => {
  // Found by the fuzz suite: such a subject reached a ::uuid cast and the endpoint answered 500.
  const now = new Date();
  const later = new Date(now.getTime() + 60_000);
  const status = async (purpose: LinkPurpose, sub: string) => {
    const t = await signLinkToken(SECRET, purpose, { sub }, now, later);
    try {
      await verifyLinkToken(SECRET, purpose, t);
      return 200;
    } catch (e) {
      return (e as HttpError).status;
    }
  };
  for (const sub of ["", "not-a-uuid", "9".repeat(30), `${REQUEST_ID}x`]) {
    assert.equal(await status("review_click", sub), 400, sub);
    assert.equal(await status("form", sub), 400, sub);
  }
  assert.equal(await status("review_rating", REQUEST_ID), 200);
  assert.equal(await status("referral", "ABCD1234EFGH"), 200);
  assert.equal(await status("referral", REQUEST_ID), 400);
});

Deno.test("signLinkToken() gives the same token for the same inputs, so a retried send is identical", async () => {
  const at = new Date("2027-01-01T10:00:00Z");
  const exp = new Date("2027-04-01T10:00:00Z");
  assert.equal(
    await signLinkToken(SECRET, "form", { sub: "x" }, at, exp),
    await signLinkToken(SECRET, "form", { sub: "x" }, at, exp),
  );
});

Deno.test("scannerReason() treats HEAD, prefetches and scanner agents as not a click", () => {
  const req = (method: string, headers: Record<string, string>) =>
    new Request("https://x.example/l", { method, headers });
  const browser =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1";
  assert.equal(scannerReason(req("GET", { "user-agent": browser })), null);
  assert.equal(scannerReason(req("HEAD", { "user-agent": browser })), "head request");
  assert.equal(
    scannerReason(req("GET", { "user-agent": browser, "sec-purpose": "prefetch;prerender" })),
    "prefetch",
  );
  assert.equal(scannerReason(req("GET", { "user-agent": browser, purpose: "prefetch" })), "prefetch");
  assert.equal(scannerReason(req("GET", {})), "no user agent");
  for (
    const agent of [
      "Mozilla/5.0 (compatible; Mimecast)",
      "python-requests/2.32",
      "Mozilla/5.0 (compatible; proofpoint)",
      "facebookexternalhit/1.1",
    ]
  ) {
    assert.equal(scannerReason(req("GET", { "user-agent": agent })), "scanner user agent", agent);
  }
});

Deno.test("nextAnniversary() moves 29 February to the 28th in common years", () => {
  assert.equal(nextAnniversary("2024-02-29", "2025-01-10"), "2025-02-28");
  assert.equal(nextAnniversary("2024-02-29", "2027-03-01"), "2028-02-29");
  assert.equal(nextAnniversary("2025-06-14", "2026-06-14"), "2026-06-14");
  assert.equal(nextAnniversary("2025-06-14", "2026-06-15"), "2027-06-14");
  assert.equal(addDays("2026-12-31", 1), "2027-01-01");
});

Deno.test("reminderTimes() keeps reminders at the local hour across a DST change", () => {
  const config = formStepConfig.parse({
    form: { provider: "typeform", form_id: "Ab12Cd34" },
    fields: { a: "b" },
    reminders: [{ after_days: 3 }, { after_days: 7 }],
  });
  // Sent on Thursday 26 March 2026 in London; clocks go forward on Sunday the 29th.
  const times = reminderTimes(config, new Date("2026-03-26T15:00:00Z"), "Europe/London");
  assert.deepEqual(times.map((t) => t.toISOString()), [
    "2026-03-29T09:00:00.000Z",
    "2026-04-02T09:00:00.000Z",
  ]);
});

Deno.test("formStepConfig refuses reminders out of order and an empty field mapping", () => {
  const parsed = formStepConfig.safeParse({
    form: { provider: "internal", form_id: "q", url: "javascript:alert(1)" },
    fields: {},
    reminders: [{ after_days: 7 }, { after_days: 3 }],
  });
  assert.equal(parsed.success, false);
  const paths = parsed.error!.issues.map((i) => i.path.join(".")).sort();
  assert.deepEqual(paths, ["fields", "form.url", "reminders"]);
});

Deno.test("renderContent() escapes plain text and strips scripts, handlers and javascript: links from HTML", () => {
  assert.deepEqual(renderContent("text", "Hi <b>you</b>\n\nBye"), {
    html: "<p>Hi &lt;b&gt;you&lt;/b&gt;</p>\n<p>Bye</p>",
    text: "Hi <b>you</b>\n\nBye",
  });
  const html =
    renderContent("html", '<a href="javascript:x()" onclick="y">a</a><script>z()</script><em>ok</em>').html;
  assert.equal(html, '<a rel="noopener noreferrer" target="_blank">a</a><em>ok</em>');
});

// sendWindow() (business hours, local times across DST) and applyBranding() (only safe brand values).
import assert from "node:assert/strict";
import { emailStepConfig } from "../../shared/modules/email/config.ts";
import { sendWindow } from "../../shared/modules/email/send_window.ts";
import { applyBranding, safeColor, safeLogoUrl } from "../../shared/render/brand.ts";

const ctx = {
  supplierTimeZone: "Europe/London",
  businessHours: { days: [1, 2, 3, 4, 5], start: "09:00", end: "17:00" },
  coupleTimeZone: "America/New_York",
};
const local = (time: string) =>
  emailStepConfig.parse({ template: "t", send_time: "local_time", local_time: time });

Deno.test("sendWindow() sends immediate steps now", () => {
  assert.equal(
    sendWindow(emailStepConfig.parse({ template: "t" }), ctx, new Date("2027-03-13T03:00:00Z")),
    null,
  );
});

Deno.test("sendWindow() waits for the supplier's business hours in the supplier's zone", () => {
  const config = emailStepConfig.parse({ template: "t", send_time: "business_hours" });
  // Saturday noon in London: the next window opens Monday 09:00 (GMT until 28 March 2027).
  assert.equal(
    sendWindow(config, ctx, new Date("2027-03-13T12:00:00Z"))?.toISOString(),
    "2027-03-15T09:00:00.000Z",
  );
});

Deno.test("sendWindow() keeps a local time on the couple's wall clock across the DST change", () => {
  // New York springs forward on 14 March 2027: 09:00 is 14:00Z before, 13:00Z after.
  assert.equal(
    sendWindow(local("09:00"), ctx, new Date("2027-03-13T12:00:00Z"))?.toISOString(),
    "2027-03-13T14:00:00.000Z",
  );
  assert.equal(
    sendWindow(local("09:00"), ctx, new Date("2027-03-13T20:00:00Z"))?.toISOString(),
    "2027-03-14T13:00:00.000Z",
  );
});

Deno.test("sendWindow() sends a run that reaches its local time less than an hour late", () => {
  assert.equal(sendWindow(local("09:00"), ctx, new Date("2027-03-15T13:30:00Z")), null);
  assert.equal(
    sendWindow(local("09:00"), ctx, new Date("2027-03-15T14:00:00Z"))?.toISOString(),
    "2027-03-16T13:00:00.000Z",
  );
});

Deno.test("sendWindow() uses the supplier's zone when the couple has none, and crosses the year", () => {
  const at = sendWindow(local("08:00"), { ...ctx, coupleTimeZone: null }, new Date("2027-12-31T20:00:00Z"));
  assert.equal(at?.toISOString(), "2028-01-01T08:00:00.000Z");
});

Deno.test("emailStepConfig() requires local_time with send_time local_time", () => {
  const r = emailStepConfig.safeParse({ template: "t", send_time: "local_time" });
  assert.equal(r.success, false);
  assert.deepEqual(r.error?.issues.map((i) => i.path.join(".")), ["local_time"]);
});

Deno.test("safeColor() and safeLogoUrl() keep only plain hex colours and https URLs", () => {
  assert.equal(safeColor("#B8860B"), "#b8860b");
  assert.equal(safeColor("#abc"), "#abc");
  for (const bad of ["red", "#abcd", "#b8860b;background:url(x)", "expression(alert(1))", 5]) {
    assert.equal(safeColor(bad), null);
  }
  assert.equal(safeLogoUrl("https://cdn.example/l.png"), "https://cdn.example/l.png");
  for (
    const bad of [
      "http://cdn.example/l.png",
      "javascript:alert(1)",
      "data:image/png;base64,AA",
      "https://u:p@x.example/",
      1,
    ]
  ) {
    assert.equal(safeLogoUrl(bad), null);
  }
});

Deno.test("applyBranding() escapes the supplier's name and the links, and adds the unsubscribe footer", () => {
  const out = applyBranding(
    { subject: "S", html: "<p>body</p>", text: "body" },
    { primary_color: "#123456", logo_url: 'https://cdn.example/a.png?x="><script>' },
    "Tom & <Jerry>",
    "https://p.example/functions/v1/email-unsubscribe?token=a&b",
  );
  assert.match(out.html, /<p>body<\/p>/);
  assert.match(out.html, /alt="Tom &amp; &lt;Jerry&gt;"/);
  assert.doesNotMatch(out.html, /<script>|"><script/);
  assert.match(out.html, /href="https:\/\/p\.example\/functions\/v1\/email-unsubscribe\?token=a&amp;b"/);
  assert.match(out.html, /border-top:4px solid #123456/);
  assert.equal(
    out.text,
    "body\n\n--\nTom & <Jerry>\nUnsubscribe: https://p.example/functions/v1/email-unsubscribe?token=a&b",
  );
});

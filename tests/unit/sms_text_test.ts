// SMS helpers without I/O: segment counting, E.164 normalisation, reply keywords, quiet hours across DST.
import assert from "node:assert/strict";
import { countSegments } from "../../shared/providers/sms/segments.ts";
import { keywordIntent } from "../../shared/modules/sms/keywords.ts";
import { toE164 } from "../../shared/modules/sms/phone.ts";
import { nextOutsideQuietHours } from "../../shared/time/zones.ts";

Deno.test("countSegments() counts GSM-7 septets with 160 in one part and 153 per part after", () => {
  assert.deepEqual(countSegments("a".repeat(160)), { encoding: "GSM-7", units: 160, segments: 1 });
  assert.deepEqual(countSegments("a".repeat(161)), { encoding: "GSM-7", units: 161, segments: 2 });
  assert.deepEqual(countSegments("a".repeat(306)), { encoding: "GSM-7", units: 306, segments: 2 });
  assert.deepEqual(countSegments("a".repeat(307)), { encoding: "GSM-7", units: 307, segments: 3 });
  assert.deepEqual(countSegments("Café £5 Ñ"), { encoding: "GSM-7", units: 9, segments: 1 });
});

Deno.test("countSegments() counts extension characters as two septets and never splits them", () => {
  assert.deepEqual(countSegments("€".repeat(80)), { encoding: "GSM-7", units: 160, segments: 1 });
  assert.equal(countSegments("€".repeat(81)).segments, 2);
  // 152 septets then a two-septet "{": it cannot straddle the part boundary.
  assert.equal(countSegments(`${"a".repeat(152)}{${"a".repeat(152)}`).segments, 3);
});

Deno.test("countSegments() switches to UCS-2 with 70 units in one part and 67 per part after", () => {
  assert.deepEqual(countSegments("ł".repeat(70)), { encoding: "UCS-2", units: 70, segments: 1 });
  assert.deepEqual(countSegments("ł".repeat(71)), { encoding: "UCS-2", units: 71, segments: 2 });
  assert.deepEqual(countSegments("See you soon 💍"), { encoding: "UCS-2", units: 15, segments: 1 });
  // 66 units then an emoji (a surrogate pair) that cannot be split across parts.
  assert.equal(countSegments(`${"x".repeat(66)}💍${"ł".repeat(10)}`).segments, 2);
  assert.equal(countSegments(`${"ł".repeat(66)}💍${"ł".repeat(67)}`).segments, 3);
});

Deno.test("toE164() reads national numbers with the couple's country and keeps international ones", () => {
  assert.deepEqual(toE164("07911 123456", "GB"), { ok: true, e164: "+447911123456" });
  assert.deepEqual(toE164("+44 7911 123456", "IT"), { ok: true, e164: "+447911123456" });
  assert.deepEqual(toE164("333 123 4567", "IT"), { ok: true, e164: "+393331234567" });
  assert.deepEqual(toE164("(415) 555-2671", "US"), { ok: true, e164: "+14155552671" });
});

Deno.test("toE164() refuses an invalid number naming the input", () => {
  const bad = toE164("0791", "GB");
  assert.equal(bad.ok, false);
  assert.match((bad as { message: string }).message, /"0791".*not a valid phone number in GB/);
  const noCountry = toE164("07911 123456", null);
  assert.equal(noCountry.ok, false);
  assert.match((noCountry as { message: string }).message, /"07911 123456".*no country/);
});

Deno.test("keywordIntent() reads single-word keywords whatever the case and trailing punctuation", () => {
  for (const w of ["STOP", "stop", " Stopall ", "UNSUBSCRIBE", "cancel", "End.", "QUIT!"]) {
    assert.equal(keywordIntent(w), "opt_out", w);
  }
  for (const w of ["START", "unstop", "Yes"]) assert.equal(keywordIntent(w), "opt_in", w);
  assert.equal(keywordIntent("help"), "help");
  for (const w of ["please stop", "STOP IT", "", null, "yesterday"]) assert.equal(keywordIntent(w), null);
});

Deno.test("nextOutsideQuietHours() keeps an instant outside the window and defers one inside to its end", () => {
  const quiet = { start: "21:00", end: "08:00" };
  const noon = new Date("2027-06-12T11:00:00Z"); // 12:00 in London (BST)
  assert.equal(nextOutsideQuietHours(noon, "Europe/London", quiet).toISOString(), noon.toISOString());
  const late = new Date("2027-06-12T21:30:00Z"); // 22:30 BST
  assert.equal(nextOutsideQuietHours(late, "Europe/London", quiet).toISOString(), "2027-06-13T07:00:00.000Z");
  const early = new Date("2027-06-13T05:00:00Z"); // 06:00 BST
  assert.equal(
    nextOutsideQuietHours(early, "Europe/London", quiet).toISOString(),
    "2027-06-13T07:00:00.000Z",
  );
  const same = { start: "13:00", end: "14:00" };
  assert.equal(
    nextOutsideQuietHours(new Date("2027-06-12T12:30:00Z"), "Europe/London", same).toISOString(),
    "2027-06-12T13:00:00.000Z",
  );
});

Deno.test("nextOutsideQuietHours() ends at 08:00 local on the nights the clocks change", () => {
  const quiet = { start: "21:00", end: "08:00" };
  // Spring forward in London: 28 March 2027, 01:00 GMT → 02:00 BST. 08:00 BST is 07:00 UTC.
  assert.equal(
    nextOutsideQuietHours(new Date("2027-03-27T22:30:00Z"), "Europe/London", quiet).toISOString(),
    "2027-03-28T07:00:00.000Z",
  );
  // Fall back in New York: 7 November 2027, 02:00 EDT → 01:00 EST. 08:00 EST is 13:00 UTC.
  assert.equal(
    nextOutsideQuietHours(new Date("2027-11-07T02:00:00Z"), "America/New_York", quiet).toISOString(),
    "2027-11-07T13:00:00.000Z",
  );
  // A window ending inside the spring-forward gap (02:30 does not exist) ends after the gap.
  assert.equal(
    nextOutsideQuietHours(new Date("2027-03-28T00:30:00Z"), "Europe/London", { start: "00:00", end: "01:30" })
      .toISOString(),
    "2027-03-28T01:30:00.000Z",
  );
});

Deno.test("nextOutsideQuietHours() refuses equal bounds and bad times", () => {
  assert.throws(() => nextOutsideQuietHours(new Date(), "UTC", { start: "21:00", end: "21:00" }), RangeError);
  assert.throws(() => nextOutsideQuietHours(new Date(), "UTC", { start: "9pm", end: "08:00" }), RangeError);
  assert.throws(
    () => nextOutsideQuietHours(new Date(), "Mars/Olympus", { start: "21:00", end: "08:00" }),
    RangeError,
  );
});

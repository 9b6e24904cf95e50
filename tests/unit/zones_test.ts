// Unit tests for shared/time/zones.ts; expected instants are worked out by hand from each zone's offsets.
// Run them under odd server zones too (TZ=Pacific/Chatham, TZ=America/St_Johns): results must not change.
import assert from "node:assert/strict";
import {
  assertTimeZone,
  type BusinessHours,
  formatWeddingDate,
  localParts,
  nextBusinessTime,
  zonedInstant,
} from "../../shared/time/zones.ts";

const iso = (d: Date) => d.toISOString();
const at = (s: string) => new Date(s);
const weekdays: BusinessHours = { days: [1, 2, 3, 4, 5], start: "09:00", end: "17:00" };
const everyDay: BusinessHours = { days: [1, 2, 3, 4, 5, 6, 7], start: "09:00", end: "17:00" };

/** Asserts the wall clock in tz at `d` reads `expected` ("YYYY-MM-DD HH:MM"). */
function assertLocal(d: Date, tz: string, expected: string): void {
  const p = localParts(d, tz);
  const pad = (n: number) => String(n).padStart(2, "0");
  assert.equal(`${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}`, expected);
}

// --- assertTimeZone ---------------------------------------------------------------------------------

Deno.test("assertTimeZone() returns the zone when Intl knows it", () => {
  for (
    const tz of [
      "Europe/London",
      "America/New_York",
      "Australia/Sydney",
      "Asia/Kolkata",
      "Pacific/Chatham",
      "UTC",
    ]
  ) {
    assert.equal(assertTimeZone(tz), tz);
  }
});

Deno.test("assertTimeZone() throws RangeError naming the zone when Intl rejects it", () => {
  assert.throws(() => assertTimeZone("Mars/Olympus_Mons"), {
    name: "RangeError",
    message: 'Unknown time zone "Mars/Olympus_Mons"',
  });
  assert.throws(() => assertTimeZone("Europe/Londres"), /"Europe\/Londres"/);
  assert.throws(() => assertTimeZone(""), RangeError);
});

// --- localParts ---------------------------------------------------------------------------------------

Deno.test("localParts() reads the wall clock in each zone when given one instant", () => {
  // 2027-06-14 is a Monday. 12:00Z is 13:00 BST, 08:00 EDT, 22:00 AEST, 17:30 IST, and 00:45 the next
  // day in Chatham (+12:45, its winter offset).
  const instant = at("2027-06-14T12:00:00Z");
  assert.deepEqual(localParts(instant, "Europe/London"), {
    year: 2027,
    month: 6,
    day: 14,
    hour: 13,
    minute: 0,
    second: 0,
    weekday: 1,
  });
  assert.deepEqual(localParts(instant, "America/New_York"), {
    year: 2027,
    month: 6,
    day: 14,
    hour: 8,
    minute: 0,
    second: 0,
    weekday: 1,
  });
  assert.equal(localParts(instant, "Australia/Sydney").hour, 22);
  assert.deepEqual(localParts(instant, "Asia/Kolkata"), {
    year: 2027,
    month: 6,
    day: 14,
    hour: 17,
    minute: 30,
    second: 0,
    weekday: 1,
  });
  assert.deepEqual(localParts(instant, "Pacific/Chatham"), {
    year: 2027,
    month: 6,
    day: 15,
    hour: 0,
    minute: 45,
    second: 0,
    weekday: 2,
  });
});

Deno.test("localParts() gives ISO weekday 7 when the local day is Sunday", () => {
  assert.equal(localParts(at("2027-06-13T12:00:00Z"), "Europe/London").weekday, 7);
  // Monday 02:00Z is still Sunday evening in New York.
  assert.equal(localParts(at("2027-06-14T02:00:00Z"), "America/New_York").weekday, 7);
});

Deno.test("localParts() crosses the year when the zone is behind UTC", () => {
  // 2027-01-01T03:00Z is 22:00 EST on Thursday 2026-12-31.
  assert.deepEqual(localParts(at("2027-01-01T03:00:00Z"), "America/New_York"), {
    year: 2026,
    month: 12,
    day: 31,
    hour: 22,
    minute: 0,
    second: 0,
    weekday: 4,
  });
});

Deno.test("localParts() reports hour 0 rather than 24 when it is local midnight", () => {
  const p = localParts(at("2027-06-14T23:00:00Z"), "Europe/London");
  assert.deepEqual([p.day, p.hour, p.minute], [15, 0, 0]);
});

Deno.test("localParts() keeps seconds when the instant has them", () => {
  assert.equal(localParts(at("2027-06-14T12:34:56.789Z"), "Asia/Kolkata").second, 56);
});

Deno.test("localParts() throws RangeError when the instant is invalid or the zone unknown", () => {
  assert.throws(() => localParts(new Date(NaN), "Europe/London"), RangeError);
  assert.throws(() => localParts(at("2027-06-14T12:00:00Z"), "Nowhere/Town"), RangeError);
});

// --- zonedInstant -------------------------------------------------------------------------------------

Deno.test("zonedInstant() uses each zone's offset when the local time is unambiguous", () => {
  assert.equal(iso(zonedInstant("2027-01-15", "09:00", "Europe/London")), "2027-01-15T09:00:00.000Z"); // GMT
  assert.equal(iso(zonedInstant("2027-06-14", "09:00", "Europe/London")), "2027-06-14T08:00:00.000Z"); // BST +1
  assert.equal(iso(zonedInstant("2027-06-14", "09:00", "America/New_York")), "2027-06-14T13:00:00.000Z"); // EDT -4
  assert.equal(iso(zonedInstant("2027-01-15", "09:00", "America/New_York")), "2027-01-15T14:00:00.000Z"); // EST -5
  assert.equal(iso(zonedInstant("2027-06-14", "09:00", "Australia/Sydney")), "2027-06-13T23:00:00.000Z"); // AEST +10
  assert.equal(iso(zonedInstant("2027-01-15", "09:00", "Australia/Sydney")), "2027-01-14T22:00:00.000Z"); // AEDT +11
  assert.equal(iso(zonedInstant("2027-06-14", "09:00", "Asia/Kolkata")), "2027-06-14T03:30:00.000Z"); // +5:30
  assert.equal(iso(zonedInstant("2027-06-14", "00:00", "Asia/Kolkata")), "2027-06-13T18:30:00.000Z");
  assert.equal(iso(zonedInstant("2027-06-14", "09:00", "Pacific/Chatham")), "2027-06-13T20:15:00.000Z"); // +12:45
  assert.equal(iso(zonedInstant("2027-12-14", "09:00", "Pacific/Chatham")), "2027-12-13T19:15:00.000Z"); // +13:45
  assert.equal(iso(zonedInstant("2027-06-14", "23:59", "UTC")), "2027-06-14T23:59:00.000Z");
});

Deno.test("zonedInstant() keeps 09:00 local when London springs forward on 2027-03-28", () => {
  // Clocks go 01:00 GMT -> 02:00 BST at 01:00Z.
  assert.equal(iso(zonedInstant("2027-03-27", "09:00", "Europe/London")), "2027-03-27T09:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-03-28", "09:00", "Europe/London")), "2027-03-28T08:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-03-29", "09:00", "Europe/London")), "2027-03-29T08:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-03-28", "00:59", "Europe/London")), "2027-03-28T00:59:00.000Z");
  assert.equal(iso(zonedInstant("2027-03-28", "02:00", "Europe/London")), "2027-03-28T01:00:00.000Z");
});

Deno.test("zonedInstant() moves past the gap when the local time does not exist in London", () => {
  // 01:30 never happens on 2027-03-28; keeping GMT gives 01:30Z, which reads 02:30 BST.
  const d = zonedInstant("2027-03-28", "01:30", "Europe/London");
  assert.equal(iso(d), "2027-03-28T01:30:00.000Z");
  assertLocal(d, "Europe/London", "2027-03-28 02:30");
  assert.equal(iso(zonedInstant("2027-03-28", "01:00", "Europe/London")), "2027-03-28T01:00:00.000Z");
});

Deno.test("zonedInstant() picks the first occurrence when London falls back on 2027-10-31", () => {
  // Clocks go 02:00 BST -> 01:00 GMT at 01:00Z; 01:30 happens at 00:30Z (BST) and again at 01:30Z (GMT).
  const first = zonedInstant("2027-10-31", "01:30", "Europe/London");
  assert.equal(iso(first), "2027-10-31T00:30:00.000Z");
  assertLocal(first, "Europe/London", "2027-10-31 01:30");
  assertLocal(at("2027-10-31T01:30:00Z"), "Europe/London", "2027-10-31 01:30");
  assert.equal(iso(zonedInstant("2027-10-31", "01:00", "Europe/London")), "2027-10-31T00:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-10-31", "00:59", "Europe/London")), "2027-10-30T23:59:00.000Z");
  assert.equal(iso(zonedInstant("2027-10-31", "02:00", "Europe/London")), "2027-10-31T02:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-10-30", "09:00", "Europe/London")), "2027-10-30T08:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-10-31", "09:00", "Europe/London")), "2027-10-31T09:00:00.000Z");
});

Deno.test("zonedInstant() handles New York's gap when it springs forward on 2027-03-14", () => {
  // 02:00 EST -> 03:00 EDT at 07:00Z; 02:30 does not exist and becomes 03:30 EDT (07:30Z).
  const d = zonedInstant("2027-03-14", "02:30", "America/New_York");
  assert.equal(iso(d), "2027-03-14T07:30:00.000Z");
  assertLocal(d, "America/New_York", "2027-03-14 03:30");
  assert.equal(iso(zonedInstant("2027-03-14", "01:59", "America/New_York")), "2027-03-14T06:59:00.000Z");
  assert.equal(iso(zonedInstant("2027-03-14", "03:00", "America/New_York")), "2027-03-14T07:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-03-13", "09:00", "America/New_York")), "2027-03-13T14:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-03-15", "09:00", "America/New_York")), "2027-03-15T13:00:00.000Z");
});

Deno.test("zonedInstant() picks EDT when New York's 01:30 is ambiguous on 2027-11-07", () => {
  // 02:00 EDT -> 01:00 EST at 06:00Z; 01:30 happens at 05:30Z (EDT) and 06:30Z (EST).
  assert.equal(iso(zonedInstant("2027-11-07", "01:30", "America/New_York")), "2027-11-07T05:30:00.000Z");
  assert.equal(iso(zonedInstant("2027-11-06", "09:00", "America/New_York")), "2027-11-06T13:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-11-07", "09:00", "America/New_York")), "2027-11-07T14:00:00.000Z");
});

Deno.test("zonedInstant() handles Sydney's southern DST when it ends on 2027-04-04", () => {
  // 03:00 AEDT -> 02:00 AEST at 2027-04-03T16:00Z; 02:30 happens first at 15:30Z (AEDT, +11).
  assert.equal(iso(zonedInstant("2027-04-04", "02:30", "Australia/Sydney")), "2027-04-03T15:30:00.000Z");
  assert.equal(iso(zonedInstant("2027-04-03", "09:00", "Australia/Sydney")), "2027-04-02T22:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-04-05", "09:00", "Australia/Sydney")), "2027-04-04T23:00:00.000Z");
});

Deno.test("zonedInstant() handles Sydney's gap when DST starts on 2027-10-03", () => {
  // 02:00 AEST -> 03:00 AEDT at 2027-10-02T16:00Z; 02:30 becomes 03:30 AEDT (16:30Z).
  const d = zonedInstant("2027-10-03", "02:30", "Australia/Sydney");
  assert.equal(iso(d), "2027-10-02T16:30:00.000Z");
  assertLocal(d, "Australia/Sydney", "2027-10-03 03:30");
  assert.equal(iso(zonedInstant("2027-10-01", "09:00", "Australia/Sydney")), "2027-09-30T23:00:00.000Z");
  assert.equal(iso(zonedInstant("2027-10-04", "09:00", "Australia/Sydney")), "2027-10-03T22:00:00.000Z");
});

Deno.test("zonedInstant() handles Chatham's 45-minute offset when its clocks change", () => {
  // DST starts 2027-09-26 02:45 CHAST (+12:45) -> 03:45 CHADT (+13:45), at 2027-09-25T14:00Z.
  const gap = zonedInstant("2027-09-26", "03:00", "Pacific/Chatham");
  assert.equal(iso(gap), "2027-09-25T14:15:00.000Z");
  assertLocal(gap, "Pacific/Chatham", "2027-09-26 04:00");
  // DST ends 2027-04-04 03:45 CHADT -> 02:45 CHAST, at 2027-04-03T14:00Z; 03:00 first happens at 13:15Z.
  assert.equal(iso(zonedInstant("2027-04-04", "03:00", "Pacific/Chatham")), "2027-04-03T13:15:00.000Z");
  assertLocal(at("2027-04-03T14:15:00Z"), "Pacific/Chatham", "2027-04-04 03:00");
});

Deno.test("zonedInstant() round-trips through localParts when the time exists", () => {
  for (
    const tz of ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Pacific/Chatham"]
  ) {
    for (const date of ["2027-01-01", "2027-03-28", "2027-07-04", "2027-10-31", "2027-12-31"]) {
      for (const time of ["00:00", "08:15", "09:00", "12:45", "23:59"]) {
        assertLocal(zonedInstant(date, time, tz), tz, `${date} ${time}`);
      }
    }
  }
});

Deno.test("zonedInstant() throws RangeError when the date, time or zone is malformed", () => {
  assert.throws(() => zonedInstant("2027-02-29", "09:00", "Europe/London"), /"2027-02-29" is not a date/);
  assert.throws(() => zonedInstant("2027-6-14", "09:00", "Europe/London"), RangeError);
  assert.throws(() => zonedInstant("14/06/2027", "09:00", "Europe/London"), RangeError);
  for (const time of ["9:00", "24:00", "09:60", "09:00:00", "", "0900"]) {
    assert.throws(() => zonedInstant("2027-06-14", time, "Europe/London"), RangeError, time);
  }
  assert.throws(() => zonedInstant("2027-06-14", "09:00", "Atlantis/Capital"), /"Atlantis\/Capital"/);
});

Deno.test("zonedInstant() accepts a leap day when the year is a leap year", () => {
  assert.equal(iso(zonedInstant("2028-02-29", "09:00", "Europe/London")), "2028-02-29T09:00:00.000Z");
});

// --- nextBusinessTime ---------------------------------------------------------------------------------

Deno.test("nextBusinessTime() returns the instant itself when it is inside the window", () => {
  const instant = at("2027-06-14T09:15:30.250Z"); // Monday 10:15:30.250 BST
  const next = nextBusinessTime(instant, "Europe/London", weekdays);
  assert.equal(next.getTime(), instant.getTime());
  assert.notEqual(next, instant);
});

Deno.test("nextBusinessTime() returns the instant when it is exactly the window start", () => {
  assert.equal(
    iso(nextBusinessTime(at("2027-06-14T08:00:00Z"), "Europe/London", weekdays)),
    "2027-06-14T08:00:00.000Z",
  );
});

Deno.test("nextBusinessTime() returns the instant when it is one millisecond before the end", () => {
  assert.equal(
    iso(nextBusinessTime(at("2027-06-14T15:59:59.999Z"), "Europe/London", weekdays)),
    "2027-06-14T15:59:59.999Z",
  );
});

Deno.test("nextBusinessTime() moves to the next day's start when the instant is exactly the end", () => {
  // Monday 17:00 BST -> Tuesday 09:00 BST.
  assert.equal(
    iso(nextBusinessTime(at("2027-06-14T16:00:00Z"), "Europe/London", weekdays)),
    "2027-06-15T08:00:00.000Z",
  );
});

Deno.test("nextBusinessTime() returns today's start when the instant is before it", () => {
  // Monday 07:00 BST -> 09:00 BST the same day.
  assert.equal(
    iso(nextBusinessTime(at("2027-06-14T06:00:00Z"), "Europe/London", weekdays)),
    "2027-06-14T08:00:00.000Z",
  );
});

Deno.test("nextBusinessTime() uses the vendor's local date when UTC is already on another day", () => {
  // Monday 02:00Z is Sunday 22:00 EDT -> Monday 09:00 EDT.
  assert.equal(
    iso(nextBusinessTime(at("2027-06-14T02:00:00Z"), "America/New_York", weekdays)),
    "2027-06-14T13:00:00.000Z",
  );
  // Sunday 20:00Z is Monday 01:30 IST -> Monday 09:00 IST.
  assert.equal(
    iso(nextBusinessTime(at("2027-06-13T20:00:00Z"), "Asia/Kolkata", weekdays)),
    "2027-06-14T03:30:00.000Z",
  );
});

Deno.test("nextBusinessTime() moves Friday 17:30 to Monday 09:00 when London springs forward between", () => {
  // Friday 2027-03-26 17:30 GMT -> Monday 2027-03-29 09:00 BST (08:00Z).
  const next = nextBusinessTime(at("2027-03-26T17:30:00Z"), "Europe/London", weekdays);
  assert.equal(iso(next), "2027-03-29T08:00:00.000Z");
  assertLocal(next, "Europe/London", "2027-03-29 09:00");
});

Deno.test("nextBusinessTime() moves Friday 17:30 to Monday 09:00 when London falls back between", () => {
  // Friday 2027-10-29 17:30 BST (16:30Z) -> Monday 2027-11-01 09:00 GMT.
  assert.equal(
    iso(nextBusinessTime(at("2027-10-29T16:30:00Z"), "Europe/London", weekdays)),
    "2027-11-01T09:00:00.000Z",
  );
});

Deno.test("nextBusinessTime() moves Friday 17:30 to Monday 09:00 when New York's clocks change between", () => {
  // Friday 2027-03-12 17:30 EST (22:30Z) -> Monday 2027-03-15 09:00 EDT (13:00Z).
  assert.equal(
    iso(nextBusinessTime(at("2027-03-12T22:30:00Z"), "America/New_York", weekdays)),
    "2027-03-15T13:00:00.000Z",
  );
  // Friday 2027-11-05 17:30 EDT (21:30Z) -> Monday 2027-11-08 09:00 EST (14:00Z).
  assert.equal(
    iso(nextBusinessTime(at("2027-11-05T21:30:00Z"), "America/New_York", weekdays)),
    "2027-11-08T14:00:00.000Z",
  );
});

Deno.test("nextBusinessTime() moves Friday 17:30 to Monday 09:00 when Sydney's clocks change between", () => {
  // Friday 2027-04-02 17:30 AEDT (06:30Z) -> Monday 2027-04-05 09:00 AEST (2027-04-04T23:00Z).
  assert.equal(
    iso(nextBusinessTime(at("2027-04-02T06:30:00Z"), "Australia/Sydney", weekdays)),
    "2027-04-04T23:00:00.000Z",
  );
  // Friday 2027-10-01 17:30 AEST (07:30Z) -> Monday 2027-10-04 09:00 AEDT (2027-10-03T22:00Z).
  assert.equal(
    iso(nextBusinessTime(at("2027-10-01T07:30:00Z"), "Australia/Sydney", weekdays)),
    "2027-10-03T22:00:00.000Z",
  );
});

Deno.test("nextBusinessTime() moves Friday 17:30 to Monday 09:00 when the zone has a half-hour or 45-minute offset", () => {
  // Friday 2027-06-18 17:30 IST (12:00Z) -> Monday 2027-06-21 09:00 IST (03:30Z).
  assert.equal(
    iso(nextBusinessTime(at("2027-06-18T12:00:00Z"), "Asia/Kolkata", weekdays)),
    "2027-06-21T03:30:00.000Z",
  );
  // Friday 2027-06-18 17:30 CHAST (04:45Z) -> Monday 2027-06-21 09:00 CHAST (2027-06-20T20:15Z).
  assert.equal(
    iso(nextBusinessTime(at("2027-06-18T04:45:00Z"), "Pacific/Chatham", weekdays)),
    "2027-06-20T20:15:00.000Z",
  );
});

Deno.test("nextBusinessTime() keeps 09:00 local on the day the clocks change when every day is allowed", () => {
  // Saturday 17:00 GMT -> Sunday 2027-03-28 09:00 BST (08:00Z), the day of the change.
  assert.equal(
    iso(nextBusinessTime(at("2027-03-27T17:00:00Z"), "Europe/London", everyDay)),
    "2027-03-28T08:00:00.000Z",
  );
  // Saturday 17:00 BST -> Sunday 2027-10-31 09:00 GMT.
  assert.equal(
    iso(nextBusinessTime(at("2027-10-30T16:00:00Z"), "Europe/London", everyDay)),
    "2027-10-31T09:00:00.000Z",
  );
  // Saturday 17:00 EST -> Sunday 2027-03-14 09:00 EDT (13:00Z).
  assert.equal(
    iso(nextBusinessTime(at("2027-03-13T22:00:00Z"), "America/New_York", everyDay)),
    "2027-03-14T13:00:00.000Z",
  );
  // Saturday 17:00 AEST -> Sunday 2027-10-03 09:00 AEDT (2027-10-02T22:00Z).
  assert.equal(
    iso(nextBusinessTime(at("2027-10-02T07:00:00Z"), "Australia/Sydney", everyDay)),
    "2027-10-02T22:00:00.000Z",
  );
});

Deno.test("nextBusinessTime() finds the only allowed weekday when days has one entry", () => {
  // Saturday-only 10:00-14:00 (wedding fairs). Monday 2027-06-14 noon BST -> Saturday 2027-06-19 10:00 BST.
  const fairs = { days: [6], start: "10:00", end: "14:00" };
  assert.equal(
    iso(nextBusinessTime(at("2027-06-14T11:00:00Z"), "Europe/London", fairs)),
    "2027-06-19T09:00:00.000Z",
  );
  // Saturday after 14:00 -> the next Saturday.
  assert.equal(
    iso(nextBusinessTime(at("2027-06-19T13:00:00Z"), "Europe/London", fairs)),
    "2027-06-26T09:00:00.000Z",
  );
});

Deno.test("nextBusinessTime() accepts days unordered or repeated when the set is valid", () => {
  const hours = { days: [5, 1, 5], start: "09:00", end: "17:00" };
  // Tuesday 2027-06-15 noon BST -> Friday 2027-06-18 09:00 BST.
  assert.equal(
    iso(nextBusinessTime(at("2027-06-15T11:00:00Z"), "Europe/London", hours)),
    "2027-06-18T08:00:00.000Z",
  );
});

Deno.test("nextBusinessTime() starts after the gap when the window start does not exist that day", () => {
  // Window 02:30-05:00 in New York; on 2027-03-14 02:30 does not exist, so it opens at 03:30 EDT (07:30Z).
  const hours = { days: [7], start: "02:30", end: "05:00" };
  assert.equal(
    iso(nextBusinessTime(at("2027-03-14T05:00:00Z"), "America/New_York", hours)),
    "2027-03-14T07:30:00.000Z",
  );
});

Deno.test("nextBusinessTime() opens at the first occurrence when the window start is ambiguous", () => {
  // Window 01:30-04:00 in London; on 2027-10-31 01:30 first happens at 00:30Z (BST).
  const hours = { days: [7], start: "01:30", end: "04:00" };
  assert.equal(
    iso(nextBusinessTime(at("2027-10-30T23:30:00Z"), "Europe/London", hours)),
    "2027-10-31T00:30:00.000Z",
  );
});

Deno.test("nextBusinessTime() throws RangeError when the business hours are invalid", () => {
  const instant = at("2027-06-14T12:00:00Z");
  const bad: BusinessHours[] = [
    { days: [], start: "09:00", end: "17:00" },
    { days: [0], start: "09:00", end: "17:00" },
    { days: [8], start: "09:00", end: "17:00" },
    { days: [1.5], start: "09:00", end: "17:00" },
    { days: [1], start: "17:00", end: "09:00" },
    { days: [1], start: "09:00", end: "09:00" },
    { days: [1], start: "9:00", end: "17:00" },
    { days: [1], start: "09:00", end: "24:00" },
    { days: [1], start: "09:00", end: "17h00" },
  ];
  for (const hours of bad) {
    assert.throws(() => nextBusinessTime(instant, "Europe/London", hours), RangeError, JSON.stringify(hours));
  }
  assert.throws(() => nextBusinessTime(instant, "Europe/London", { ...weekdays, start: "17:00" }), {
    message: "Cannot find business time: start 17:00 must be before end 17:00",
  });
});

Deno.test("nextBusinessTime() throws RangeError when the zone or instant is invalid", () => {
  assert.throws(() => nextBusinessTime(at("2027-06-14T12:00:00Z"), "Europe/Nowhere", weekdays), RangeError);
  assert.throws(() => nextBusinessTime(new Date(NaN), "Europe/London", weekdays), RangeError);
});

// --- formatWeddingDate --------------------------------------------------------------------------------

Deno.test("formatWeddingDate() uses the locale's long date style when the locale is supported", () => {
  assert.equal(formatWeddingDate("2027-06-14", "en-GB"), "14 June 2027");
  assert.equal(formatWeddingDate("2027-06-14", "en-US"), "June 14, 2027");
  assert.equal(formatWeddingDate("2027-06-14", "fr-FR"), "14 juin 2027");
  assert.equal(formatWeddingDate("2027-06-14", "de-DE"), "14. Juni 2027");
});

Deno.test("formatWeddingDate() never shifts the day when the date is at a year or month edge", () => {
  assert.equal(formatWeddingDate("2027-01-01", "en-GB"), "1 January 2027");
  assert.equal(formatWeddingDate("2027-12-31", "en-US"), "December 31, 2027");
  assert.equal(formatWeddingDate("2028-02-29", "de-DE"), "29. Februar 2028");
  assert.equal(formatWeddingDate("2027-03-28", "en-GB"), "28 March 2027");
});

Deno.test("formatWeddingDate() falls back to en when the locale is invalid or unsupported", () => {
  for (const locale of ["not a locale!", "", "zz", "en_GB!"]) {
    assert.equal(formatWeddingDate("2027-06-14", locale), "June 14, 2027", JSON.stringify(locale));
  }
});

Deno.test("formatWeddingDate() throws RangeError when the date is not a real YYYY-MM-DD date", () => {
  for (const date of ["2027-02-30", "2027-13-01", "14/06/2027", "2027-06-14T00:00:00Z", ""]) {
    assert.throws(() => formatWeddingDate(date, "en-GB"), RangeError, date);
  }
});

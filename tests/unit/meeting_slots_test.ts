// Slot proposals: the vendor's business hours in the vendor's zone, across DST, keeping buffer_time clear.
import assert from "node:assert/strict";
import { proposeSlots } from "../../shared/modules/meeting/slots.ts";

const WEEKDAYS = { days: [1, 2, 3, 4, 5], start: "09:00", end: "17:00" };
const iso = (slots: { start: Date }[]) => slots.map((s) => s.start.toISOString());

Deno.test("proposeSlots() keeps 09:00 local on both sides of the spring DST change when the vendor is in London", () => {
  // Friday 27 March 2026 is GMT; Monday 30 March is BST (clocks went forward on Sunday 29th).
  const friday = proposeSlots({
    from: new Date("2026-03-27T08:00:00Z"),
    days: 1,
    timeZone: "Europe/London",
    hours: WEEKDAYS,
    durationMinutes: 60,
    bufferMinutes: 0,
    busy: [],
  });
  assert.deepEqual(iso(friday), ["2026-03-27T09:00:00.000Z"]);
  // Friday is fully busy: the next slot is Monday 09:00 BST = 08:00 UTC, not 09:00 UTC.
  const monday = proposeSlots({
    from: new Date("2026-03-27T08:00:00Z"),
    days: 7,
    timeZone: "Europe/London",
    hours: WEEKDAYS,
    durationMinutes: 60,
    bufferMinutes: 0,
    busy: [{ start: new Date("2026-03-27T09:00:00Z"), end: new Date("2026-03-27T17:00:00Z") }],
  });
  assert.deepEqual(iso(monday), ["2026-03-30T08:00:00.000Z"]);
});

Deno.test("proposeSlots() follows the autumn change in New York when the window spans it", () => {
  const slots = proposeSlots({
    from: new Date("2026-10-30T12:00:00Z"),
    days: 5,
    timeZone: "America/New_York",
    hours: { days: [1], start: "10:00", end: "11:00" },
    durationMinutes: 30,
    bufferMinutes: 0,
    busy: [],
    stepMinutes: 30,
    count: 3,
  });
  // Monday 2 November 2026 is EST (UTC-5): 10:00 local = 15:00 UTC; the window holds two slots.
  assert.deepEqual(iso(slots), ["2026-11-02T15:00:00.000Z", "2026-11-02T15:30:00.000Z"]);
});

Deno.test("proposeSlots() keeps buffer_time clear before and after busy time", () => {
  const base = {
    from: new Date("2026-06-01T00:00:00Z"),
    days: 1,
    timeZone: "UTC",
    hours: WEEKDAYS,
    durationMinutes: 30,
    busy: [{ start: new Date("2026-06-01T09:00:00Z"), end: new Date("2026-06-01T10:00:00Z") }],
  };
  assert.deepEqual(iso(proposeSlots({ ...base, bufferMinutes: 0 })), ["2026-06-01T10:00:00.000Z"]);
  assert.deepEqual(iso(proposeSlots({ ...base, bufferMinutes: 15 })), ["2026-06-01T10:15:00.000Z"]);
  // A slot may not end within the buffer before a later busy block either.
  const before = proposeSlots({
    ...base,
    bufferMinutes: 15,
    busy: [{ start: new Date("2026-06-01T09:30:00Z"), end: new Date("2026-06-01T17:00:00Z") }],
  });
  assert.deepEqual(before, []);
});

Deno.test("proposeSlots() skips closed days and never starts before the notice time", () => {
  const slots = proposeSlots({
    from: new Date("2026-06-06T10:07:00Z"), // a Saturday
    days: 4,
    timeZone: "Europe/Rome",
    hours: WEEKDAYS,
    durationMinutes: 45,
    bufferMinutes: 0,
    busy: [],
  });
  assert.deepEqual(iso(slots), ["2026-06-08T07:00:00.000Z"]); // Monday 09:00 CEST
  const sameDay = proposeSlots({
    from: new Date("2026-06-08T07:07:00Z"),
    days: 1,
    timeZone: "Europe/Rome",
    hours: WEEKDAYS,
    durationMinutes: 45,
    bufferMinutes: 0,
    busy: [],
  });
  assert.deepEqual(iso(sameDay), ["2026-06-08T07:15:00.000Z"]);
});

Deno.test("proposeSlots() returns nothing when the meeting is longer than the business day", () => {
  const slots = proposeSlots({
    from: new Date("2026-06-01T00:00:00Z"),
    days: 7,
    timeZone: "UTC",
    hours: { days: [1, 2, 3, 4, 5], start: "09:00", end: "10:00" },
    durationMinutes: 90,
    bufferMinutes: 0,
    busy: [],
  });
  assert.deepEqual(slots, []);
});

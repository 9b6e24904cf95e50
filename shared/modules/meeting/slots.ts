// Meeting slot proposals: free times inside the vendor's business hours (vendor's zone, DST-safe) that
// keep buffer_time clear of every busy interval.
import { type BusinessHours, localParts, zonedInstant } from "../../time/zones.ts";

/** What to look for. */
export type SlotQuery = {
  /** No slot starts before this instant (now plus the minimum notice). */
  from: Date;
  /** Calendar days searched, counted in the vendor's zone from `from`'s local date. */
  days: number;
  timeZone: string;
  hours: BusinessHours;
  durationMinutes: number;
  /** Minutes kept free before and after the meeting. */
  bufferMinutes: number;
  /** Busy intervals of the vendor's calendar. */
  busy: { start: Date; end: Date }[];
  /** Slots start on this grid of local minutes past the window start (default 15). */
  stepMinutes?: number;
  /** How many slots to return at most (default 1). */
  count?: number;
};

/** A proposed slot. */
export type Slot = { start: Date; end: Date };

const MINUTE = 60_000;

function addDays(date: { year: number; month: number; day: number }, n: number): string {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + n));
  return d.toISOString().slice(0, 10);
}

/**
 * The earliest free slots. Each day's window is built from wall-clock times in the vendor's zone, so a
 * 09:00 start stays 09:00 local on both sides of a DST change; a slot must end by the window's end.
 */
export function proposeSlots(q: SlotQuery): Slot[] {
  if (!(q.durationMinutes > 0)) throw new RangeError("Cannot propose slots: duration must be positive");
  if (!(q.bufferMinutes >= 0)) throw new RangeError("Cannot propose slots: buffer_time must not be negative");
  const step = (q.stepMinutes ?? 15) * MINUTE;
  const want = q.count ?? 1;
  const duration = q.durationMinutes * MINUTE;
  const buffer = q.bufferMinutes * MINUTE;
  const busy = [...q.busy].sort((a, b) => a.start.getTime() - b.start.getTime());
  const first = localParts(q.from, q.timeZone);
  const allowed = new Set(q.hours.days);
  const out: Slot[] = [];
  for (let d = 0; d < q.days && out.length < want; d++) {
    const date = addDays(first, d);
    const open = zonedInstant(date, q.hours.start, q.timeZone).getTime();
    const close = zonedInstant(date, q.hours.end, q.timeZone).getTime();
    if (!allowed.has(localParts(new Date(open), q.timeZone).weekday)) continue;
    for (let s = open; s + duration <= close && out.length < want; s += step) {
      if (s < q.from.getTime()) continue;
      const guardStart = s - buffer;
      const guardEnd = s + duration + buffer;
      const clash = busy.some((b) => b.start.getTime() < guardEnd && b.end.getTime() > guardStart);
      if (!clash) out.push({ start: new Date(s), end: new Date(s + duration) });
    }
  }
  return out;
}

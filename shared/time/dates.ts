// Calendar dates ("YYYY-MM-DD") in a couple's or vendor's zone: today's date there, and date arithmetic.
import { localParts } from "./zones.ts";

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** The calendar date of `instant` in `tz`, as YYYY-MM-DD. */
export function localDate(instant: Date, tz: string): string {
  const p = localParts(instant, tz);
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}`;
}

/** `date` plus `days` calendar days (negative to go back). */
export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) throw new RangeError(`Cannot add days: "${date}" is not a YYYY-MM-DD date`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/**
 * The first anniversary of `date` that falls on or after `from` (both YYYY-MM-DD). A 29 February date
 * has its anniversary on 28 February in common years.
 */
export function nextAnniversary(date: string, from: string): string {
  const [y, m, d] = date.split("-").map(Number);
  let year = Math.max(y + 1, Number(from.slice(0, 4)));
  for (;;) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    const day = m === 2 && d === 29 && !leap ? 28 : d;
    const candidate = `${pad(year, 4)}-${pad(m)}-${pad(day)}`;
    if (candidate >= from) return candidate;
    year++;
  }
}

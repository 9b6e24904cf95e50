/** Time-zone arithmetic for vendors' business hours and wedding dates, DST-safe and independent of the server's zone. */

/** A wall-clock reading in a time zone. */
export type LocalParts = {
  year: number;
  /** 1..12 */
  month: number;
  /** 1..31 */
  day: number;
  /** 0..23 */
  hour: number;
  minute: number;
  second: number;
  /** ISO weekday: 1 = Monday .. 7 = Sunday. */
  weekday: number;
};

/** Weekly opening hours in the vendor's zone: a window [start, end) on each allowed weekday. */
export type BusinessHours = {
  /** ISO weekdays 1 (Monday) .. 7 (Sunday). */
  days: number[];
  /** "HH:MM", 24-hour, e.g. "09:00". */
  start: string;
  /** "HH:MM", 24-hour, after start, e.g. "17:00". */
  end: string;
};

const DAY_MS = 86_400_000;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_RE = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** One formatter per zone: constructing Intl.DateTimeFormat is far slower than using one. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(tz: string): Intl.DateTimeFormat {
  let fmt = formatters.get(tz);
  if (!fmt) {
    if (typeof tz !== "string" || tz.trim() === "") {
      throw new RangeError(`Unknown time zone "${tz}"`);
    }
    try {
      fmt = new Intl.DateTimeFormat("en-US", {
        timeZone: tz,
        hourCycle: "h23",
        year: "numeric",
        month: "numeric",
        day: "numeric",
        hour: "numeric",
        minute: "numeric",
        second: "numeric",
        era: "short",
      });
    } catch {
      throw new RangeError(`Unknown time zone "${tz}"`);
    }
    formatters.set(tz, fmt);
  }
  return fmt;
}

/**
 * Checks that `tz` is a time zone Intl knows (e.g. "Europe/London").
 * @returns `tz` unchanged, for chaining.
 * @throws {RangeError} Naming the zone, if it is not a valid time zone.
 */
export function assertTimeZone(tz: string): string {
  formatterFor(tz);
  return tz;
}

/** Milliseconds since the epoch of a wall-clock reading taken as UTC (works for years 0..99 too). */
function wallMs(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return d.getTime();
}

/** ISO weekday (1 = Monday .. 7 = Sunday) of a calendar date. */
function isoWeekday(year: number, month: number, day: number): number {
  return new Date(wallMs(year, month, day)).getUTCDay() || 7;
}

/**
 * Reads the wall clock in `tz` at `instant`.
 * @throws {RangeError} If the instant is an invalid Date or the zone is unknown.
 */
export function localParts(instant: Date, tz: string): LocalParts {
  if (!(instant instanceof Date) || Number.isNaN(instant.getTime())) {
    throw new RangeError(`Cannot read local time in "${tz}": the instant is not a valid Date`);
  }
  const fields: Record<string, string> = {};
  for (const part of formatterFor(tz).formatToParts(instant)) fields[part.type] = part.value;
  let year = Number(fields.year);
  // Years before 1 CE are shown as "n BC"; astronomical year numbering makes 1 BC year 0.
  if (fields.era === "BC" || fields.era === "B") year = 1 - year;
  const month = Number(fields.month);
  const day = Number(fields.day);
  return {
    year,
    month,
    day,
    hour: Number(fields.hour) % 24,
    minute: Number(fields.minute),
    second: Number(fields.second),
    weekday: isoWeekday(year, month, day),
  };
}

/** The zone's UTC offset in ms at `ms` (local wall time minus UTC), to the second. */
function offsetAt(ms: number, tz: string): number {
  const p = localParts(new Date(ms), tz);
  return wallMs(p.year, p.month, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000;
}

/** Parses "YYYY-MM-DD" into a real calendar date. */
function parseDate(date: string, what: string): { year: number; month: number; day: number } {
  const m = typeof date === "string" ? DATE_RE.exec(date) : null;
  if (m) {
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const check = new Date(wallMs(year, month, day));
    if (check.getUTCMonth() + 1 === month && check.getUTCDate() === day) return { year, month, day };
  }
  throw new RangeError(`Cannot ${what}: "${date}" is not a date in YYYY-MM-DD form`);
}

/** Parses "HH:MM" (00:00..23:59) into minutes since midnight. */
function parseTime(time: string, what: string): number {
  const m = typeof time === "string" ? TIME_RE.exec(time) : null;
  if (!m) throw new RangeError(`Cannot ${what}: "${time}" is not a time in HH:MM form`);
  return Number(m[1]) * 60 + Number(m[2]);
}

function formatDate(year: number, month: number, day: number): string {
  const pad = (n: number, w: number) => String(n).padStart(w, "0");
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

function instantOf(year: number, month: number, day: number, minutes: number, tz: string): Date {
  const wall = wallMs(year, month, day, Math.floor(minutes / 60), minutes % 60);
  // Offsets a day either side bracket the true instant (offsets stay within ±15 h), so one of them
  // is the offset in force before any transition near this wall time and the other the one after.
  const before = offsetAt(wall - DAY_MS, tz);
  const after = offsetAt(wall + DAY_MS, tz);
  const candidates = [before, after, offsetAt(wall, tz)]
    .map((offset) => wall - offset)
    .filter((ms) => wall - ms === offsetAt(ms, tz));
  if (candidates.length > 0) return new Date(Math.min(...candidates)); // Ambiguous: the first occurrence.
  // In a gap: keep the pre-transition offset, which lands after the gap shifted by its length.
  return new Date(wall - before);
}

/**
 * The instant at which the wall clock in `tz` shows `date` and `time`; independent of the server's zone.
 *
 * - Nonexistent local time (spring-forward gap): shifted forward by the gap, e.g. 02:30 → 03:30 local.
 * - Ambiguous local time (fall-back overlap): the first occurrence (the pre-transition offset).
 *
 * @param date "YYYY-MM-DD"
 * @param time "HH:MM", 00:00..23:59
 * @throws {RangeError} If the date, time or zone is invalid.
 */
export function zonedInstant(date: string, time: string, tz: string): Date {
  assertTimeZone(tz);
  const { year, month, day } = parseDate(date, `find the instant in "${tz}"`);
  const minutes = parseTime(time, `find the instant in "${tz}"`);
  return instantOf(year, month, day, minutes, tz);
}

/**
 * The earliest instant at or after `instant` that falls within business hours in `tz`: `instant` itself
 * (as a new Date) when inside [start, end) on an allowed day, otherwise the start of the next window.
 * Window edges are wall-clock times, so a 09:00 start stays 09:00 local across DST changes.
 *
 * @throws {RangeError} If days is empty or holds something other than 1..7, start or end is not
 *   HH:MM, start is not before end, the instant is invalid or the zone is unknown.
 */
export function nextBusinessTime(instant: Date, tz: string, hours: BusinessHours): Date {
  assertTimeZone(tz);
  if (hours === null || typeof hours !== "object") {
    throw new RangeError("Cannot find business time: hours must be an object with days, start and end");
  }
  const { days, start, end } = hours;
  if (!Array.isArray(days) || days.length === 0) {
    throw new RangeError("Cannot find business time: days must list at least one ISO weekday (1..7)");
  }
  for (const d of days) {
    if (!Number.isInteger(d) || d < 1 || d > 7) {
      throw new RangeError(
        `Cannot find business time: ${d} is not an ISO weekday (1 = Monday .. 7 = Sunday)`,
      );
    }
  }
  const startMin = parseTime(start, "find business time");
  const endMin = parseTime(end, "find business time");
  if (startMin >= endMin) {
    throw new RangeError(`Cannot find business time: start ${start} must be before end ${end}`);
  }

  const now = localParts(instant, tz);
  const ms = instant.getTime();
  const allowed = new Set(days);
  // At most 7 days ahead; a few spare iterations cover a calendar day skipped by a zone change.
  for (let offset = 0; offset <= 10; offset++) {
    const date = new Date(wallMs(now.year, now.month, now.day + offset));
    const [y, m, d] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    if (!allowed.has(isoWeekday(y, m, d))) continue;
    const windowStart = instantOf(y, m, d, startMin, tz);
    const windowEnd = instantOf(y, m, d, endMin, tz);
    if (ms >= windowEnd.getTime()) continue;
    if (ms >= windowStart.getTime()) return new Date(ms);
    // A window whose start falls on another local date (a skipped day) is not a window of this day.
    const startParts = localParts(windowStart, tz);
    if (formatDate(startParts.year, startParts.month, startParts.day) !== formatDate(y, m, d)) continue;
    return windowStart;
  }
  throw new RangeError(`Cannot find business time in "${tz}": no window in the next days`);
}

/** Whether Intl supports `locale` (well-formed and available), without throwing. */
function supportedLocale(locale: string): string {
  try {
    return typeof locale === "string" && Intl.DateTimeFormat.supportedLocalesOf(locale).length > 0
      ? locale
      : "en";
  } catch {
    return "en";
  }
}

/**
 * Formats a wedding date (a calendar date, not an instant) in the long style of `locale`,
 * e.g. "14 June 2027" (en-GB), "June 14, 2027" (en-US). It is formatted as UTC, so it never shifts a day.
 *
 * @param date "YYYY-MM-DD"
 * @param locale A BCP 47 tag; an invalid or unsupported one falls back to "en".
 * @throws {RangeError} If the date is not a real YYYY-MM-DD date.
 */
export function formatWeddingDate(date: string, locale: string): string {
  const { year, month, day } = parseDate(date, "format the wedding date");
  let fmt = dateFormatters.get(locale);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat(supportedLocale(locale), { dateStyle: "long", timeZone: "UTC" });
    // Locales come from couples' rows: bounded in practice, and capped anyway.
    if (dateFormatters.size >= 500) dateFormatters.clear();
    dateFormatters.set(locale, fmt);
  }
  return fmt.format(new Date(wallMs(year, month, day)));
}

/** A nightly window in which nothing is sent: [start, end) local time, wrapping past midnight when start > end. */
export type QuietHours = {
  /** "HH:MM", e.g. "21:00". */
  start: string;
  /** "HH:MM", e.g. "08:00". */
  end: string;
};

/**
 * The earliest instant at or after `instant` outside quiet hours in `tz`: `instant` itself (as a new
 * Date) when outside, else the end of the window. The end is a wall-clock time, so 08:00 stays 08:00
 * local on the night the clocks change; an end that falls in a spring-forward gap is shifted past it.
 *
 * @throws {RangeError} If start or end is not HH:MM, they are equal, the instant is invalid or the zone is unknown.
 */
export function nextOutsideQuietHours(instant: Date, tz: string, quiet: QuietHours): Date {
  assertTimeZone(tz);
  const start = parseTime(quiet?.start, "find the end of quiet hours");
  const end = parseTime(quiet?.end, "find the end of quiet hours");
  if (start === end) {
    throw new RangeError(`Cannot find the end of quiet hours: start ${quiet.start} equals end ${quiet.end}`);
  }
  const now = localParts(instant, tz);
  const minute = now.hour * 60 + now.minute;
  const wraps = start > end;
  const inside = wraps ? minute >= start || minute < end : minute >= start && minute < end;
  if (!inside) return new Date(instant.getTime());
  // Past midnight the window ends today; before midnight (a wrapping window) it ends tomorrow.
  const endsTomorrow = wraps && minute >= start;
  const day = new Date(wallMs(now.year, now.month, now.day + (endsTomorrow ? 1 : 0)));
  return instantOf(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), end, tz);
}
/** One long-date formatter per locale (see formatterFor: constructing them costs far more than using them). */
const dateFormatters = new Map<string, Intl.DateTimeFormat>();

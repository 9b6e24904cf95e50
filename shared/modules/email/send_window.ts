// When an email step may go out: at once, in the supplier's business hours, or at a local time of day.
import { type BusinessHours, localParts, nextBusinessTime, zonedInstant } from "../../time/zones.ts";
import type { EmailStepConfig } from "./config.ts";

/** A run that reaches its local time late (a busy queue, a retry) still goes out within this. */
export const LOCAL_TIME_GRACE_MS = 60 * 60 * 1000;

/** Where the zones come from. */
export type SendWindowContext = {
  supplierTimeZone: string;
  businessHours: BusinessHours;
  coupleTimeZone: string | null;
};

function dateOf(instant: Date, tz: string, addDays = 0): string {
  const p = localParts(instant, tz);
  return new Date(Date.UTC(p.year, p.month - 1, p.day + addDays)).toISOString().slice(0, 10);
}

/**
 * The instant the email must wait for, or null to send now. Local times are wall-clock times in the
 * couple's zone (the supplier's without one), so a 09:00 send stays 09:00 across DST changes.
 */
export function sendWindow(config: EmailStepConfig, ctx: SendWindowContext, now: Date): Date | null {
  if (config.send_time === "business_hours") {
    const next = nextBusinessTime(now, ctx.supplierTimeZone, ctx.businessHours);
    return next.getTime() > now.getTime() ? next : null;
  }
  if (config.send_time === "local_time" && config.local_time) {
    const tz = ctx.coupleTimeZone ?? ctx.supplierTimeZone;
    const today = zonedInstant(dateOf(now, tz), config.local_time, tz);
    const late = now.getTime() - today.getTime();
    if (late < 0) return today;
    if (late < LOCAL_TIME_GRACE_MS) return null;
    return zonedInstant(dateOf(now, tz, 1), config.local_time, tz);
  }
  return null;
}

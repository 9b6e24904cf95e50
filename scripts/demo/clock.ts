// The demo's simulated clock. Postgres and the functions read the real clock, so rather than move time
// forward the clock moves the couples' data back: their booking and wedding dates, their planned runs,
// meetings and form deadlines, by whole days (so every date and local time of day keeps its meaning), in
// one transaction with triggers off (nothing downstream sees a change: to the pipeline, days went by).
// Then public.sweep() kicks what came due; the pipeline's own SQL decided every time.
import type postgres from "postgres";
import { addDays } from "../../shared/time/dates.ts";

const DAY_MS = 86_400_000;
/** A run due within this long is waited for in real time rather than skipped to. */
const REAL_WAIT_MS = 10_000;

export class SimulatedClock {
  /** Whole days the story is ahead of the real clock. */
  days = 0;
  readonly #history: { realMs: number; days: number }[] = [{ realMs: 0, days: 0 }];
  /** The story time the pipeline planned each run for, as last seen pending before the clock moved on. */
  readonly planned = new Map<number, Date>();

  constructor(private readonly sql: postgres.Sql, private readonly clientIds: string[]) {}

  /** The story's time of a real instant (what the couple would see on their clock). */
  story(real: Date): Date {
    return new Date(real.getTime() + this.daysAt(real) * DAY_MS);
  }

  /** Whole days the story was ahead of the real clock at real instant `real`. */
  daysAt(real: Date): number {
    let days = 0;
    for (const h of this.#history) if (h.realMs <= real.getTime()) days = h.days;
    return days;
  }

  /** The date to store for a story date (the data lives `days` behind the story). */
  storedDate(storyDate: string): string {
    return addDays(storyDate, -this.days);
  }

  /**
   * Advances to the couples' next planned run: moves their data back by the whole days until it is due
   * and sweeps. A run due within a few seconds is waited for instead. Returns the days advanced.
   */
  async advanceToNextRun(log: (line: string) => void = () => {}): Promise<number> {
    const [next] = await this.sql<{ due: Date | null }[]>`
      select min(r.run_at) as due from public.module_runs r
      join public.journey_instances i on i.id = r.journey_instance_id
      where i.client_id = any(${this.clientIds}::uuid[]) and r.status = 'pending'`;
    if (!next?.due) throw new Error("The demo's couples have no planned run to advance to");
    const ahead = next.due.getTime() - Date.now();
    if (ahead <= REAL_WAIT_MS) {
      if (ahead > 0) await new Promise((r) => setTimeout(r, ahead));
      await this.sql`select public.sweep()`;
      await this.settle();
      return 0;
    }
    const days = Math.ceil(ahead / DAY_MS);
    for (
      const r of await this.sql<{ id: number; run_at: Date }[]>`
      select r.id::int, r.run_at from public.module_runs r
      join public.journey_instances i on i.id = r.journey_instance_id
      where i.client_id = any(${this.clientIds}::uuid[]) and r.status = 'pending'`
    ) this.planned.set(r.id, new Date(r.run_at.getTime() + this.days * DAY_MS));
    await this.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      const back = `${days} days`;
      await tx`update public.clients set wedding_date = wedding_date - ${days}::int,
        booking_date = booking_date - ${days}::int where id = any(${this.clientIds}::uuid[])`;
      await tx`update public.module_runs r set run_at = r.run_at - ${back}::interval
        from public.journey_instances i
        where i.id = r.journey_instance_id and i.client_id = any(${this.clientIds}::uuid[])
          and r.status in ('pending', 'waiting', 'held') and r.run_at <> 'infinity'`;
      await tx`update public.meetings set start_at = start_at - ${back}::interval,
        end_at = end_at - ${back}::interval where client_id = any(${this.clientIds}::uuid[])`;
      await tx`update public.form_requests set due_at = due_at - ${back}::interval,
        overdue_at = overdue_at - ${back}::interval where client_id = any(${this.clientIds}::uuid[])`;
    });
    this.days += days;
    this.#history.push({ realMs: Date.now(), days: this.days });
    log(`Clock: +${days} day${days === 1 ? "" : "s"} (story day ${this.days}).`);
    await this.sql`select public.sweep()`;
    await this.settle();
    return days;
  }

  /** Waits until nothing of the couples' is due or running: what the clock reached has been done. */
  async settle(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [row] = await this.sql<{ busy: number }[]>`
        select count(*)::int as busy from public.module_runs r
        join public.journey_instances i on i.id = r.journey_instance_id
        where i.client_id = any(${this.clientIds}::uuid[])
          and (r.status = 'running' or (r.status = 'pending' and r.run_at <= now()))`;
      if (row.busy === 0) return;
      if (Date.now() > deadline) throw new Error("The demo's due runs did not finish in time");
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// The drain loop of a module function: claim due runs in batches, execute them concurrently within a
// limit, and record outcomes in batches. Stateless: a crash loses nothing, the leases expire.
import type { Sql } from "../db/client.ts";
import { claimRuns, recordOutcomes } from "./store.ts";
import type { Attempt, ModuleExecutor, ModuleRun, RunType } from "./types.ts";

/** How a drain behaves. */
export type DrainOptions = {
  module: RunType;
  /** Provider calls kept in flight. */
  concurrency: number;
  /** Runs per claim query. */
  batch: number;
  leaseSeconds: number;
  /** Keep polling this long once nothing is due, so runs enqueued meanwhile need no new kick. */
  lingerMs: number;
  /** Stop claiming after this long. */
  maxMs: number;
  /** Poll interval while idle. */
  pollMs?: number;
  /** Outcomes recorded per SQL call at most. */
  recordBatch?: number;
  /** How long finished attempts wait for others before they are recorded together (default 0). */
  recordDelayMs?: number;
  /** Asked when the linger has run out: true means a kick arrived meanwhile, so keep polling. */
  keepGoing?: () => boolean;
};

/** What one drain did. */
export type DrainSummary = { claimed: number; recorded: number; failed_records: number; ms: number };

/** Injected platform pieces (so tests control time). */
export type DrainDeps = {
  sql: Sql;
  executor: ModuleExecutor;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
};

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Buffers finished attempts and records them in batches, one SQL call at a time. */
class OutcomeRecorder {
  #pending: { run: ModuleRun; attempt: Attempt }[] = [];
  #flushing: Promise<void> | null = null;
  recorded = 0;
  failed = 0;

  constructor(
    private readonly sql: Sql,
    private readonly batch: number,
    private readonly log: (line: string) => void,
    private readonly gatherMs: number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  add(run: ModuleRun, attempt: Attempt): void {
    this.#pending.push({ run, attempt });
    if (!this.#flushing) this.#flushing = this.#flushLoop();
  }

  async #flushLoop(): Promise<void> {
    // Let outcomes gather so they share one call: each record_outcomes call has a fixed cost (the
    // journey advance, the audit insert, a commit) that small batches would pay over and over.
    if (this.gatherMs > 0 && this.#pending.length < this.batch) await this.sleep(this.gatherMs);
    else await Promise.resolve();
    while (this.#pending.length > 0) {
      const chunk = this.#pending.splice(0, this.batch);
      try {
        this.recorded += await recordOutcomes(this.sql, chunk);
      } catch (error) {
        // The runs stay 'running' and their leases expire: they are retried, never lost. Providers
        // deduplicate on the run's idempotency key.
        this.failed += chunk.length;
        this.log(`record_outcomes failed for ${chunk.length} runs: ${(error as Error).message}`);
      }
    }
    this.#flushing = null;
  }

  async settle(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }
}

/**
 * Drains due runs of one module until none are due for `lingerMs`, or `maxMs` has passed.
 *
 * Claims run ahead of the slots: while the queue has a backlog (the last claim came back full) the next
 * batch is claimed and its context loaded while calls are still in flight, so a slot that frees starts
 * its next run at once instead of waiting for a claim round trip: a refill (a quarter of the slots, at
 * most a batch) is claimed whenever fewer than a refill's worth of runs wait for a slot, so at most two
 * refills wait (a crash leaves those to their lease, like runs in flight). Once the queue is drained it
 * claims at most every `pollMs`, whether or not calls are in flight: a run that becomes due waits about
 * half a poll, never a whole provider call.
 */
export async function drain(deps: DrainDeps, opts: DrainOptions): Promise<DrainSummary> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;
  const log = deps.log ?? console.error;
  const pollMs = opts.pollMs ?? 20;
  const recorder = new OutcomeRecorder(
    deps.sql,
    opts.recordBatch ?? 200,
    log,
    opts.recordDelayMs ?? 0,
    sleep,
  );
  const started = now();
  const refill = Math.max(1, Math.min(opts.batch, opts.concurrency >> 2));
  // Claimed and prepared runs waiting for a slot, in the fair order of the claim (fair_at): another
  // supplier's run claimed behind a pile goes before the pile's runs already waiting here.
  const ready: { run: ModuleRun; exec: (run: ModuleRun) => Promise<Attempt> }[] = [];
  const place = (run: ModuleRun) => +(run.fair_at ?? run.run_at);
  const enqueue = (run: ModuleRun, exec: (run: ModuleRun) => Promise<Attempt>) => {
    let i = ready.length;
    while (i > 0 && place(ready[i - 1].run) > place(run)) i--;
    ready.splice(i, 0, { run, exec });
  };
  let inflight = 0;
  let claimed = 0;
  let backlog = true;
  let nextPoll = started;
  let idleSince: number | null = null;
  let fetching = false;
  let fetchError: unknown = null;
  // One waiter at a time: woken by the next finished call or claim (not a Promise.race over every call).
  let wake: (() => void) | null = null;
  const wakeUp = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  /** Resolves when a call or a claim finishes, or after `ms` when given. */
  const waitForEvent = (ms?: number) => {
    const woken = new Promise<void>((resolve) => (wake = resolve));
    return ms === undefined ? woken : Promise.race([woken, sleep(Math.max(1, ms))]);
  };

  const execute = (run: ModuleRun, exec: (run: ModuleRun) => Promise<Attempt>) => {
    inflight++;
    exec(run)
      .catch((error): Attempt => ({
        outcome: {
          kind: "transient",
          error: { code: "internal_error", message: `module failed: ${(error as Error)?.name ?? "error"}` },
        },
        calls: [],
      }))
      .then((attempt) => recorder.add(run, attempt))
      .finally(() => {
        inflight--;
        wakeUp();
      });
  };

  /** Claims up to `limit` runs and loads their context, in the background; the loop is woken after. */
  const claim = (limit: number) => {
    fetching = true;
    (async () => {
      const runs = await claimRuns(deps.sql, opts.module, limit, opts.leaseSeconds);
      backlog = runs.length === limit;
      if (!backlog) nextPoll = now() + pollMs;
      if (runs.length === 0) return;
      claimed += runs.length;
      idleSince = null;
      const exec = await deps.executor.prepare(runs);
      for (const run of runs) enqueue(run, exec);
    })()
      .catch((error) => (fetchError = error))
      .finally(() => {
        fetching = false;
        wakeUp();
      });
  };

  for (;;) {
    while (inflight < opts.concurrency && ready.length > 0) {
      const next = ready.shift()!;
      execute(next.run, next.exec);
    }
    // A failed claim stops claiming; what was already claimed is still sent and recorded before it is thrown.
    const claiming = fetchError === null && now() - started < opts.maxMs;
    if (claiming && !fetching) {
      // With a backlog, keep one to two refills claimed ahead of the slots; otherwise fill free slots on the poll.
      const want = opts.concurrency + (backlog ? 2 * refill : 0) - inflight - ready.length;
      const due = backlog ? want >= refill : want > 0 && now() >= nextPoll;
      if (due) {
        claim(Math.min(want, opts.batch));
        continue;
      }
    }
    if (inflight > 0 || fetching || ready.length > 0) {
      if (inflight > 0) idleSince = null;
      // A claim in flight or a backlog wakes the loop when it ends; otherwise the next poll does.
      await waitForEvent(fetching || backlog || !claiming ? undefined : nextPoll - now());
      continue;
    }
    if (!claiming) break;
    idleSince ??= now();
    if (now() - idleSince >= opts.lingerMs) {
      if (!opts.keepGoing?.()) break;
      idleSince = now();
    }
    await sleep(Math.max(1, nextPoll - now()));
  }
  await recorder.settle();
  if (fetchError !== null) throw fetchError;
  return { claimed, recorded: recorder.recorded, failed_records: recorder.failed, ms: now() - started };
}

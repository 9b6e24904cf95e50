/** Outgoing webhook delivery for simulated providers: bounded concurrency, retries, and a record of every attempt. */
import type { SimState } from "./state.ts";

/** One recorded webhook delivery attempt. */
export type WebhookDelivery = {
  /** Sequence number across all providers. */
  seq: number;
  provider: string;
  url: string;
  /** Event type, e.g. `email.delivered`. */
  type: string;
  /** The provider's message id for the event (Resend: the `svix-id`); the same on every attempt. */
  event_id: string;
  /** 1 for the first attempt, 2 for the first retry... */
  attempt: number;
  /** The receiver's HTTP status, or null when it could not be reached (the `error` says why). */
  status: number | null;
  error?: string;
  /** When the attempt started, in ms since the epoch. */
  sent_at_ms: number;
  duration_ms: number;
  /** Provider-specific fields (Resend: `svix_id`, `email_id`, `source`). */
  [extra: string]: unknown;
};

/** What to send for one event; `headers()` is called per attempt (signatures carry the time). */
export type WebhookSend = {
  provider: string;
  url: string;
  type: string;
  eventId: string;
  body: string;
  headers: () => Promise<Record<string, string>>;
  /** Copied into each delivery record. */
  extra?: Record<string, unknown>;
};

/** Options of a {@link WebhookDispatcher}. */
export type WebhookDispatcherOptions = {
  /** Concurrent background attempts at most (control-fired events bypass the limit); default 128. */
  concurrency?: number;
  /** Per-attempt timeout in ms; default 10 000. */
  timeoutMs?: number;
  /** Cap on recorded deliveries; the oldest tenth is dropped when exceeded. Default 250 000. */
  maxRecords?: number;
};

/** Delivers provider webhooks to receivers and records each attempt. */
export class WebhookDispatcher {
  /** Recorded attempts, oldest first. */
  deliveries: WebhookDelivery[] = [];

  #state: SimState;
  #seq = 0;
  #active = 0;
  #woken = 0;
  #waiting: (() => void)[] = [];
  #pending = new Set<Promise<unknown>>();
  #abort = new AbortController();
  #defaultConcurrency: number;
  #concurrency: number;
  #timeoutMs: number;
  #maxRecords: number;
  #counters = new Map<string, { webhooks_sent: number; webhooks_failed: number }>();

  /** @param state The shared state (timers, epoch). */
  constructor(state: SimState, opts: WebhookDispatcherOptions = {}) {
    this.#state = state;
    this.#defaultConcurrency = opts.concurrency ?? 128;
    this.#concurrency = this.#defaultConcurrency;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#maxRecords = opts.maxRecords ?? 250_000;
  }

  /** How many background attempts may be in flight at once (all providers together). */
  get concurrency(): number {
    return this.#concurrency;
  }

  set concurrency(n: number) {
    this.#concurrency = Math.max(1, Math.floor(n));
    while (this.#active + this.#woken < this.#concurrency && this.#waiting.length > 0) this.#wake();
  }

  /** Attempts made (`webhooks_sent`) and attempts that got no 2xx (`webhooks_failed`) for a provider. */
  counters(provider: string): { webhooks_sent: number; webhooks_failed: number } {
    let c = this.#counters.get(provider);
    if (!c) {
      c = { webhooks_sent: 0, webhooks_failed: 0 };
      this.#counters.set(provider, c);
    }
    return c;
  }

  /** Recorded attempts of a provider (all when omitted) with `seq` greater than `since`. */
  list(provider?: string, since = 0): WebhookDelivery[] {
    return this.deliveries.filter((d) => d.seq > since && (!provider || d.provider === provider));
  }

  /** Makes one attempt now (no concurrency limit, no retry) and returns the receiver's status or null. */
  async attempt(send: WebhookSend, attempt = 1): Promise<number | null> {
    const sentAt = Date.now();
    const started = performance.now();
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.#timeoutMs);
    const c = this.counters(send.provider);
    c.webhooks_sent++;
    let status: number | null = null;
    let error: string | undefined;
    try {
      const res = await fetch(send.url, {
        method: "POST",
        headers: await send.headers(),
        body: send.body,
        signal: AbortSignal.any([timeout.signal, this.#abort.signal]),
      });
      status = res.status;
      await res.body?.cancel();
    } catch (e) {
      error = timeout.signal.aborted
        ? `no answer within ${this.#timeoutMs} ms`
        : e instanceof Error
        ? e.message
        : String(e);
    } finally {
      clearTimeout(timer);
    }
    if (status === null || status < 200 || status >= 300) c.webhooks_failed++;
    const record: WebhookDelivery = {
      seq: ++this.#seq,
      provider: send.provider,
      url: send.url,
      type: send.type,
      event_id: send.eventId,
      attempt,
      status,
      sent_at_ms: sentAt,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
      ...send.extra,
    };
    if (error !== undefined) record.error = error;
    this.deliveries.push(record);
    if (this.deliveries.length > this.#maxRecords) {
      this.deliveries.splice(0, Math.max(1, Math.floor(this.#maxRecords / 10)));
    }
    return status;
  }

  /**
   * Sends events one after another in the background (each event's first attempt is awaited before the
   * next; a failed attempt is retried after each of `retryDelaysMs` in turn, as Svix does, so retried
   * events may arrive out of order). Work is dropped after a reset or shutdown.
   */
  sequence(events: (() => WebhookSend)[], retryDelaysMs: readonly number[], initialDelayMs = 0): void {
    const epoch = this.#state.epoch;
    this.#track((async () => {
      await this.#state.sleep(initialDelayMs);
      for (const build of events) {
        if (this.#state.epoch !== epoch) return;
        const send = build();
        const status = await this.#limited(() => this.attempt(send, 1));
        if (!ok(status) && retryDelaysMs.length > 0) this.#track(this.#retry(send, retryDelaysMs, epoch));
      }
    })());
  }

  /** Drops the record and restores the concurrency (background work of the old epoch stops by itself). */
  reset(): void {
    this.deliveries = [];
    this.#counters.clear();
    this.concurrency = this.#defaultConcurrency;
  }

  /** Aborts attempts in flight and waits for background work to end (call after `state.close()`). */
  async close(): Promise<void> {
    this.#abort.abort();
    while (this.#waiting.length > 0) this.#wake();
    await Promise.allSettled([...this.#pending]);
  }

  async #retry(send: WebhookSend, delays: readonly number[], epoch: number): Promise<void> {
    for (let i = 0; i < delays.length; i++) {
      await this.#state.sleep(delays[i]);
      if (this.#state.epoch !== epoch) return;
      if (ok(await this.#limited(() => this.attempt(send, i + 2)))) return;
    }
  }

  async #limited<T>(work: () => Promise<T>): Promise<T> {
    if (this.#active + this.#woken >= this.#concurrency && !this.#state.closed) {
      // Woken callers hold the slot they were woken for, so nobody can take it in between.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
      this.#woken--;
    }
    this.#active++;
    try {
      return await work();
    } finally {
      this.#active--;
      if (this.#active + this.#woken < this.#concurrency) this.#wake();
    }
  }

  #wake(): void {
    const next = this.#waiting.shift();
    if (!next) return;
    this.#woken++;
    next();
  }

  #track(work: Promise<unknown>): void {
    const p = work.catch(() => {}).finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }
}

function ok(status: number | null): boolean {
  return status !== null && status >= 200 && status < 300;
}

/** The provider simulator's shared state: clock, request recording, fault injection, latency and timers. */

/** What an injected fault does to a request. */
export type FaultKind = "status" | "timeout" | "reset";

/** A fault rule as registered through `POST /_sim/faults`. */
export type FaultRule = {
  /** Sequential id of the rule. */
  id: number;
  /** Provider the rule applies to (its path prefix, e.g. `resend`). */
  provider: string;
  /**
   * `status`: answer with `status` and the provider's error body (nothing accepted);
   * `timeout`: process normally, then delay the answer by `delay_ms`;
   * `reset`: process normally, then destroy the connection without an answer.
   */
  kind: FaultKind;
  /** HTTP status of a `status` fault. */
  status: number;
  /** `retry-after` seconds sent with a 429 (or any status when given). */
  retry_after_s: number | null;
  /** Delay of a `timeout` fault in milliseconds. */
  delay_ms: number;
  /** Requests left to fault (count mode), or null in rate mode. */
  remaining: number | null;
  /** Probability (0..1) of faulting each matching request (rate mode), or null in count mode. */
  rate: number | null;
  /** Only requests with this method match, when set. */
  method: string | null;
  /** Only requests whose provider-relative path starts with this match, when set. */
  path: string | null;
  /** Error `name` override for a `status` fault. */
  name: string | null;
  /** Error `message` override for a `status` fault. */
  message: string | null;
  /**
   * `reset` only: close without sending a byte. Deno's fetch then replays the request once when the
   * connection was a pooled one (so the client may see the replay's answer instead of an error); by
   * default a few non-HTTP bytes precede the close, which every client reports as a network error.
   */
  zero_bytes: boolean;
  /** How many requests this rule has faulted so far. */
  injected: number;
};

/** One recorded provider API request (control API calls are not recorded). */
export type RequestRecord = {
  /** Sequence number, increasing across all providers. */
  seq: number;
  provider: string;
  method: string;
  /** Path relative to the provider prefix, with the query string (e.g. `/emails`). */
  path: string;
  /** Wall-clock time of arrival in ms since the epoch, with sub-millisecond precision. */
  received_at_ms: number;
  /** Request headers, lower-cased; `authorization` is redacted. */
  headers: Record<string, string>;
  /** The parsed body (JSON, or form fields), the raw text if it could not be parsed, or null if empty. */
  body: unknown;
  /** The HTTP status answered, or null while pending and for `reset` faults. */
  status: number | null;
  /** The kind of fault injected into this request, if any. */
  fault?: FaultKind;
};

/** Per-provider counters kept by the shared layer. */
export type ProviderCounters = { requests: number; faults_injected: number };

/** Thrown for malformed control API input; answered as 400 `{ "error": message }`. */
export class ControlError extends Error {
  /** HTTP status to answer with. */
  readonly status: number;

  /** @param message What is wrong with the input. @param status HTTP status, 400 by default. */
  constructor(message: string, status = 400) {
    super(message);
    this.name = "ControlError";
    this.status = status;
  }
}

/** A provider API request as handed to a provider (the body is already read). */
export type ProviderRequest = {
  method: string;
  /** Path relative to the provider prefix, without the query string (e.g. `/emails/batch`). */
  path: string;
  query: URLSearchParams;
  /** Request headers, lower-cased, unredacted (repeated headers joined with `, `). */
  headers: Record<string, string>;
  /** The body as received, decoded as UTF-8. */
  rawBody: string;
  /** The parsed body (JSON or form fields), or undefined if it is empty or not parseable. */
  body: unknown;
  /** True when the body is non-empty but could not be parsed. */
  bodyInvalid: boolean;
  /** The request's record (providers may read `seq` or `received_at_ms`). */
  record: RequestRecord;
  /**
   * Waits the provider's configured latency ("processing time"); only the first call waits. Call it
   * where the real provider would be busy (e.g. after claiming an idempotency key); if the provider
   * never calls it, the shared layer waits before answering.
   */
  processing(): Promise<void>;
};

/** A provider's answer: a status, optional headers and a JSON body (a string body is sent as is). */
export type ProviderResponse = { status: number; headers?: Record<string, string>; body?: unknown };

/** One simulated provider, served under `/<name>/...`, with control routes under `/_sim/<name>/...`. */
export interface Provider {
  /** Path prefix and the `provider` value in control calls, e.g. `resend`. */
  readonly name: string;
  /** Answers a request to the provider's real API paths. */
  handle(req: ProviderRequest): Promise<ProviderResponse>;
  /** The answer of an injected `status` fault, in the provider's error format. */
  faultResponse(rule: FaultRule): ProviderResponse;
  /** Applies provider-specific `POST /_sim/config` fields; throws {@link ControlError} on bad input. */
  configure(input: Record<string, unknown>): void;
  /** The provider's current configuration, for `GET /_sim/config`. */
  describeConfig(): Record<string, unknown>;
  /** Serves `/_sim/<name>/<path>`; undefined means no such route. */
  control(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse | undefined>;
  /** Provider-specific counters for `GET /_sim/stats` (merged with `requests` and `faults_injected`). */
  stats(): Record<string, number>;
  /** Forgets everything (emails, idempotency keys, configuration). */
  reset(): void;
}

/** Default cap on recorded requests; the oldest tenth is dropped when exceeded. */
export const DEFAULT_MAX_RECORDS = 250_000;

type Timer = { handle: ReturnType<typeof setTimeout>; resolve: () => void };

/** Redacts a credential header to its scheme and the first 6 characters of the credential. */
export function redactCredential(value: string): string {
  const space = value.indexOf(" ");
  const scheme = space > 0 ? value.slice(0, space + 1) : "";
  const secret = space > 0 ? value.slice(space + 1) : value;
  return `${scheme}${secret.slice(0, 6)}…`;
}

/** Reads an optional non-negative finite number from control input, or throws a {@link ControlError}. */
export function optionalNumber(
  input: Record<string, unknown>,
  field: string,
  max = Infinity,
): number | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > max) {
    throw new ControlError(`\`${field}\` must be a number between 0 and ${max}`);
  }
  return value;
}

/** Reads an optional string from control input, or throws a {@link ControlError}. */
export function optionalString(input: Record<string, unknown>, field: string): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new ControlError(`\`${field}\` must be a string`);
  return value;
}

/**
 * State shared by every simulated provider. Providers keep their own domain state (emails,
 * idempotency keys...) and use this for recording, faults, latency and cancellable timers.
 */
export class SimState {
  /** Recorded provider requests, oldest first. */
  requests: RequestRecord[] = [];
  /** Active fault rules, in registration order. */
  faults: FaultRule[] = [];
  /** Cap on `requests`. */
  maxRecords = DEFAULT_MAX_RECORDS;
  /** Incremented by {@link reset}; background work started in an older epoch gives up. */
  epoch = 0;
  /** True once {@link close} was called. */
  closed = false;

  #seq = 0;
  #faultSeq = 0;
  #clockOffsetMs = 0;
  #latency = new Map<string, number>();
  #counters = new Map<string, ProviderCounters>();
  #timers = new Set<Timer>();

  /** The simulated clock in ms since the epoch (real time plus any `POST /_sim/clock` advance). */
  now(): number {
    return Date.now() + this.#clockOffsetMs;
  }

  /** Moves the simulated clock forward (e.g. to expire idempotency keys) and returns the new time. */
  advanceClock(ms: number): number {
    this.#clockOffsetMs += ms;
    return this.now();
  }

  /** The configured latency of a provider in ms (0 by default). */
  latencyMs(provider: string): number {
    return this.#latency.get(provider) ?? 0;
  }

  /** Sets a provider's latency in ms, applied before each of its answers. */
  setLatencyMs(provider: string, ms: number): void {
    if (ms > 0) this.#latency.set(provider, ms);
    else this.#latency.delete(provider);
  }

  /** The shared counters of a provider. */
  counters(provider: string): ProviderCounters {
    let c = this.#counters.get(provider);
    if (!c) {
      c = { requests: 0, faults_injected: 0 };
      this.#counters.set(provider, c);
    }
    return c;
  }

  /** Records an incoming provider request and returns its (mutable) record. */
  record(entry: Omit<RequestRecord, "seq" | "status">): RequestRecord {
    const rec: RequestRecord = { seq: ++this.#seq, ...entry, status: null };
    this.requests.push(rec);
    if (this.requests.length > this.maxRecords) {
      this.requests.splice(0, Math.max(1, Math.floor(this.maxRecords / 10)));
    }
    this.counters(entry.provider).requests++;
    return rec;
  }

  /** Recorded requests of a provider (all when omitted) with `seq` greater than `since`, at most `limit`. */
  listRequests(provider?: string, since = 0, limit = Infinity): RequestRecord[] {
    const out: RequestRecord[] = [];
    for (const r of this.requests) {
      if (r.seq <= since || (provider && r.provider !== provider)) continue;
      out.push(r);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Validates and registers a fault rule from `POST /_sim/faults` input. */
  addFault(input: Record<string, unknown>, knownProviders: readonly string[]): FaultRule {
    const provider = optionalString(input, "provider");
    if (!provider || !knownProviders.includes(provider)) {
      throw new ControlError(`\`provider\` must be one of: ${knownProviders.join(", ")}`);
    }
    const kind = input.kind;
    if (kind !== "status" && kind !== "timeout" && kind !== "reset") {
      throw new ControlError("`kind` must be one of: status, timeout, reset");
    }
    const status = optionalNumber(input, "status", 599) ?? 500;
    if (!Number.isInteger(status) || status < 100) throw new ControlError("`status` must be an HTTP status");
    const count = optionalNumber(input, "count");
    const rate = optionalNumber(input, "rate", 1);
    if (count !== undefined && rate !== undefined) throw new ControlError("give `count` or `rate`, not both");
    if (count !== undefined && (!Number.isInteger(count) || count < 1)) {
      throw new ControlError("`count` must be a positive integer");
    }
    const method = optionalString(input, "method");
    const rule: FaultRule = {
      id: ++this.#faultSeq,
      provider,
      kind,
      status,
      retry_after_s: optionalNumber(input, "retry_after_s") ?? null,
      delay_ms: optionalNumber(input, "delay_ms") ?? 30_000,
      remaining: rate === undefined ? count ?? 1 : null,
      rate: rate ?? null,
      method: method ? method.toUpperCase() : null,
      path: optionalString(input, "path") ?? null,
      name: optionalString(input, "name") ?? null,
      message: optionalString(input, "message") ?? null,
      zero_bytes: input.zero_bytes === true,
      injected: 0,
    };
    this.faults.push(rule);
    return rule;
  }

  /** Removes fault rules: those of one provider, or all. Returns how many were removed. */
  clearFaults(provider?: string): number {
    const before = this.faults.length;
    this.faults = provider ? this.faults.filter((f) => f.provider !== provider) : [];
    return before - this.faults.length;
  }

  /** Picks the fault to inject into a request, if any rule matches (count rules are consumed). */
  takeFault(provider: string, method: string, path: string): FaultRule | undefined {
    if (this.faults.length === 0) return undefined;
    for (const rule of this.faults) {
      if (rule.provider !== provider) continue;
      if (rule.method && rule.method !== method) continue;
      if (rule.path && !path.startsWith(rule.path)) continue;
      if (rule.remaining !== null) {
        if (--rule.remaining <= 0) this.faults = this.faults.filter((f) => f !== rule);
      } else if (Math.random() >= (rule.rate ?? 0)) {
        continue;
      }
      rule.injected++;
      this.counters(provider).faults_injected++;
      return rule;
    }
    return undefined;
  }

  /** Resolves after `ms` milliseconds, or immediately when the simulator shuts down. */
  sleep(ms: number): Promise<void> {
    if (!(ms > 0) || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer: Timer = {
        handle: setTimeout(() => {
          this.#timers.delete(timer);
          resolve();
        }, ms),
        resolve,
      };
      this.#timers.add(timer);
    });
  }

  /** Back to defaults: recordings, faults, latency, counters and the clock (pending timers keep running). */
  reset(): void {
    this.requests = [];
    this.faults = [];
    this.maxRecords = DEFAULT_MAX_RECORDS;
    this.#clockOffsetMs = 0;
    this.#latency.clear();
    this.#counters.clear();
    this.epoch++;
  }

  /** Stops: every pending {@link sleep} resolves now and later ones resolve at once. */
  close(): void {
    this.closed = true;
    this.epoch++;
    for (const timer of this.#timers) {
      clearTimeout(timer.handle);
      timer.resolve();
    }
    this.#timers.clear();
  }
}

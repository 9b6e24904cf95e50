/** The pg_net stand-in's worker: performs the requests queued in net.http_request_queue and records net._http_response. */
import postgres from "postgres";
import { dbUrl } from "./config.ts";

/** Options of startNetWorker(). */
export interface NetWorkerOptions {
  /** Database whose queue to serve (pg_net serves one database too). Default: dbUrl(). */
  url?: string;
  /** Requests taken per query (pg_net's default batch is 200; the stand-in takes up to 500). */
  batchSize?: number;
  /** Safety-net poll when no notification arrives, in ms. */
  pollMs?: number;
  /** Most requests in flight at once. */
  maxInFlight?: number;
  /** How long responses are kept (pg_net's `pg_net.ttl`, 6 hours), in ms. */
  ttlMs?: number;
  fetch?: typeof fetch;
  log?: (line: string) => void;
}

/** Counters of a running worker. */
export interface NetWorkerStats {
  /** Requests taken from the queue. */
  taken: number;
  /** Requests that got an HTTP response (any status). */
  completed: number;
  /** Requests that failed (timeout, connection error). */
  failed: number;
  /** Requests being performed now. */
  inFlight: number;
}

/** A running worker. */
export interface NetWorker {
  stats(): NetWorkerStats;
  /** Stops taking requests, waits for those in flight (up to their timeouts) and records them. */
  stop(): Promise<void>;
}

interface QueuedRequest {
  id: string;
  method: string;
  url: string;
  headers: Record<string, unknown> | null;
  body: Uint8Array | null;
  timeout_milliseconds: number;
}

interface ResponseRow {
  id: string;
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean;
  error_msg: string | null;
}

/** Starts serving the queue; it survives database restarts (queries retry, LISTEN reconnects). */
export function startNetWorker(options: NetWorkerOptions = {}): NetWorker {
  const url = options.url ?? dbUrl();
  const batchSize = options.batchSize ?? 500;
  const pollMs = options.pollMs ?? 1000;
  const maxInFlight = options.maxInFlight ?? 2000;
  const ttlMs = options.ttlMs ?? 6 * 3600_000;
  const doFetch = options.fetch ?? fetch;
  const log = options.log ?? ((line: string) => console.log(`[net-worker] ${line}`));

  const sql = postgres(url, {
    max: 3,
    onnotice: () => {},
    connect_timeout: 5,
    connection: { application_name: "stack-net-worker" },
  });
  const counters = { taken: 0, completed: 0, failed: 0 };
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let more = true;
  let wake: (() => void) | undefined;
  const signal = () => {
    more = true;
    wake?.();
  };

  sql.listen("net_http_request", signal, signal).catch((error) =>
    log(`LISTEN failed, polling only: ${error}`)
  );

  let buffer: ResponseRow[] = [];
  let flushing: Promise<void> | undefined;
  let lastFlushError = 0;
  const flush = (): Promise<void> => {
    flushing ??= (async () => {
      while (buffer.length > 0) {
        const rows = buffer;
        buffer = [];
        try {
          await sql`
            insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg)
            select id, status_code, content_type, headers, content, timed_out, error_msg
            from jsonb_to_recordset(${sql.json(rows as unknown as postgres.JSONValue)}) as r(
              id bigint, status_code integer, content_type text, headers jsonb, content text,
              timed_out boolean, error_msg text)`;
        } catch (error) {
          if (stopped) return;
          if (Date.now() - lastFlushError > 30_000) {
            log(`Cannot record ${rows.length} responses yet (retrying): ${error}`);
          }
          lastFlushError = Date.now();
          buffer = rows.concat(buffer).slice(-50_000);
          await delay(500);
        }
      }
    })().finally(() => {
      flushing = undefined;
      // Rows that arrived while the last insert finished would otherwise wait for the next response.
      if (buffer.length > 0 && !stopped) void flush();
    });
    return flushing;
  };

  const perform = async (request: QueuedRequest): Promise<void> => {
    const started = performance.now();
    let row: ResponseRow;
    try {
      const method = request.method.toUpperCase();
      const response = await doFetch(request.url, {
        method,
        headers: toHeaders(request.headers),
        body: method === "GET" || method === "HEAD" || !request.body
          ? undefined
          : request.body as Uint8Array<ArrayBuffer>,
        redirect: "manual",
        signal: AbortSignal.timeout(request.timeout_milliseconds),
      });
      const content = await response.text();
      const headers: Record<string, string> = {};
      response.headers.forEach((value, key) =>
        headers[key] = key in headers ? `${headers[key]}, ${value}` : value
      );
      row = {
        id: request.id,
        status_code: response.status,
        content_type: response.headers.get("content-type"),
        headers,
        content: content.replaceAll("\u0000", ""),
        timed_out: false,
        error_msg: null,
      };
      counters.completed++;
    } catch (error) {
      const timedOut = error instanceof DOMException &&
        (error.name === "TimeoutError" || error.name === "AbortError");
      row = {
        id: request.id,
        status_code: null,
        content_type: null,
        headers: null,
        content: null,
        timed_out: timedOut,
        error_msg: timedOut
          ? `Timeout of ${request.timeout_milliseconds} ms reached. Total time: ${
            (performance.now() - started).toFixed(1)
          } ms`
          : String(error instanceof Error ? error.message : error).slice(0, 1000),
      };
      counters.failed++;
    }
    buffer.push(row);
    queueMicrotask(() => void flush());
  };

  const loop = async () => {
    let lastCleanup = 0;
    let lastQueueError = 0;
    while (!stopped) {
      if (!more || inFlight.size >= maxInFlight) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, inFlight.size >= maxInFlight ? 10 : pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        if (stopped) break;
        if (inFlight.size >= maxInFlight) continue;
      }
      more = false;
      const limit = Math.min(batchSize, maxInFlight - inFlight.size);
      let requests: QueuedRequest[];
      try {
        requests = await sql<QueuedRequest[]>`
          delete from net.http_request_queue q
          where q.id in (
            select id from net.http_request_queue order by id limit ${limit} for update skip locked
          )
          returning q.id::text as id, q.method, q.url, q.headers, q.body, q.timeout_milliseconds`;
      } catch (error) {
        if (stopped) break;
        if (Date.now() - lastQueueError > 30_000) {
          log(`Cannot read the queue (retrying every 500 ms): ${error}`);
        }
        lastQueueError = Date.now();
        more = true;
        await delay(500);
        continue;
      }
      if (lastQueueError) {
        log("Reading the queue again");
        lastQueueError = 0;
      }
      if (requests.length === limit) more = true;
      counters.taken += requests.length;
      for (const request of requests) {
        const task = perform(request).finally(() => {
          inFlight.delete(task);
          if (inFlight.size === maxInFlight - 1) wake?.();
        });
        inFlight.add(task);
      }
      if (Date.now() - lastCleanup > 60_000) {
        lastCleanup = Date.now();
        sql`delete from net._http_response where created < now() - ${ttlMs / 1000} * interval '1 second'`
          .catch((error) => log(`Cannot delete expired responses: ${error}`));
      }
    }
  };
  const running = loop();

  return {
    stats: () => ({ ...counters, inFlight: inFlight.size }),
    async stop() {
      stopped = true;
      wake?.();
      await running;
      await Promise.allSettled([...inFlight]);
      await flush();
      await sql.end({ timeout: 5 });
    },
  };
}

function toHeaders(headers: Record<string, unknown> | null): Headers {
  const result = new Headers();
  for (const [key, value] of Object.entries(headers ?? {})) {
    if (value !== null && value !== undefined) {
      result.set(key, typeof value === "string" ? value : JSON.stringify(value));
    }
  }
  return result;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

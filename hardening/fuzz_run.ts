// Runs the fuzz suite: builds each endpoint's malformed requests, sends them over raw HTTP/1.1 through the
// gateway, and checks per endpoint: no 5xx, no crash (pids, logs), no row written, oversized bodies 413.
import { gatewayUrl, ports, stackPaths } from "../stack/config.ts";
import type { Sql } from "../tests/helpers/db.ts";
import {
  CONTENT_TYPES,
  formEncode,
  invalidJson,
  invalidUtf8,
  jsonSchemaOf,
  mutate,
  randomJson,
  randomText,
  Rng,
  sampleOf,
  utf16,
} from "./fuzz_gen.ts";
import { credential, type EndpointSpec, type FuzzContext, mailgunSignature } from "./fuzz_endpoints.ts";

/** One generated request. */
export type FuzzRequest = {
  category: Category;
  method: string;
  /** Path and query after `/functions/v1/<name>`. */
  target: string;
  headers: [string, string][];
  body?: Uint8Array;
  /** An oversized body streamed until the answer comes: declared with Content-Length, or chunked. */
  huge?: "declared" | "chunked";
};

/** Request categories and their weights. */
export const CATEGORIES = {
  shape: 26,
  random_json: 7,
  invalid_json: 9,
  invalid_utf8: 6,
  odd_encoding: 4,
  form_json_confusion: 6,
  content_type: 6,
  headers: 7,
  auth: 10,
  signature: 6,
  method: 5,
  query_path: 7,
  huge_declared: 0.6,
  huge_chunked: 0.6,
} as const;
/** A request category. */
export type Category = keyof typeof CATEGORIES;

const enc = new TextEncoder();
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "post"];

/** A body for `spec` that its parser must refuse (shape-mutated schema sample, CSV junk or form junk). */
async function malformedBody(spec: EndpointSpec, ctx: FuzzContext, rng: Rng): Promise<unknown> {
  const schema = spec.schemas.length ? rng.pick(spec.schemas) : undefined;
  const sample = sampleOf(rng, schema ? jsonSchemaOf(schema) : {});
  // What the receivers check before parsing (Mailgun's in-body signature, Twilio's account) is made right.
  if (spec.name === "webhook-mailgun" && sample && typeof sample === "object") {
    (sample as Record<string, unknown>).signature = await mailgunSignature(ctx);
  }
  if (spec.name === "webhook-twilio" && sample && typeof sample === "object") {
    (sample as Record<string, unknown>).AccountSid = ctx.secrets.twilioAccount;
  }
  // Mutated until no accepted schema parses it: a malformed request must be refused, whatever it hits.
  let mutated = mutate(rng, sample);
  for (let i = 0; i < 20 && spec.schemas.some((s) => s.safeParse(mutated).success); i++) {
    mutated = mutate(rng, sample);
  }
  return spec.schemas.some((s) => s.safeParse(mutated).success) ? randomText(rng, 10) : mutated;
}

function csvJunk(rng: Rng): string {
  const header = rng.pick([
    "couple_name,email,wedding_date",
    "email",
    "",
    "a,a,a",
    "\ufeffcouple_name,email",
    '"unterminated',
  ]);
  const rows = Array.from(
    { length: rng.int(6) },
    () =>
      Array.from(
        { length: 1 + rng.int(5) },
        () => rng.pick(['"a""b"', "=cmd|' /C calc'!A0", "2027-13-45", randomText(rng, 8), "", '"x\ny"']),
      )
        .join(rng.pick([",", ";", "\t"])),
  );
  return [header, ...rows].join(rng.pick(["\n", "\r\n", "\r"]));
}

/** Builds request `index` of `spec` for `seed`: the same three numbers always give the same request. */
export async function buildRequest(
  spec: EndpointSpec,
  ctx: FuzzContext,
  seed: number,
  endpointIndex: number,
  index: number,
): Promise<FuzzRequest> {
  const rng = new Rng(seed, endpointIndex, index);
  const category = rng.weighted(CATEGORIES);
  const route = rng.pick(spec.routes);
  const bodyMethod = spec.methods.includes("POST") ? "POST" : spec.methods[0];
  const method = spec.name === "journey-links"
    ? (route.endsWith("/rating") || route.endsWith("/signup") ? "POST" : rng.pick(["GET", "HEAD"]))
    : bodyMethod;
  const query = await spec.query(ctx, rng);
  const req: FuzzRequest = { category, method, target: `${route}${query ? `?${query}` : ""}`, headers: [] };
  const oversized = category === "huge_declared" || category === "huge_chunked";
  const wantsValidAuth = oversized || (category !== "auth" && rng.chance(0.8));
  const auth = spec.auth === "none"
    ? undefined
    : await credential(ctx, spec.auth, rng, wantsValidAuth, !oversized);
  if (auth) req.headers.push(["authorization", wantsValidAuth ? `Bearer ${auth}` : auth]);
  const contentType = spec.body === "form"
    ? "application/x-www-form-urlencoded"
    : spec.body === "csv"
    ? "text/csv"
    : "application/json";

  let value: unknown = await malformedBody(spec, ctx, rng);
  let text = spec.body === "csv"
    ? csvJunk(rng)
    : spec.body === "form"
    ? formEncode(value)
    : JSON.stringify(value);
  if (text.length > 4 * 1024 * 1024) text = text.slice(0, 4 * 1024 * 1024); // oversized, and cut: not JSON
  let type: string | undefined = contentType;
  switch (category) {
    case "shape":
    case "auth":
    case "signature":
      break;
    case "random_json":
      value = randomJson(rng, 4);
      text = JSON.stringify(value) ?? "null";
      break;
    case "invalid_json":
      text = invalidJson(rng, text);
      break;
    case "form_json_confusion":
      if (spec.body === "json") {
        text = formEncode(value);
        type = rng.pick(["application/json", "application/x-www-form-urlencoded"]);
      } else {
        type = "application/json";
        text = rng.chance(0.5) ? JSON.stringify(randomJson(rng, 2)) : text;
      }
      break;
    case "content_type":
      type = rng.pick(CONTENT_TYPES);
      break;
    case "method":
      req.method = rng.pick(METHODS.filter((m) => !spec.methods.includes(m)));
      break;
    case "query_path": {
      const oddQuery = rng.pick([
        `?${query}&${query}`,
        `?supplier=${
          rng.pick(["", "x", "%00", "%ZZ", "1'", "00000000-0000-0000-0000-000000000000", crypto.randomUUID()])
        }`,
        `?${"a=1&".repeat(2000)}`,
        "?%",
        `?${query}#frag`,
        `?token[]=1&supplier[]=2&t[]=3`,
        `?${encodeURIComponent(randomText(rng, 40))}=${encodeURIComponent(randomText(rng, 40))}`,
        "",
      ]);
      const oddPath = rng.pick([
        route,
        `${route}/`,
        `${route}/extra`,
        "/..",
        "/%2e%2e/%2e%2e",
        `${route}//x`,
        "/%ff",
        "/review%00",
        `/${"a".repeat(3000)}`,
      ]);
      req.target = `${oddPath}${oddQuery}`;
      break;
    }
    case "invalid_utf8":
    case "odd_encoding":
    case "headers":
    case "huge_declared":
    case "huge_chunked":
      break;
  }
  let body: Uint8Array = enc.encode(text);
  if (category === "invalid_utf8") body = invalidUtf8(rng, text);
  if (category === "odd_encoding") {
    const latin1 = Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
    body = rng.chance(0.5) ? utf16(text) : latin1;
    type = rng.pick([`${contentType}; charset=utf-16`, `${contentType}; charset=iso-8859-1`, contentType]);
  }
  if (req.method === "GET" || req.method === "HEAD") body = rng.chance(0.8) ? new Uint8Array() : body;
  req.body = body;
  if (type) req.headers.push(["content-type", type]);

  if (spec.sign && category !== "signature" && rng.chance(0.6)) {
    req.headers.push(...await spec.sign(ctx, { target: req.target, body, contentType: type }));
  }
  if (category === "signature") req.headers.push(...badSignature(spec, rng));
  if (category === "headers") {
    switch (rng.int(6)) {
      case 0:
        req.headers.push(["content-type", rng.pick(CONTENT_TYPES) ?? "text/plain"]);
        break;
      case 1:
        if (auth) {
          req.headers.push(["authorization", `Bearer ${randomText(rng, 10).replace(/[^\x21-\x7e]/g, "x")}`]);
        }
        break;
      case 2:
        req.headers.push(["x-forwarded-for", "1.2.3.4, 5.6.7.8"], ["x-forwarded-host", "evil.example"], [
          "x-real-ip",
          "::1",
        ]);
        break;
      case 3:
        req.headers.push(["x-huge", "h".repeat(6000 + rng.int(6000))]);
        break;
      case 4:
        req.headers = req.headers.filter(([k]) => k !== "content-type" && rng.chance(0.5));
        break;
      default:
        req.headers.push(["accept", "*/*"], ["accept-encoding", "gzip, br"], ["content-encoding", "gzip"], [
          "expect",
          "100-continue",
        ]);
    }
  }
  if (category === "huge_declared" || category === "huge_chunked") {
    req.huge = category === "huge_declared" ? "declared" : "chunked";
    req.method = bodyMethod;
    req.target = `${route}${query ? `?${query}` : ""}`;
    if (spec.name === "journey-links") req.target = `/review/rating`;
    req.body = undefined;
  }
  return req;
}

/** Signature headers that must not verify: garbage, stale, for another body, or duplicated. */
function badSignature(spec: EndpointSpec, rng: Rng): [string, string][] {
  const junk = rng.pick([
    "",
    "v1,",
    "t=1,v1=00",
    "sha256=",
    "sha256=AAAA",
    "x".repeat(3000),
    "v1,AAAA v1,BBBB",
    "=",
    ",,,",
    "t=99999999999,v1=ab",
  ]);
  const names: Record<string, string[]> = {
    "webhook-resend": ["svix-id", "svix-timestamp", "svix-signature"],
    "webhook-sendgrid": ["x-twilio-email-event-webhook-timestamp", "x-twilio-email-event-webhook-signature"],
    "webhook-twilio": ["x-twilio-signature"],
    "webhook-whatsapp": ["x-hub-signature-256"],
    "webhook-calendly": ["calendly-webhook-signature"],
    "webhook-acuity": ["x-acuity-signature"],
    "webhook-typeform": ["typeform-signature"],
  };
  return (names[spec.name] ?? ["x-signature"]).map((n) => [n, rng.chance(0.3) ? String(rng.int(2e9)) : junk]);
}

/** The answer to one request: its status, or why there was none. */
export type Answer = { status?: number; code?: string; error?: string };

/** Sends `req` to `/functions/v1/<name>` over its own HTTP/1.1 connection (exact bytes, no normalising). */
export async function send(name: string, req: FuzzRequest, timeoutMs = 60_000): Promise<Answer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: ports.gateway });
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* already closed */ }
  }, timeoutMs);
  try {
    const lines = [
      `${req.method} /functions/v1/${name}${req.target} HTTP/1.1`,
      `host: 127.0.0.1:${ports.gateway}`,
      "connection: close",
    ];
    for (const [k, v] of req.headers) lines.push(`${k}: ${v}`);
    if (req.huge === "declared") lines.push(`content-length: ${1_000_000_000}`);
    else if (req.huge === "chunked") lines.push("transfer-encoding: chunked");
    else if (req.body && (req.body.byteLength > 0 || !["GET", "HEAD"].includes(req.method))) {
      lines.push(`content-length: ${req.body.byteLength}`);
    }
    const head = enc.encode(`${lines.join("\r\n")}\r\n\r\n`);
    let answered = false;
    const reading = readAll(conn, () => answered = true);
    const writing = (async () => {
      await writeAll(conn, head);
      if (!req.huge) {
        if (req.body?.byteLength) await writeAll(conn, req.body);
        return;
      }
      // Keep sending until the server answers (it must refuse before reading all of it) or 8 MB went out.
      const chunk = new Uint8Array(64 * 1024).fill(0x61);
      const frame = req.huge === "chunked"
        ? new Uint8Array([...enc.encode(`${chunk.byteLength.toString(16)}\r\n`), ...chunk, 13, 10])
        : chunk;
      for (let sent = 0; !answered && sent < 8 * 1024 * 1024; sent += chunk.byteLength) {
        await writeAll(conn, frame);
      }
    })().catch(() => {/* the server may close while we write: the answer tells */});
    const [bytes] = await Promise.all([reading, writing]);
    // Interim answers (100 Continue to an Expect header) come first: the final status is the first other.
    const statuses = [
      ...new TextDecoder().decode(bytes.slice(0, 4096)).matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})/g),
    ];
    const final = statuses.map((m) => Number(m[1])).find((s) => s >= 200) ??
      statuses.map((m) => Number(m[1]))[0];
    // The error code of our JSON errors tells how deep the request got (401 signature, 422 schema...).
    const code = /"code"\s*:\s*"([a-zA-Z_]+)"/.exec(new TextDecoder().decode(bytes.slice(0, 8192)))?.[1];
    if (final !== undefined) return { status: final, code };
    return { error: bytes.byteLength ? "unparseable answer" : "no answer (connection closed or timed out)" };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array) {
  for (let off = 0; off < bytes.byteLength;) off += await conn.write(bytes.subarray(off));
}

/** Reads until the server closes; after the first bytes, gives it 0.5 s more before closing itself. */
async function readAll(conn: Deno.Conn, onFirstBytes: () => void): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(16 * 1024);
  let grace: ReturnType<typeof setTimeout> | undefined;
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      parts.push(buf.slice(0, n));
      if (grace === undefined) {
        onFirstBytes();
        grace = setTimeout(() => {
          try {
            conn.close();
          } catch { /* already closed */ }
        }, 500);
      }
    }
  } catch { /* reset or closed: keep what arrived */ }
  clearTimeout(grace);
  return new Uint8Array(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer());
}

/** Row count and content hash of every table of the public and vault schemas. */
export type Snapshot = Map<string, { rows: number; hash: string }>;

/** Takes a snapshot (count and md5 of the sorted rows of each table). */
export async function snapshot(sql: Sql): Promise<Snapshot> {
  const tables = await sql<{ t: string }[]>`
    select format('%I.%I', schemaname, tablename) as t from pg_catalog.pg_tables
    where schemaname in ('public', 'vault') order by 1`;
  const out: Snapshot = new Map();
  for (const { t } of tables) {
    const [row] = await sql.unsafe<{ rows: number; hash: string }[]>(
      `select count(*)::int as rows, md5(coalesce(string_agg(md5(x::text), '' order by md5(x::text)), '')) as hash from ${t} x`,
    );
    out.set(t, row);
  }
  return out;
}

/** Tables whose rows differ between two snapshots, with the rows written (at least 1 for a changed table). */
export function diff(before: Snapshot, after: Snapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [t, a] of after) {
    const b = before.get(t);
    if (!b || b.hash !== a.hash) out[t] = Math.max(1, Math.abs(a.rows - (b?.rows ?? 0)));
  }
  return out;
}

type FunctionStatus = { pid: number; restarts: number; ready: boolean };

/** The gateway's view of one function's process. */
export async function functionStatus(name: string): Promise<FunctionStatus> {
  const res = await fetch(`${gatewayUrl}/_gateway/status`);
  const body = await res.json() as { functions: Record<string, FunctionStatus> };
  return body.functions[name];
}

const LOG_ERROR = /unhandled error|uncaught|panicked|RangeError|TypeError|out of memory/i;

async function logSize(name: string): Promise<number> {
  try {
    return (await Deno.stat(`${stackPaths.logs}/function-${name}.log`)).size;
  } catch {
    return 0;
  }
}

/**
 * Lines of function `name`'s log after byte `offset` that report an unhandled or uncaught error. This
 * stack's function processes may hold their output until they exit: restart the stack first to see it all.
 */
export async function logErrorsSince(name: string, offset: number): Promise<string[]> {
  let text = "";
  try {
    const file = await Deno.open(`${stackPaths.logs}/function-${name}.log`);
    await file.seek(offset, Deno.SeekMode.Start);
    text = await new Response(file.readable).text();
  } catch { /* no log yet */ }
  return text.split("\n").filter((l) => LOG_ERROR.test(l));
}

/** A request that broke a rule, with what replays it. */
export type Finding = {
  index: number;
  category: Category;
  method: string;
  target: string;
  status?: number;
  error?: string;
};

/** What one endpoint's run found. */
export type EndpointResult = {
  endpoint: string;
  requests: number;
  s2xx: number;
  s4xx: number;
  s413: number;
  s5xx: number;
  other: number;
  no_answer: number;
  rows_written: number;
  tables_written: Record<string, number>;
  crashes: number;
  log_errors: string[];
  oversized: number;
  oversized_not_413: number;
  statuses: Record<string, number>;
  /** Error codes of the answers (`invalid_signature`, `validation_failed`...): how deep requests got. */
  codes: Record<string, number>;
  categories: Record<string, number>;
  findings: Finding[];
  seconds: number;
  /** Size of the function's log when the endpoint's run started. */
  log_offset: number;
};

/** Options of fuzzEndpoint(). */
export type FuzzOptions = {
  seed: number;
  requests: number;
  concurrency: number;
  log?: (line: string) => void;
};

/**
 * Fuzzes one endpoint: `requests` generated requests, `concurrency` at a time, with the database snapshot,
 * the function's pid and its log compared before and after.
 */
export async function fuzzEndpoint(
  sql: Sql,
  ctx: FuzzContext,
  spec: EndpointSpec,
  endpointIndex: number,
  opts: FuzzOptions,
): Promise<EndpointResult> {
  const started = performance.now();
  const before = await snapshot(sql);
  const proc = await functionStatus(spec.name);
  const logOffset = await logSize(spec.name);
  const result: EndpointResult = {
    endpoint: spec.name,
    requests: 0,
    s2xx: 0,
    s4xx: 0,
    s413: 0,
    s5xx: 0,
    other: 0,
    no_answer: 0,
    rows_written: 0,
    tables_written: {},
    crashes: 0,
    log_errors: [],
    oversized: 0,
    oversized_not_413: 0,
    statuses: {},
    codes: {},
    categories: {},
    findings: [],
    seconds: 0,
    log_offset: logOffset,
  };
  let next = 0;
  const worker = async () => {
    while (next < opts.requests) {
      const index = next++;
      const req = await buildRequest(spec, ctx, opts.seed, endpointIndex, index);
      const answer = await send(spec.name, req);
      result.requests++;
      result.categories[req.category] = (result.categories[req.category] ?? 0) + 1;
      const s = answer.status;
      if (s === undefined) result.no_answer++;
      else {
        result.statuses[s] = (result.statuses[s] ?? 0) + 1;
        const code = `${s} ${answer.code ?? "-"}`;
        result.codes[code] = (result.codes[code] ?? 0) + 1;
        if (s >= 200 && s < 300) result.s2xx++;
        else if (s >= 400 && s < 500) result.s4xx++;
        else if (s >= 500) result.s5xx++;
        else result.other++;
        if (s === 413) result.s413++;
      }
      let bad = s === undefined || s >= 500;
      if (req.huge) {
        result.oversized++;
        if (spec.bodyLimit > 0 && s !== 413) {
          result.oversized_not_413++;
          bad = true;
        }
      }
      if (bad && result.findings.length < 20) {
        result.findings.push({
          index,
          category: req.category,
          method: req.method,
          target: req.target.slice(0, 200),
          status: s,
          error: answer.error,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const after = await snapshot(sql);
  result.tables_written = diff(before, after);
  result.rows_written = Object.values(result.tables_written).reduce((a, b) => a + b, 0);
  const now = await functionStatus(spec.name);
  result.crashes = now.pid !== proc.pid ? Math.max(1, now.restarts - proc.restarts) : 0;
  result.log_errors = (await logErrorsSince(spec.name, logOffset)).slice(0, 10);
  result.seconds = Math.round((performance.now() - started) / 100) / 10;
  opts.log?.(
    `${spec.name}: ${result.requests} requests, 2xx ${result.s2xx}, 4xx ${result.s4xx} (413 ${result.s413}), 5xx ${result.s5xx}, ` +
      `no answer ${result.no_answer}, rows ${result.rows_written}, crashes ${result.crashes}, log errors ${result.log_errors.length} (${result.seconds}s)`,
  );
  return result;
}

/** True when the endpoint broke no rule. */
export function clean(r: EndpointResult): boolean {
  return r.s5xx === 0 && r.no_answer === 0 && r.rows_written === 0 && r.crashes === 0 &&
    r.log_errors.length === 0 && r.oversized_not_413 === 0;
}

/**
 * Stops the sweep cron job while `work` runs (so no background run touches the tables the snapshots
 * compare), and waits until two snapshots a second apart agree before starting.
 */
export async function quiesced<T>(sql: Sql, work: () => Promise<T>): Promise<T> {
  const jobs = await sql<{ jobid: number }[]>`select jobid from cron.job where active`;
  for (const j of jobs) await sql`select cron.alter_job(${j.jobid}::bigint, active := false)`;
  try {
    let prev = await snapshot(sql);
    for (let i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const cur = await snapshot(sql);
      if (Object.keys(diff(prev, cur)).length === 0) break;
      prev = cur;
    }
    return await work();
  } finally {
    for (const j of jobs) await sql`select cron.alter_job(${j.jobid}::bigint, active := true)`;
  }
}

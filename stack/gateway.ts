/** The local functions gateway: serves each function at /functions/v1/<name> like Supabase, checking verify_jwt. */
import { jwtVerify } from "jose";
import { jwtSecret as localJwtSecret, ports, root } from "./config.ts";
import { FunctionPool, type FunctionPoolOptions } from "./function_pool.ts";

export { type FunctionConfig, parseFunctionsConfig } from "./function_pool.ts";

/** Where a request for one function goes. */
export interface GatewayTarget {
  /** Check the bearer JWT before forwarding. */
  verifyJwt: boolean;
  /** `http://127.0.0.1:<port>` of the running function; undefined while it is (re)starting. */
  origin?: string;
}

/** Dependencies of the gateway's request handler. */
export interface GatewayHandlerOptions {
  /** Finds a function by name; undefined means no such function (404). */
  resolve(name: string): GatewayTarget | undefined | Promise<GatewayTarget | undefined>;
  /** Secret of the HS256 JWTs accepted when verify_jwt is on. */
  jwtSecret?: string;
  /** Body of `GET /_gateway/status`. */
  status?(): unknown;
  /** Sends the rewritten request to the function (default: global fetch). */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  log?: (line: string) => void;
  /** Receives every function's answer (the security suite scans them for secrets); off by default. */
  capture?: (response: CapturedResponse) => void;
}

/** One answer of a function as the gateway passed it on (body cut at 64 KiB). */
export interface CapturedResponse {
  fn: string;
  method: string;
  path: string;
  status: number;
  body: string;
}

const CAPTURE_LIMIT = 64 * 1024;

// Headers that belong to one connection, not to the request: never forwarded.
const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
  "content-length",
  "x-request-id",
  "accept-encoding",
  "x-forwarded-host",
  "x-forwarded-proto",
]);

/** Supabase's error bodies. */
const notFound = { code: "NOT_FOUND", message: "Requested function was not found" };
const invalidJwt = { code: 401, message: "Invalid JWT" };

/**
 * Builds the gateway's handler: routes `/functions/v1/<name><rest>` to the function as `/<name><rest>`
 * (the hosted runtime's path), enforces verify_jwt, passes `x-request-id` through (or sets one).
 */
export function createGatewayHandler(
  options: GatewayHandlerOptions,
): (request: Request) => Promise<Response> {
  const key = new TextEncoder().encode(options.jwtSecret ?? localJwtSecret);
  const send = options.fetch ?? ((url: string, init: RequestInit) => fetch(url, init));
  const log = options.log ?? (() => {});
  // Verified tokens and their expiry: the same service key arrives on every call.
  const verified = new Map<string, number>();

  const verify = async (authorization: string | null): Promise<boolean> => {
    const match = authorization?.match(/^Bearer\s+(\S+)\s*$/i);
    if (!match) return false;
    const token = match[1];
    const expiresAt = verified.get(token);
    if (expiresAt !== undefined && expiresAt > Date.now()) return true;
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ["HS256"] });
      if (verified.size >= 1000) verified.delete(verified.keys().next().value!);
      verified.set(token, payload.exp ? payload.exp * 1000 : Number.POSITIVE_INFINITY);
      return true;
    } catch {
      return false;
    }
  };

  return async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname === "/_gateway/status" && options.status) return json(200, options.status());
    const requestId = request.headers.get("x-request-id") ?? crypto.randomUUID();
    const match = url.pathname.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
    if (!match) return json(404, notFound, requestId);
    const name = safeDecode(match[1]);
    const target = name === undefined ? undefined : await options.resolve(name);
    if (!target) return json(404, notFound, requestId);
    if (
      target.verifyJwt && request.method !== "OPTIONS" && !await verify(request.headers.get("authorization"))
    ) {
      return json(401, invalidJwt, requestId);
    }
    if (!target.origin) {
      return json(503, { code: 503, message: `Function ${name} is restarting, retry shortly` }, requestId);
    }
    // fetch() refuses these methods, as the hosted edge does: a clear 405, not a 503.
    if (/^(CONNECT|TRACE|TRACK)$/i.test(request.method)) {
      return json(405, { code: 405, message: `Method ${request.method} is not allowed` }, requestId);
    }
    const headers: [string, string][] = [];
    for (const [name, value] of request.headers) if (!hopByHop.has(name)) headers.push([name, value]);
    headers.push(
      ["x-request-id", requestId],
      ["accept-encoding", "identity"],
      ["x-forwarded-host", url.host],
      ["x-forwarded-proto", url.protocol.slice(0, -1)],
    );
    const hasBody = request.body !== null && request.method !== "GET" && request.method !== "HEAD";
    let upstream: Response;
    try {
      upstream = await send(`${target.origin}/${match[1]}${match[2] ?? ""}${url.search}`, {
        method: request.method,
        headers,
        body: hasBody ? request.body : undefined,
        redirect: "manual",
      });
    } catch (error) {
      log(
        `${name}: ${request.method} ${url.pathname} failed: ${
          error instanceof Error ? error.message : error
        }`,
      );
      return json(503, { code: 503, message: `Function ${name} is unavailable, retry shortly` }, requestId);
    }
    const responseHeaders: [string, string][] = [["x-request-id", requestId]];
    for (const [name, value] of upstream.headers) {
      if (!hopByHop.has(name)) responseHeaders.push([name, value]);
    }
    let body = upstream.body;
    if (options.capture) {
      const capture = options.capture;
      const entry = { fn: name!, method: request.method, path: url.pathname, status: upstream.status };
      if (body) {
        // The client reads one branch while the copy is read to the end for the capture.
        const [out, copy] = body.tee();
        body = out;
        new Response(copy).arrayBuffer().then(
          (bytes) => capture({ ...entry, body: new TextDecoder().decode(bytes.slice(0, CAPTURE_LIMIT)) }),
          () => {},
        );
      } else capture({ ...entry, body: "" });
    }
    return new Response(body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: responseHeaders,
    });
  };
}

function safeDecode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function json(status: number, body: unknown, requestId?: string): Response {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (requestId) headers["x-request-id"] = requestId;
  return new Response(JSON.stringify(body), { status, headers });
}

/** Options of startGateway(). */
export interface GatewayOptions extends Partial<FunctionPoolOptions> {
  /** Port to listen on (127.0.0.1). Default 54321. */
  port?: number;
  /** Appends every function's answer as a JSON line to this file (`STACK_CAPTURE_RESPONSES=1` sets it). */
  captureFile?: string;
}

/** A running gateway. */
export interface Gateway {
  url: string;
  port: number;
  pool: FunctionPool;
  /** Stops listening and ends every function process. */
  shutdown(): Promise<void>;
}

/** Starts every function as its own Deno process and serves them at http://127.0.0.1:<port>/functions/v1/. */
export async function startGateway(options: GatewayOptions = {}): Promise<Gateway> {
  const port = options.port ?? ports.gateway;
  const log = options.log ?? ((line: string) => console.log(`[gateway] ${line}`));
  const pool = new FunctionPool({
    root: options.root ?? root,
    gatewayUrl: `http://127.0.0.1:${port}`,
    logsDir: options.logsDir,
    env: options.env,
    log,
  });
  const captureFile = options.captureFile;
  const handler = createGatewayHandler({
    resolve: (name) => pool.resolve(name),
    status: () => pool.status(),
    log,
    capture: captureFile
      ? (response) => Deno.writeTextFileSync(captureFile, JSON.stringify(response) + "\n", { append: true })
      : undefined,
  });
  // Listen once every function accepts connections, so that an answering gateway means a ready one.
  await pool.start().catch(async (error) => {
    await pool.shutdown();
    throw error;
  });
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, handler);
  } catch (error) {
    await pool.shutdown();
    throw error;
  }
  log(`Serving ${pool.names().length} functions at http://127.0.0.1:${port}/functions/v1/`);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pool,
    async shutdown() {
      await pool.shutdown();
      await server.shutdown();
    },
  };
}

/** The provider simulator's HTTP server: provider APIs under `/<provider>/...`, the control API under `/_sim/...`. */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { ports } from "../config.ts";
import { createAcuityProvider } from "./acuity.ts";
import { createCalendlyProvider } from "./calendly.ts";
import { createGoogleProvider } from "./google.ts";
import { createHooksProvider } from "./hooks.ts";
import { createJotformProvider } from "./jotform.ts";
import { createResendProvider } from "./resend.ts";
import { createTwilioProvider } from "./twilio.ts";
import { createWhatsAppProvider } from "./whatsapp.ts";
import { createMailgunProvider } from "./mailgun.ts";
import { createSendGridProvider } from "./sendgrid.ts";
import {
  ControlError,
  optionalNumber,
  type Provider,
  type ProviderRequest,
  type ProviderResponse,
  redactCredential,
  SimState,
} from "./state.ts";
import { createTaveProvider } from "./tave.ts";
import { createTypeformProvider } from "./typeform.ts";
import { WebhookDispatcher } from "./webhooks.ts";

/** Builds one simulated provider; adding a provider means writing one file and listing its factory here. */
export type ProviderFactory = (state: SimState, webhooks: WebhookDispatcher) => Provider;

/** Every simulated provider, each served under its own path prefix (its `name`). */
export const providerFactories: readonly ProviderFactory[] = [
  createResendProvider,
  createCalendlyProvider,
  createGoogleProvider,
  createAcuityProvider,
  createTwilioProvider,
  createWhatsAppProvider,
  createTaveProvider,
  createHooksProvider,
  createJotformProvider,
  createSendGridProvider,
  createMailgunProvider,
  createTypeformProvider,
];

/** Options of {@link startSimulator}. */
export type SimulatorOptions = {
  /** Port to listen on; 0 picks a free one (tests). Defaults to the stack's simulator port, 54330. */
  port?: number;
  /** Interface to listen on; defaults to 127.0.0.1. */
  hostname?: string;
};

/** A running simulator. */
export type Simulator = {
  /** Base URL, e.g. `http://127.0.0.1:54330`; Resend's base URL is `${url}/resend`. */
  url: string;
  port: number;
  /** Closes every connection, cancels pending delays and webhook deliveries, and stops listening. */
  shutdown(): Promise<void>;
};

const MAX_BODY_BYTES = 45 * 1024 * 1024;
/**
 * Sent before closing a `reset` fault's connection. A close without any byte on a pooled connection
 * makes Deno's fetch silently replay the request once (denoland/deno#35610), so the client would never
 * see the failure; bytes that are not HTTP make every client fail with a network error, never a retry.
 */
const RESET_BYTES = "SIMULATED-CONNECTION-RESET\r\n\r\n";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads the whole request body; null if it is larger than {@link MAX_BODY_BYTES}. */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    req.on("data", (chunk: Uint8Array) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => {
      if (size > MAX_BODY_BYTES) return resolve(null);
      if (chunks.length === 1) return resolve(decoder.decode(chunks[0]));
      const all = new Uint8Array(size);
      let offset = 0;
      for (const c of chunks) {
        all.set(c, offset);
        offset += c.length;
      }
      resolve(decoder.decode(all));
    });
    req.on("error", reject);
  });
}

/** Parses a body as form fields (form content type) or JSON (anything else). */
function parseBody(raw: string, contentType: string): { body: unknown; invalid: boolean } {
  if (raw === "") return { body: undefined, invalid: false };
  if (contentType.includes("application/x-www-form-urlencoded")) {
    return { body: Object.fromEntries(new URLSearchParams(raw)), invalid: false };
  }
  try {
    return { body: JSON.parse(raw), invalid: false };
  } catch {
    return { body: undefined, invalid: true };
  }
}

function send(res: ServerResponse, response: ProviderResponse): void {
  if (res.destroyed || res.writableEnded) return;
  const isText = typeof response.body === "string";
  const bytes = encoder.encode(
    isText ? response.body as string : response.body === undefined ? "" : JSON.stringify(response.body),
  );
  res.writeHead(response.status, {
    "content-type": isText ? "text/plain; charset=utf-8" : "application/json",
    "content-length": String(bytes.length),
    ...response.headers,
  });
  res.end(bytes);
}

function json(status: number, body: unknown): ProviderResponse {
  return { status, body };
}

function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new ControlError("the body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

function queryNumber(query: URLSearchParams, name: string, fallback: number): number {
  const v = query.get(name);
  if (v === null || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ControlError(`\`${name}\` must be a non-negative number`);
  return n;
}

/**
 * Starts the provider simulator. Clients point a provider's base URL at `<url>/<provider>`
 * (Resend: `<url>/resend`, then the real paths `POST /emails`, `POST /emails/batch`, `GET /emails/{id}`);
 * tests drive it through the control API under `<url>/_sim`.
 */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const hostname = opts.hostname ?? "127.0.0.1";
  const state = new SimState();
  const webhooks = new WebhookDispatcher(state);
  const providers = new Map<string, Provider>();
  for (const factory of providerFactories) {
    const p = factory(state, webhooks);
    providers.set(p.name, p);
  }
  const names = [...providers.keys()];

  function providerOf(input: Record<string, unknown>): Provider {
    const name = input.provider;
    const p = typeof name === "string" ? providers.get(name) : undefined;
    if (!p) throw new ControlError(`\`provider\` must be one of: ${names.join(", ")}`);
    return p;
  }

  function describe(p: Provider): Record<string, unknown> {
    return {
      provider: p.name,
      latency_ms: state.latencyMs(p.name),
      max_requests: state.maxRecords,
      webhook_concurrency: webhooks.concurrency,
      ...p.describeConfig(),
    };
  }

  async function control(
    method: string,
    path: string,
    query: URLSearchParams,
    body: unknown,
  ): Promise<ProviderResponse> {
    const provider = query.get("provider") ?? undefined;
    if (provider !== undefined && !providers.has(provider)) {
      throw new ControlError(`\`provider\` must be one of: ${names.join(", ")}`);
    }
    switch (`${method} ${path}`) {
      case "POST /reset":
        state.reset();
        webhooks.reset();
        for (const p of providers.values()) p.reset();
        return json(200, { ok: true });
      case "GET /config":
        return json(
          200,
          provider ? describe(providers.get(provider)!) : [...providers.values()].map(describe),
        );
      case "POST /config": {
        const input = asObject(body);
        const p = providerOf(input);
        const latency = optionalNumber(input, "latency_ms", 600_000);
        const maxRequests = optionalNumber(input, "max_requests");
        const concurrency = optionalNumber(input, "webhook_concurrency", 10_000);
        p.configure(input);
        if (latency !== undefined) state.setLatencyMs(p.name, latency);
        if (maxRequests !== undefined) state.maxRecords = Math.max(1, Math.floor(maxRequests));
        if (concurrency !== undefined) webhooks.concurrency = concurrency;
        return json(200, describe(p));
      }
      case "POST /faults":
        return json(200, state.addFault(asObject(body), names));
      case "GET /faults":
        return json(200, state.faults.filter((f) => !provider || f.provider === provider));
      case "DELETE /faults":
        return json(200, { removed: state.clearFaults(provider) });
      case "GET /requests":
        return json(
          200,
          state.listRequests(provider, queryNumber(query, "since", 0), queryNumber(query, "limit", Infinity)),
        );
      case "GET /webhooks":
        return json(200, webhooks.list(provider, queryNumber(query, "since", 0)));
      case "GET /stats": {
        const stats: Record<string, Record<string, number>> = {};
        for (const p of providers.values()) {
          if (provider && p.name !== provider) continue;
          stats[p.name] = { ...state.counters(p.name), ...p.stats(), ...webhooks.counters(p.name) };
        }
        return json(200, stats);
      }
      case "GET /clock":
        return json(200, { now_ms: state.now(), now: new Date(state.now()).toISOString() });
      case "POST /clock": {
        const advance = optionalNumber(asObject(body), "advance_ms");
        if (advance === undefined) throw new ControlError("`advance_ms` is required");
        const now = state.advanceClock(advance);
        return json(200, { now_ms: now, now: new Date(now).toISOString() });
      }
    }
    const slash = path.indexOf("/", 1);
    const p = providers.get(slash < 0 ? path.slice(1) : path.slice(1, slash));
    const answer = p ? await p.control(method, slash < 0 ? "" : path.slice(slash), query, body) : undefined;
    return answer ?? json(404, { error: `no control route ${method} /_sim${path}` });
  }

  async function serveProvider(
    p: Provider,
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    search: string,
    raw: string,
  ): Promise<void> {
    const receivedAt = performance.timeOrigin + performance.now();
    const method = req.method ?? "GET";
    const headers: Record<string, string> = {};
    const recorded: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      const text = Array.isArray(value) ? value.join(", ") : value;
      headers[name] = text;
      recorded[name] = name === "authorization" || name === "apikey" ? redactCredential(text) : text;
    }
    const parsed = parseBody(raw, headers["content-type"] ?? "");
    const record = state.record({
      provider: p.name,
      method,
      path: path + search,
      received_at_ms: receivedAt,
      headers: recorded,
      body: parsed.body ?? (raw === "" ? null : raw),
    });
    let waited = false;
    const processing = () => {
      if (waited) return Promise.resolve();
      waited = true;
      return state.sleep(state.latencyMs(p.name));
    };
    const ctx: ProviderRequest = {
      method,
      path,
      query: new URLSearchParams(search),
      headers,
      rawBody: raw,
      body: parsed.body,
      bodyInvalid: parsed.invalid,
      record,
      processing,
    };

    const rule = state.takeFault(p.name, method, path);
    let response: ProviderResponse;
    if (rule?.kind === "status") {
      response = p.faultResponse(rule);
    } else {
      try {
        response = await p.handle(ctx);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        response = json(500, {
          statusCode: 500,
          name: "application_error",
          message: `simulator error: ${message}`,
        });
      }
    }
    await processing();
    if (rule) record.fault = rule.kind;
    if (rule?.kind === "reset") {
      const socket = req.socket;
      if (rule.zero_bytes) socket.destroy();
      else socket.end(RESET_BYTES, () => socket.destroy());
      return;
    }
    record.status = response.status;
    if (rule?.kind === "timeout") await state.sleep(rule.delay_ms);
    send(res, response);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const raw = await readBody(req);
      if (raw === null) {
        send(
          res,
          json(413, { statusCode: 413, name: "validation_error", message: "The request body is too large." }),
        );
        return;
      }
      const target = req.url ?? "/";
      const q = target.indexOf("?");
      let path = q < 0 ? target : target.slice(0, q);
      const search = q < 0 ? "" : target.slice(q);
      if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);

      if (path === "/" || path === "/_sim") {
        send(res, json(200, { simulator: "provider-simulator", providers: names, control: "/_sim" }));
        return;
      }
      if (path.startsWith("/_sim/")) {
        const parsed = parseBody(raw, "");
        let answer: ProviderResponse;
        try {
          if (parsed.invalid) throw new ControlError("the body is not valid JSON");
          answer = await control(
            req.method ?? "GET",
            path.slice(5),
            new URLSearchParams(search),
            parsed.body,
          );
        } catch (error) {
          if (!(error instanceof ControlError)) throw error;
          answer = json(error.status, { error: error.message });
        }
        send(res, answer);
        return;
      }
      const slash = path.indexOf("/", 1);
      const p = providers.get(slash < 0 ? path.slice(1) : path.slice(1, slash));
      if (!p) {
        send(res, json(404, { error: `no simulated provider at ${path}; providers: ${names.join(", ")}` }));
        return;
      }
      await serveProvider(p, req, res, slash < 0 ? "/" : path.slice(slash), search, raw);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      send(res, json(500, { error: `simulator error: ${message}` }));
    }
  }

  const server = createServer((req, res) => void onRequest(req, res));
  // Longer than clients' pools keep idle connections, so a reused connection is not closed under a request.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? ports.simulator, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : opts.port ?? ports.simulator;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    shutdown() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        state.close();
        await webhooks.close();
        await closed;
      })();
      return stopping;
    },
  };
}

function argument(name: string): string | undefined {
  const i = Deno.args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  return Deno.args[i].includes("=") ? Deno.args[i].split("=")[1] : Deno.args[i + 1];
}

if (import.meta.main) {
  const port = argument("port");
  const sim = await startSimulator({
    port: port ? Number(port) : ports.simulator,
    hostname: argument("hostname"),
  });
  console.log(
    `Provider simulator at ${sim.url} (Resend base URL ${sim.url}/resend, control API ${sim.url}/_sim)`,
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => void sim.shutdown().then(() => Deno.exit(0)));
  }
}

// The operator console: one server-rendered HTML page of the system's health, operator-only.
import { decodeJwt } from "jose";
import type { Sql } from "../db/client.ts";
import { HttpError, readRawBody } from "../http/errors.ts";
import { UUID_PATTERN } from "../http/validate.ts";
import { timelinePage } from "../activity/timeline.ts";

/** Escapes a value for HTML text and attribute values. */
export function esc(value: unknown): string {
  const text = value instanceof Date ? value.toISOString().replace(/\.\d+Z$/, "Z") : String(value ?? "");
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The operator's bearer token, or a 401/403. The gateway (verify_jwt = true) has checked the signature;
 * operators are the service role or users whose `app_metadata.operator` is true (app_metadata is
 * writable by the service role only, unlike user_metadata).
 */
export function operatorToken(req: Request): string {
  const token = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "")?.[1];
  if (!token) throw new HttpError(401, "unauthorized", "Missing bearer token");
  let claims;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new HttpError(401, "unauthorized", "Malformed bearer token");
  }
  const appMeta = claims.app_metadata as { operator?: unknown } | undefined;
  if (claims.role !== "service_role" && appMeta?.operator !== true) {
    throw new HttpError(403, "forbidden", "Operators only");
  }
  return token;
}

/** The CSRF token of a form post: bound to the operator's own bearer token, which another site cannot read. */
export async function csrfToken(bearer: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`operator-console csrf\n${bearer}`),
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function table(headers: string[], rows: unknown[][], id: string): string {
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join("");
  const body = rows.length
    ? rows.map((r) => `<tr>${r.map((c) => `<td>${c instanceof Raw ? c.html : esc(c)}</td>`).join("")}</tr>`)
      .join("")
    : `<tr><td colspan="${headers.length}" class="none">none</td></tr>`;
  return `<table id="${esc(id)}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

class Raw {
  constructor(readonly html: string) {}
}

const STYLE = `body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}h1{font-size:1.4rem}
h2{font-size:1.1rem;margin-top:1.6rem}table{border-collapse:collapse;margin:.4rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f2f2f2}
.none{color:#888}.flash{background:#e7f6e7;padding:.4rem .6rem;border:1px solid #9c9}
.bad{color:#a00}form{margin:0}`;

async function render(sql: Sql, url: URL, csrf: string): Promise<string> {
  const health = await sql<{ provider: string; status: string; n: number }[]>`
    select provider, status, count(*)::int as n from public.supplier_integrations
    group by provider, status order by status <> 'disconnected', status <> 'failing', provider`;
  const unhealthy = await sql<Record<string, unknown>[]>`
    select supplier_name, provider, status, code, reason, since, runs::int as runs
    from public.operator_attention where kind = 'integration' order by since limit 100`;
  const runs = await sql<{ module_type: string; status: string; n: number }[]>`
    select module_type::text, status::text, count(*)::int as n from public.module_runs
    group by 1, 2 order by 1, 2`;
  const stuck = await sql<Record<string, unknown>[]>`
    select r.id::text as id, s.name as supplier, r.module_type::text as module, r.status::text as status,
      r.last_error ->> 'code' as code, left(r.last_error ->> 'message', 300) as reason, r.attempts, r.updated_at,
      i.client_id::text as client_id
    from public.module_runs r join public.suppliers s on s.id = r.supplier_id
    join public.journey_instances i on i.id = r.journey_instance_id
    where r.status in ('dead', 'held') order by r.updated_at desc limit 100`;
  const circuits = await sql<Record<string, unknown>[]>`
    select coalesce(a.provider, l.provider) as provider,
      coalesce(a.account, l.account) || coalesce(' / ' || nullif(l.scope, ''), '') as account,
      a.circuit, a.consecutive_failures, a.open_until, l.limited_until, a.last_errors -> 0 ->> 'code' as code
    from public.provider_account_status a
    full join (select * from public.rate_limit_status where limited_until is not null) l
      on (l.provider, l.account, l.scope) = (a.provider, a.account, '')
    where a.circuit <> 'closed' or l.limited_until is not null order by 1, 2 limit 100`;

  const statuses = [...new Set(runs.map((r) => r.status))];
  const modules = [...new Set(runs.map((r) => r.module_type))];
  const count = (m: string, s: string) => runs.find((r) => r.module_type === m && r.status === s)?.n ?? 0;

  const redriven = url.searchParams.get("redriven");
  const clientId = url.searchParams.get("client") ?? (stuck[0]?.client_id as string | undefined) ?? null;
  let timeline = `<p class="none">Open a couple with ?client=&lt;uuid&gt; or a run's couple link.</p>`;
  if (clientId && UUID_PATTERN.test(clientId)) {
    try {
      const page = await timelinePage(sql, { client_id: clientId, limit: 100 });
      const tz = page.time_zone ?? "UTC";
      const fmt = new Intl.DateTimeFormat("en-GB", {
        timeZone: tz,
        dateStyle: "medium",
        timeStyle: "medium",
      });
      timeline = `<p>Couple <code>${esc(clientId)}</code>, times in ${esc(tz)}</p>` + table(
        ["time", "kind", "module", "provider", "status", "http", "message id", "code", "reason"],
        page.entries.map((e) => [
          fmt.format(new Date(e.at)),
          e.kind,
          e.module_type,
          e.provider,
          e.status,
          e.http_status,
          e.provider_message_id,
          e.code,
          e.reason,
        ]),
        "timeline",
      );
    } catch (error) {
      if (!(error instanceof HttpError)) throw error;
      timeline = `<p class="bad">${esc(error.message)}</p>`;
    }
  }

  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Operator console</title>
<meta name="robots" content="noindex"><style>${STYLE}</style></head><body>
<h1>Operator console</h1>
${redriven ? `<p class="flash" id="flash">Run ${esc(redriven)} re-driven.</p>` : ""}
<h2>Integrations by health</h2>
${table(["provider", "status", "count"], health.map((h) => [h.provider, h.status, h.n]), "health")}
${
    table(
      ["supplier", "provider", "status", "code", "reason", "since", "held runs"],
      unhealthy.map((u) => [u.supplier_name, u.provider, u.status, u.code, u.reason, u.since, u.runs]),
      "unhealthy",
    )
  }
<h2>Runs by module and status</h2>
${table(["module", ...statuses], modules.map((m) => [m, ...statuses.map((s) => count(m, s))]), "runs")}
<h2>Dead and held runs</h2>
${
    table(
      ["run", "supplier", "module", "status", "code", "reason", "attempts", "since", ""],
      stuck.map((r) => [
        r.id,
        r.supplier,
        r.module,
        r.status,
        r.code,
        r.reason,
        r.attempts,
        r.updated_at,
        new Raw(
          `<form method="post"><input type="hidden" name="csrf" value="${esc(csrf)}">` +
            `<input type="hidden" name="run_id" value="${esc(r.id)}">` +
            `<button type="submit" data-run="${esc(r.id)}">Re-drive</button></form> ` +
            `<a href="?client=${esc(encodeURIComponent(String(r.client_id)))}">couple</a>`,
        ),
      ]),
      "stuck",
    )
  }
<h2>Open circuits and rate limits</h2>
${
    table(
      ["provider", "account", "circuit", "failures", "open until", "rate-limited until", "last code"],
      circuits.map((c) => [
        c.provider,
        c.account,
        c.circuit,
        c.consecutive_failures,
        c.open_until,
        c.limited_until,
        c.code,
      ]),
      "circuits",
    )
  }
<h2>Timeline</h2>
${timeline}
</body></html>`;
}

function html(body: string, status = 200, headers: HeadersInit = {}): Response {
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "x-frame-options": "DENY",
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
      "referrer-policy": "no-referrer",
      ...headers,
    },
  });
}

/** `GET /operator-console` renders the page; `POST` (form: run_id, csrf) re-drives a dead or held run. */
export function operatorConsoleHandler(deps: { sql: Sql; log?: (line: string) => void }) {
  const log = deps.log ?? console.error;
  return async (req: Request): Promise<Response> => {
    try {
      const bearer = operatorToken(req);
      const csrf = await csrfToken(bearer);
      const url = new URL(req.url);
      if (req.method === "GET") return html(await render(deps.sql, url, csrf));
      if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use GET or POST");
      if (!(req.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) {
        throw new HttpError(415, "unsupported_media_type", "Post the re-drive form");
      }
      const form = new URLSearchParams(new TextDecoder().decode(await readRawBody(req, 4096)));
      if (form.get("csrf") !== csrf) throw new HttpError(403, "csrf", "The form's CSRF token does not match");
      const runId = form.get("run_id") ?? "";
      if (!/^[1-9][0-9]{0,17}$/.test(runId)) {
        throw new HttpError(422, "invalid_run_id", "run_id must be a run id");
      }
      const [row] = await deps.sql<
        { ok: boolean | null }[]
      >`select public.redrive_run(${runId}::bigint) as ok`;
      if (!row?.ok) throw new HttpError(409, "not_redrivable", `Run ${runId} is not dead, unknown or held`);
      const back = new URLSearchParams({ redriven: runId });
      const client = url.searchParams.get("client");
      if (client && UUID_PATTERN.test(client)) back.set("client", client);
      return new Response(null, {
        status: 303,
        headers: { location: `?${back}`, "cache-control": "no-store" },
      });
    } catch (error) {
      if (error instanceof HttpError) {
        return html(
          `<!doctype html><title>${error.status}</title><p>${esc(error.message)}</p>`,
          error.status,
        );
      }
      log(`unhandled error: ${error instanceof Error ? `${error.name}: ${error.message}` : "unknown"}`);
      return html("<!doctype html><title>500</title><p>Internal error</p>", 500);
    }
  };
}

// The one-click unsubscribe endpoint (RFC 8058): mailbox providers POST to the List-Unsubscribe URL;
// a person opening the link gets a confirmation page whose button POSTs. A GET never unsubscribes, as
// link scanners open every URL in an email.
import type { Sql } from "../../db/client.ts";
import { HttpError, readRawBody, withErrors } from "../../http/errors.ts";
import { escapeHtml } from "../../render/template.ts";
import type { SecretStore } from "../../secrets.ts";
import { unsubscribeKey, verifyUnsubscribeToken } from "./unsubscribe_token.ts";

/** What the endpoint needs. */
export type UnsubscribeDeps = { sql: Sql; secrets: SecretStore; log?: (line: string) => void };

function page(status: number, title: string, body: string): Response {
  return new Response(
    `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">` +
      `<title>${
        escapeHtml(title)
      }</title></head><body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">` +
      `<h1>${escapeHtml(title)}</h1>${body}</body></html>`,
    { status, headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } },
  );
}

/** `GET|POST /email-unsubscribe?token=<jwt>`. */
export function unsubscribeHandler(deps: UnsubscribeDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    if (req.method !== "GET" && req.method !== "POST") {
      throw new HttpError(405, "method_not_allowed", "Use GET or POST");
    }
    const token = new URL(req.url).searchParams.get("token");
    if (!token || token.length > 2000) {
      throw new HttpError(400, "invalid_token", "The link has no valid token");
    }
    const key = await unsubscribeKey(await deps.secrets.byName("functions_invoke_secret"));
    const claims = await verifyUnsubscribeToken(key, token);
    if (!claims) throw new HttpError(400, "invalid_token", "The unsubscribe link is not valid");

    if (req.method === "GET") {
      return page(
        200,
        "Unsubscribe",
        `<p>Stop receiving these emails?</p><form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">` +
          `<button type="submit">Unsubscribe</button></form>`,
      );
    }
    // RFC 8058's body is "List-Unsubscribe=One-Click"; it is read (bounded) but any POST counts.
    await readRawBody(req, 4096);
    const [row] = await deps.sql<{ result: string }[]>`
      select public.unsubscribe_run(${claims.supplierId}::uuid, ${claims.runId}::bigint) as result`;
    if (row.result === "not_found") {
      throw new HttpError(404, "not_found", "The email this link came from no longer exists");
    }
    return page(200, "You are unsubscribed", "<p>You will not receive these emails any more.</p>");
  }, deps.log);
}

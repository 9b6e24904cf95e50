// A couple's activity timeline through public.activity_timeline(), and the vendor app's `activity` endpoint.
import type { Sql } from "../db/client.ts";
import { type ActivityEntry, activityRequest, decodeCursor, encodeCursor } from "../api/activity.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../http/errors.ts";
import { asUser, userClaims } from "../http/user.ts";
import { parseOr422 } from "../http/validate.ts";

/** One page of a couple's timeline as `sql` may see it (RLS applies to a user's transaction). */
export async function timelinePage(
  sql: Sql,
  q: { client_id: string; instance_id?: string; before?: { at: string; key: string }; limit: number },
): Promise<{ time_zone: string | null; entries: ActivityEntry[]; next_cursor: string | null }> {
  const [client] = await sql<{ time_zone: string | null }[]>`
    select time_zone from public.clients where id = ${q.client_id}::uuid`;
  if (!client) throw new HttpError(404, "client_not_found", `Client ${q.client_id} not found`);
  let rows: ActivityEntry[];
  try {
    rows = await sql<ActivityEntry[]>`
      select to_char(t.at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, t.key, t.kind,
        t.run_id::float8 as run_id, t.journey_instance_id::text, t.step_position, t.module_type, t.status,
        t.provider, t.provider_message_id, t.channel, t.attempt, t.http_status, t.code, t.reason,
        to_char(t.run_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as run_at
      from public.activity_timeline(${q.client_id}::uuid, ${q.instance_id ?? null}::uuid,
        ${q.before?.at ?? null}::text::timestamptz, ${q.limit + 1}, ${q.before?.key ?? null}) t`;
  } catch (error) {
    if ((error as { code?: string }).code === "P0002") {
      throw new HttpError(404, "not_found", "Journey instance not found for this client");
    }
    throw error;
  }
  const more = rows.length > q.limit;
  const entries = more ? rows.slice(0, q.limit) : rows;
  const last = entries.at(-1);
  return {
    time_zone: client.time_zone,
    entries,
    next_cursor: more && last ? encodeCursor(last.at, last.key) : null,
  };
}

/** `POST /activity`: a couple's timeline for a signed-in member of the couple's supplier. */
export function activityHandler(deps: { sql: Sql; log?: (line: string) => void }) {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const claims = userClaims(req);
    const body = parseOr422(
      activityRequest,
      parseJson(await readRawBody(req, 16 * 1024)),
      "activity request",
    );
    const before = body.cursor === undefined ? undefined : decodeCursor(body.cursor);
    if (body.cursor !== undefined && !before) {
      throw new HttpError(422, "invalid_cursor", "cursor is not a next_cursor this endpoint returned");
    }
    const page = await asUser(
      deps.sql,
      claims,
      (tx) =>
        timelinePage(tx, {
          client_id: body.client_id,
          instance_id: body.instance_id,
          before,
          limit: body.limit,
        }),
    );
    return json({ client_id: body.client_id, ...page });
  }, deps.log);
}

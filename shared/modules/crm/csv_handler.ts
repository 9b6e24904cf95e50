// Couples as CSV for a vendor's signed-in users: export with each couple's journey status, and import from
// a CRM export, all or nothing, with a report naming every bad row.
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { pgArray } from "../../db/client.ts";
import { HttpError, json, readRawBody, withErrors } from "../../http/errors.ts";
import { asUser, userClaims } from "../../http/user.ts";
import { COUPLE_FIELD_VALUES, COUPLE_FIELDS, type CoupleField } from "./config.ts";
import { CsvError, parseCsv, toCsv, uncell } from "./csv.ts";

/** Largest import accepted, in bytes and rows. */
export const IMPORT_LIMITS = { bytes: 2 * 1024 * 1024, rows: 5_000 } as const;

const EXPORT_COLUMNS = [
  "id",
  ...COUPLE_FIELDS,
  "time_zone",
  "locale",
  "journey",
  "journey_status",
  "current_step",
  "current_module",
  "journey_started_at",
  "journey_completed_at",
] as const;

type ImportColumn = CoupleField | "first_name" | "last_name" | "time_zone" | "locale";

/** Header names of common CRM exports (lower case, non-alphanumerics as `_`) → import columns. */
const HEADER_ALIASES: Record<string, ImportColumn> = {
  couple_name: "couple_name",
  couple: "couple_name",
  couple_names: "couple_name",
  name: "couple_name",
  client_name: "couple_name",
  full_name: "couple_name",
  contact_name: "couple_name",
  first_name: "first_name",
  firstname: "first_name",
  last_name: "last_name",
  lastname: "last_name",
  surname: "last_name",
  email: "email",
  email_address: "email",
  e_mail: "email",
  primary_email: "email",
  phone: "phone",
  phone_number: "phone",
  mobile: "phone",
  mobile_phone: "phone",
  cell_phone: "phone",
  wedding_date: "wedding_date",
  event_date: "wedding_date",
  date: "wedding_date",
  booking_date: "booking_date",
  booked_date: "booking_date",
  booked_on: "booking_date",
  venue: "venue",
  location: "venue",
  event_location: "venue",
  venue_name: "venue",
  time_zone: "time_zone",
  timezone: "time_zone",
  locale: "locale",
  language: "locale",
};

/** One problem with an import: the spreadsheet row (1 is the header), the column, and why. */
export type ImportError = { row: number; column: string; message: string };

const localeValue = z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, "must be a locale like en or en-GB");
const timeZoneValue = z.string().min(1).max(100);

const supplierParam = z.uuid();

function supplierOf(req: Request): string {
  const parsed = supplierParam.safeParse(new URL(req.url).searchParams.get("supplier"));
  if (!parsed.success) {
    throw new HttpError(400, "invalid_supplier", "Query parameter supplier must be the supplier's uuid");
  }
  return parsed.data;
}

async function requireSupplier(tx: Sql, supplierId: string): Promise<void> {
  const [visible] = await tx`select 1 from public.suppliers where id = ${supplierId}::uuid`;
  if (!visible) throw new HttpError(404, "supplier_not_found", `Supplier ${supplierId} not found`);
}

async function exportCouples(tx: Sql, supplierId: string): Promise<string> {
  await requireSupplier(tx, supplierId);
  const rows = await tx<Record<string, string | number | null>[]>`
    select c.id, c.couple_name, c.email, c.phone, c.wedding_date::text as wedding_date,
      c.booking_date::text as booking_date, c.venue, c.time_zone, c.locale,
      li.journey, li.journey_status, li.current_step, li.current_module,
      to_char(li.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as journey_started_at,
      to_char(li.completed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as journey_completed_at
    from public.clients c
    left join lateral (
      select j.name as journey, i.status::text as journey_status, s.position as current_step,
        s.module_type::text as current_module, i.started_at, i.completed_at
      from public.journey_instances i
      join public.journeys j on j.id = i.journey_id
      left join public.journey_steps s on s.id = i.current_step_id
      where i.client_id = c.id
      order by i.started_at desc, i.id
      limit 1
    ) li on true
    where c.supplier_id = ${supplierId}::uuid
    order by c.created_at, c.id`;
  return toCsv([[...EXPORT_COLUMNS], ...rows.map((r) => EXPORT_COLUMNS.map((col) => r[col]))]);
}

type CoupleRow = Record<CoupleField | "time_zone" | "locale", string | null>;

/** Reads and validates every row; returns the couples, or every problem found. */
function readImport(
  text: string,
): { couples: { row: number; couple: CoupleRow }[]; errors: ImportError[]; ignored: string[] } {
  let records;
  try {
    records = parseCsv(text);
  } catch (error) {
    if (error instanceof CsvError) throw new HttpError(400, "invalid_csv", error.message);
    throw error;
  }
  if (records.length === 0) {
    throw new HttpError(400, "invalid_csv", "The CSV is empty: it needs a header row");
  }
  if (records.length - 1 > IMPORT_LIMITS.rows) {
    throw new HttpError(413, "too_many_rows", `An import holds at most ${IMPORT_LIMITS.rows} couples`);
  }
  const [header, ...data] = records;
  const columns = header.fields.map((h) =>
    HEADER_ALIASES[h.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_")]
  );
  const ignored = header.fields.filter((_, i) => columns[i] === undefined);
  const has = (c: ImportColumn) => columns.includes(c);
  if (!has("couple_name") && !has("first_name")) {
    throw new HttpError(
      422,
      "missing_column",
      "The CSV needs a couple_name column (or first_name and last_name)",
      [{ row: 1, column: "couple_name", message: "missing column" }],
    );
  }

  const errors: ImportError[] = [];
  const couples: { row: number; couple: CoupleRow }[] = [];
  const seenEmails = new Map<string, number>();
  for (const record of data) {
    const row = record.line;
    const raw: Partial<Record<ImportColumn, string>> = {};
    columns.forEach((column, i) => {
      const value = uncell((record.fields[i] ?? "").trim());
      if (column && value !== "") raw[column] = value;
    });
    if (record.fields.length > header.fields.length) {
      errors.push({
        row,
        column: "(row)",
        message: `has ${record.fields.length} fields, the header has ${header.fields.length}`,
      });
    }
    const name = raw.couple_name ?? [raw.first_name, raw.last_name].filter(Boolean).join(" ");
    const candidate: Record<string, string | null> = {
      couple_name: name,
      email: raw.email?.toLowerCase() ?? null,
      // Spreadsheets keep the spaces, dashes and brackets people type in numbers.
      phone: raw.phone?.replace(/[\s().-]/g, "") ?? null,
      wedding_date: raw.wedding_date ?? null,
      booking_date: raw.booking_date ?? null,
      venue: raw.venue ?? null,
    };
    const couple = { time_zone: raw.time_zone ?? null, locale: raw.locale ?? null } as CoupleRow;
    for (const [field, value] of Object.entries(candidate) as [CoupleField, string | null][]) {
      const parsed = COUPLE_FIELD_VALUES[field].safeParse(value);
      couple[field] = parsed.success ? parsed.data as string | null : null;
      if (!parsed.success) errors.push({ row, column: field, message: parsed.error.issues[0].message });
    }
    if (couple.locale !== null && !localeValue.safeParse(couple.locale).success) {
      errors.push({ row, column: "locale", message: "must be a locale like en or en-GB" });
    }
    if (couple.time_zone !== null && !timeZoneValue.safeParse(couple.time_zone).success) {
      errors.push({ row, column: "time_zone", message: "must be an IANA time zone like Europe/London" });
    }
    if (couple.email) {
      const first = seenEmails.get(couple.email);
      if (first !== undefined) errors.push({ row, column: "email", message: `same email as row ${first}` });
      else seenEmails.set(couple.email, row);
    }
    couples.push({ row, couple });
  }
  return { couples, errors, ignored };
}

async function importCouples(tx: Sql, supplierId: string, text: string, skipExisting: boolean) {
  await requireSupplier(tx, supplierId);
  const { couples, errors, ignored } = readImport(text);

  // What only the database knows: its time zone names, and the couples the vendor already has.
  const zones = couples.filter((c) => c.couple.time_zone !== null);
  if (zones.length > 0) {
    const bad = await tx<{ n: number }[]>`
      select t.n::int as n from unnest(${
      pgArray(zones.map((c) => c.couple.time_zone))
    }::text[]) with ordinality t(tz, n)
      where not public.is_time_zone(t.tz)`;
    for (const { n } of bad) {
      errors.push({
        row: zones[n - 1].row,
        column: "time_zone",
        message: "must be an IANA time zone like Europe/London",
      });
    }
  }
  const emails = couples.map((c) => c.couple.email).filter((e): e is string => e !== null);
  const existing = new Set(
    (await tx<{ email: string }[]>`
      select lower(email) as email from public.clients
      where supplier_id = ${supplierId}::uuid and lower(email) = any(${pgArray(emails)}::text[])`).map((r) =>
      r.email
    ),
  );
  const skipped: number[] = [];
  const fresh = couples.filter(({ row, couple }) => {
    if (!couple.email || !existing.has(couple.email)) return true;
    if (skipExisting) skipped.push(row);
    else errors.push({ row, column: "email", message: "a couple with this email already exists" });
    return false;
  });
  if (errors.length > 0) {
    errors.sort((a, b) => a.row - b.row);
    const rows = new Set(errors.map((e) => e.row)).size;
    throw new HttpError(
      422,
      "import_invalid",
      `${rows} of ${couples.length} rows have errors; nothing was imported`,
      { errors, ignored_columns: ignored },
    );
  }
  const payload = fresh.map(({ couple }) => ({ ...couple, locale: couple.locale ?? "en" }));
  // One statement: the import is written whole or not at all.
  const [{ n }] = await tx<{ n: number }[]>`
    with inserted as (
      insert into public.clients (supplier_id, couple_name, email, phone, wedding_date, booking_date, venue, time_zone, locale)
      select ${supplierId}::uuid, r.couple_name, r.email, r.phone, r.wedding_date, r.booking_date, r.venue, r.time_zone, r.locale
      from jsonb_to_recordset(${JSON.stringify(payload)}::text::jsonb) as r(
        couple_name text, email text, phone text, wedding_date date, booking_date date, venue text, time_zone text, locale text)
      returning 1
    )
    select count(*)::int as n from inserted`;
  return { imported: n, skipped_rows: skipped, ignored_columns: ignored };
}

/**
 * `GET /crm-csv?supplier=<uuid>`: the supplier's couples as CSV with their latest journey's status.
 * `POST /crm-csv?supplier=<uuid>[&existing=skip]` with a CSV body: imports couples, all or nothing; a
 * couple whose email the supplier already has is an error, or skipped with `existing=skip`.
 * Both run as the signed-in user, so Row Level Security decides which supplier they may touch.
 */
export function crmCsvHandler(deps: { sql: Sql; log?: (line: string) => void }) {
  return withErrors(async (req) => {
    const claims = userClaims(req);
    const supplierId = supplierOf(req);
    if (req.method === "GET") {
      const csv = await asUser(deps.sql, claims, (tx) => exportCouples(tx, supplierId));
      return new Response(csv, {
        headers: {
          "content-type": "text/csv; charset=utf-8",
          "content-disposition": `attachment; filename="couples-${supplierId}.csv"`,
        },
      });
    }
    if (req.method !== "POST") {
      throw new HttpError(405, "method_not_allowed", "Use GET to export or POST to import");
    }
    const type = req.headers.get("content-type") ?? "";
    if (!/^(text\/csv|text\/plain)\b/i.test(type)) {
      throw new HttpError(415, "unsupported_media_type", "Send the CSV with content-type text/csv");
    }
    const existing = new URL(req.url).searchParams.get("existing") ?? "error";
    if (existing !== "error" && existing !== "skip") {
      throw new HttpError(400, "invalid_parameter", "existing must be error or skip");
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(await readRawBody(req, IMPORT_LIMITS.bytes));
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, "invalid_encoding", "The CSV must be UTF-8 text");
    }
    try {
      const report = await asUser(
        deps.sql,
        claims,
        (tx) => importCouples(tx, supplierId, text, existing === "skip"),
      );
      return json(report, 201);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "23514") {
        throw new HttpError(
          422,
          "check_failed",
          "A couple was refused by a database check; nothing was imported",
        );
      }
      if (code === "42501") throw new HttpError(403, "forbidden", "You cannot add couples to this supplier");
      throw error;
    }
  }, deps.log);
}

// CSV (RFC 4180) reading and writing for couple exports and imports, safe to open in a spreadsheet.

/** Thrown when a CSV text cannot be read; `line` is where the bad record starts. */
export class CsvError extends Error {
  constructor(readonly line: number, message: string) {
    super(`Cannot read CSV at line ${line}: ${message}`);
    this.name = "CsvError";
  }
}

/** One record and the line it starts on (1-based, as a spreadsheet numbers rows when no field spans lines). */
export type CsvRecord = { line: number; fields: string[] };

/**
 * Parses CSV text: comma-separated, fields optionally in double quotes (`""` is a quote inside one, and
 * quoted fields may span lines), CRLF or LF line ends, a leading byte-order mark ignored. Blank lines
 * are skipped.
 * @throws {CsvError} On a quote that is never closed or text right after a closing quote.
 */
export function parseCsv(text: string): CsvRecord[] {
  const s = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let start = 1;
  const endField = () => {
    fields.push(field);
    field = "";
    quoted = false;
  };
  const endRecord = () => {
    endField();
    if (fields.length > 1 || fields[0] !== "") records.push({ line: start, fields });
    fields = [];
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '"' && field === "" && !quoted) {
      // A quoted field: read to the closing quote.
      const opened = line;
      quoted = true;
      i++;
      for (;;) {
        if (i >= s.length) throw new CsvError(opened, "a quoted field is never closed");
        if (s[i] === '"' && s[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (s[i] === '"') {
          i++;
          break;
        } else {
          if (s[i] === "\n") line++;
          field += s[i++];
        }
      }
      if (i < s.length && s[i] !== "," && s[i] !== "\n" && s[i] !== "\r") {
        throw new CsvError(line, "text after a closing quote (quote the whole field)");
      }
    } else if (c === ",") {
      endField();
      i++;
    } else if (c === "\r" || c === "\n") {
      endRecord();
      i += c === "\r" && s[i + 1] === "\n" ? 2 : 1;
      line++;
      start = line;
    } else {
      field += c;
      i++;
    }
  }
  if (field !== "" || quoted || fields.length > 0) endRecord();
  return records;
}

// A cell a spreadsheet would run as a formula (CSV injection): =, +, -, @, tab or carriage return first.
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV cell: quoted when needed; a formula-like value is prefixed with `'` so spreadsheets show it as text. */
export function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return "";
  let v = String(value);
  if (FORMULA_START.test(v)) v = `'${v}`;
  return /[",\r\n]/.test(v) || v !== v.trim() ? `"${v.replaceAll('"', '""')}"` : v;
}

/** Undoes {@link csvCell}'s formula guard on an imported value. */
export function uncell(value: string): string {
  return /^'[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

/** A CSV text from rows (CRLF line ends, as RFC 4180 has them). */
export function toCsv(rows: (string | number | null | undefined)[][]): string {
  return rows.map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

// CSV reading and writing for couple imports and exports (RFC 4180, spreadsheet-safe cells).
import assert from "node:assert/strict";
import { csvCell, CsvError, parseCsv, toCsv, uncell } from "../../shared/modules/crm/csv.ts";

Deno.test("parseCsv() reads quoted fields, doubled quotes, embedded line breaks and CRLF when present", () => {
  const text = '\uFEFFname,venue\r\n"Zoë & Sam","Villa ""Rosa"",\nComo"\r\n\r\nMax,\n';
  assert.deepEqual(parseCsv(text), [
    { line: 1, fields: ["name", "venue"] },
    { line: 2, fields: ["Zoë & Sam", 'Villa "Rosa",\nComo'] },
    { line: 5, fields: ["Max", ""] },
  ]);
});

Deno.test("parseCsv() keeps empty quoted fields and a last line without a line break", () => {
  assert.deepEqual(parseCsv('a,"",c\nx,y,z'), [
    { line: 1, fields: ["a", "", "c"] },
    { line: 2, fields: ["x", "y", "z"] },
  ]);
});

Deno.test("parseCsv() throws CsvError naming the line when a quote is never closed", () => {
  assert.throws(() => parseCsv('a,b\n"open,c\nd'), (e) => e instanceof CsvError && e.line === 2);
  assert.throws(() => parseCsv('"ab"c,d'), /text after a closing quote/);
});

Deno.test("csvCell() quotes separators and prefixes formulas so spreadsheets show them as text", () => {
  assert.equal(csvCell("plain"), "plain");
  assert.equal(csvCell('say "hi", then'), '"say ""hi"", then"');
  assert.equal(csvCell("=SUM(A1)"), "'=SUM(A1)");
  assert.equal(csvCell("+447700900123"), "'+447700900123");
  assert.equal(csvCell("@cmd"), "'@cmd");
  assert.equal(csvCell(null), "");
  assert.equal(csvCell(3), "3");
});

Deno.test("uncell() restores a guarded value and leaves other apostrophes alone", () => {
  assert.equal(uncell("'+447700900123"), "+447700900123");
  assert.equal(uncell("'tis the season"), "'tis the season");
});

Deno.test("toCsv() round-trips through parseCsv() when values need quoting", () => {
  const rows = [["id", "venue"], ["1", 'Villa "Rosa",\r\nComo'], ["2", "-5"]];
  const parsed = parseCsv(toCsv(rows)).map((r) => r.fields.map(uncell));
  assert.deepEqual(parsed, rows);
});

// pgArray() writes Postgres array literals that survive quotes, backslashes, commas and nulls.
import assert from "node:assert/strict";
import { pgArray } from "../../shared/db/client.ts";

Deno.test("pgArray() quotes every element and writes NULL for null", () => {
  assert.equal(pgArray([2]), '{"2"}');
  assert.equal(pgArray([]), "{}");
  assert.equal(pgArray(['a"b', "c\\d", "e,f", null]), '{"a\\"b","c\\\\d","e,f",NULL}');
});

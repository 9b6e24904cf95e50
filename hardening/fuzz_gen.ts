// Generators of malformed HTTP requests for the fuzz suite: a seeded PRNG, JSON samples derived from the
// endpoints' zod schemas, and the mutations (types, shapes, encodings, headers, sizes) applied to them.
import { z } from "zod";

/** A seeded PRNG (sfc32): the same seed gives the same requests, so every failure can be replayed. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** @param seeds any 32-bit integers (the run seed, the endpoint's index, the request's index). */
  constructor(...seeds: number[]) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seeds.length;
    for (const s of seeds) {
      this.#a ^= s | 0;
      this.#b = Math.imul(this.#b ^ s, 0x85ebca6b);
      for (let i = 0; i < 4; i++) this.next();
    }
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** One key of `weights`, drawn in proportion to its weight. */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as [K, number][];
    let r = this.next() * entries.reduce((s, [, w]) => s + w, 0);
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return entries[entries.length - 1][0];
  }
}

/** Strings that break naive code: control characters, lone surrogates, RTL marks, huge, SQL and path tricks. */
const NASTY_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff\ud800",
  "\u202e\u0041\u0042",
  "\ufeff",
  "💍".repeat(40),
  "'; drop table public.suppliers; --",
  "${jndi:ldap://x}",
  "{{client.email}}",
  "../../etc/passwd",
  "%00",
  "null",
  "true",
  "NaN",
  "-0",
  "1e309",
  "00000000-0000-0000-0000-000000000000",
  "ffffffff-ffff-ffff-ffff-ffffffffffff",
  "2026-02-30T25:61:61Z",
  "0000-00-00",
  "+99999-01-01T00:00:00Z",
  "https://",
  "javascript:alert(1)",
  "x".repeat(5000),
  "é".repeat(300),
  "__proto__",
  "constructor",
];

/** Numbers at the edges of what JSON, JavaScript and Postgres hold. */
const NASTY_NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  1e308,
  -1e308,
  5e-324,
  2 ** 31,
  2 ** 31 - 1,
  -(2 ** 31) - 1,
  2 ** 53 + 2,
  2 ** 63,
  1e21,
];

/** Any JSON value, at most `depth` levels deep. */
export function randomJson(rng: Rng, depth = 3): unknown {
  const kind = depth <= 0 ? rng.int(5) : rng.int(7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick(NASTY_NUMBERS) : rng.int(1000) - 500;
    case 3:
    case 4:
      return rng.chance(0.7) ? rng.pick(NASTY_STRINGS) : randomText(rng, rng.int(40));
    case 5:
      return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth - 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) {
        out[rng.pick(NASTY_STRINGS).slice(0, 30) || "k"] = randomJson(rng, depth - 1);
      }
      return out;
    }
  }
}

/** Random printable-ish text including non-ASCII code points. */
export function randomText(rng: Rng, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) {
    s += String.fromCodePoint(
      rng.chance(0.8) ? 32 + rng.int(95) : rng.pick([0xe9, 0x4e2d, 0x1f48d, 0x202e, 0x7f, 0x9]),
    );
  }
  return s;
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  default?: unknown;
  minimum?: number;
  minLength?: number;
  additionalProperties?: JsonSchema | boolean;
};

/** The JSON Schema of a zod schema, as a client would send it (input side). */
export function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
}

const FORMAT_SAMPLES: Record<string, string> = {
  uuid: "4f1c2b8e-8a4b-4c55-9d47-2b1f6e0a9c11",
  "date-time": "2027-06-12T14:00:00Z",
  date: "2027-06-12",
  uri: "https://example.com/x",
  email: "couple@example.com",
};

/** A plausible value for `schema` (required fields filled, formats respected), to be mutated. */
export function sampleOf(rng: Rng, schema: JsonSchema, depth = 0): unknown {
  if (depth > 8) return null;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return rng.pick(schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives?.length) return sampleOf(rng, rng.pick(alternatives), depth + 1);
  if (schema.allOf?.length) return sampleOf(rng, schema.allOf[0], depth + 1);
  const type = Array.isArray(schema.type) ? rng.pick(schema.type) : schema.type;
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [key, prop] of Object.entries(schema.properties ?? {})) {
        if (schema.required?.includes(key) || rng.chance(0.5)) out[key] = sampleOf(rng, prop, depth + 1);
      }
      if (!schema.properties && typeof schema.additionalProperties === "object") {
        out.field = sampleOf(rng, schema.additionalProperties, depth + 1);
      }
      return out;
    }
    case "array":
      if (schema.prefixItems) return schema.prefixItems.map((s) => sampleOf(rng, s, depth + 1));
      return Array.from({ length: 1 + rng.int(2) }, () => sampleOf(rng, schema.items ?? {}, depth + 1));
    case "string":
      return FORMAT_SAMPLES[schema.format ?? ""] ?? "x".repeat(Math.max(schema.minLength ?? 1, 1));
    case "integer":
    case "number":
      return Math.max(schema.minimum ?? 1, 1);
    case "boolean":
      return true;
    case "null":
      return null;
    default:
      return schema.default ?? randomJson(rng, 1);
  }
}

/** Paths of every node of a JSON value (objects and arrays walked), the root being []. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  }
  return out;
}

function setAt(root: unknown, path: (string | number)[], replace: (old: unknown) => unknown | typeof DELETE) {
  if (path.length === 0) return replace(root) === DELETE ? undefined : replace(root);
  let node = root as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  const next = replace(node[last]);
  if (next === DELETE) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = next;
  return root;
}
const DELETE = Symbol("delete");

/** Names of the shape mutations, for the report. */
export const SHAPE_MUTATIONS = [
  "drop_field",
  "wrong_type",
  "extra_field",
  "null_value",
  "wrap_in_array",
  "nasty_string",
  "nasty_number",
  "deep_nesting",
  "long_array",
] as const;

/**
 * Breaks `value` (a structured clone is mutated) with 1-3 shape mutations: a dropped field, a value of
 * the wrong type, an unknown field, nulls, arrays for objects, nasty strings and numbers, deep nesting.
 */
export function mutate(rng: Rng, value: unknown): unknown {
  let out = structuredClone(value);
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const all = paths(out);
    const path = rng.pick(all);
    const kind = rng.pick(SHAPE_MUTATIONS);
    out = setAt(out, path, (old) => {
      switch (kind) {
        case "drop_field":
          return path.length ? DELETE : {};
        case "wrong_type":
          return typeof old === "string"
            ? rng.pick([1, true, ["x"], { s: old }])
            : typeof old === "number"
            ? rng.pick([String(old), [old], false])
            : Array.isArray(old)
            ? rng.pick([{}, "[]", 0])
            : old && typeof old === "object"
            ? rng.pick(["{}", [old], 1])
            : rng.pick([{}, [], "x"]);
        case "extra_field":
          return old && typeof old === "object" && !Array.isArray(old)
            ? {
              ...old,
              [rng.pick(["__proto__", "extra", "constructor", "id", "supplier_id"])]: randomJson(rng, 1),
            }
            : old;
        case "null_value":
          return null;
        case "wrap_in_array":
          return [old, old];
        case "nasty_string":
          return rng.pick(NASTY_STRINGS);
        case "nasty_number":
          return rng.pick(NASTY_NUMBERS);
        case "deep_nesting": {
          let v: unknown = old;
          for (let i = 0; i < 200 + rng.int(2000); i++) v = rng.chance(0.5) ? [v] : { a: v };
          n = 0; // nothing is mutated inside the nesting: it would be copied at every level
          return v;
        }
        case "long_array":
          // Short elements: a long array of a long array would grow past any body limit.
          return Array.from({ length: 100 + rng.int(1500) }, () => (typeof old === "object" ? 0 : old));
      }
    });
  }
  return out;
}

const enc = new TextEncoder();

/** Bytes that are not valid UTF-8: stray continuation bytes, overlongs, encoded surrogates, truncations. */
export function invalidUtf8(rng: Rng, json: string): Uint8Array {
  const bad = rng.pick([[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xe2, 0x82], [
    0xf8,
    0x88,
    0x80,
    0x80,
    0x80,
  ]]);
  const bytes = enc.encode(json);
  const at = rng.int(bytes.length + 1);
  return new Uint8Array([...bytes.slice(0, at), ...bad, ...bytes.slice(at)]);
}

/** Text that is not JSON: truncated, with garbage inserted, JavaScript-isms, a BOM, or nothing at all. */
export function invalidJson(rng: Rng, json: string): string {
  switch (rng.int(9)) {
    case 0:
      return json.slice(0, Math.max(1, rng.int(json.length)));
    case 1:
      return json.replace(/"/g, "'");
    case 2:
      return `${json},`;
    case 3:
      return `{"a": NaN, "b": undefined}`;
    case 4:
      return `\ufeff${json}`;
    case 5:
      return `${json}${json}`;
    case 6:
      return "[".repeat(5000 + rng.int(100000));
    case 7:
      return `{"a": 1, "a": 2, ${json.slice(1)}`;
    default:
      return randomText(rng, 1 + rng.int(200));
  }
}

/** UTF-16 with a byte-order mark: valid text, not UTF-8. */
export function utf16(text: string): Uint8Array {
  const out = new Uint8Array(2 + text.length * 2);
  out[0] = 0xff;
  out[1] = 0xfe;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[2 + i * 2] = c & 0xff;
    out[3 + i * 2] = c >> 8;
  }
  return out;
}

/** A JSON object flattened to form encoding (nested values as JSON text), for form/JSON confusion. */
export function formEncode(value: unknown): string {
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return `value=${encodeURIComponent(JSON.stringify(value))}`;
  }
  return new URLSearchParams(
    Object.entries(value).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  ).toString();
}

/** Content types: right, wrong, absurd and absent (undefined). */
export const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=latin1",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "multipart/form-data",
  "text/plain",
  "text/csv",
  "application/octet-stream",
  "application/xml",
  "*/*",
  "application/json, text/plain",
  "😀/😀",
  undefined,
] as const;

/** Email template rendering: merge tags like {{couple_name}}, HTML-escaped values, and a plain-text part. */

/** A vendor's email template; its own HTML is trusted, only the merged values are escaped. */
export type EmailTemplate = {
  subject: string;
  html: string;
  /** The plain-text part; when null, undefined or blank it is derived from the rendered HTML. */
  text?: string | null;
};

/** A rendered email, ready to send. */
export type RenderedEmail = { subject: string; html: string; text: string };

/**
 * Thrown by {@link renderTemplate} when a tag has no value. It is permanent (retrying cannot help):
 * the caller fails the step and reports `missing` so the vendor can fix the contact data or template.
 */
export class TemplateError extends Error {
  /** The missing tag names, sorted and unique. */
  readonly missing: string[];

  /**
   * @param name A label for the template, used in the message.
   * @param missing The missing tag names (sorted and de-duplicated here).
   */
  constructor(name: string, missing: string[]) {
    const sorted = [...new Set(missing)].sort();
    super(`Cannot render template "${name}": missing merge tags ${sorted.join(", ")}`);
    this.name = "TemplateError";
    this.missing = sorted;
  }
}

/** `{{ name }}` with optional spaces; names are lower-case, may contain digits, `_` and `.`. */
const TAG = /\{\{\s*([a-z][a-z0-9_.]*)\s*\}\}/g;

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
};

/**
 * Escapes `& < > " '` so a value is safe in HTML text and in quoted attribute values.
 * (It does not make a value safe as a whole URL: a `javascript:` link stays a link.)
 */
export function escapeHtml(s: string): string {
  if (typeof s !== "string") throw new TypeError(`Cannot escape HTML: expected a string, got ${typeof s}`);
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** Decodes the basic named entities (`&amp; &lt; &gt; &quot; &apos;`, plus `&nbsp;`) and numeric ones, in one pass. */
function decodeEntities(s: string): string {
  return s.replace(/&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));/g, (entity, dec, hex, name) => {
    if (name !== undefined) return NAMED_ENTITIES[name] ?? entity;
    const code = dec !== undefined ? Number.parseInt(dec, 10) : Number.parseInt(hex, 16);
    const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
    return valid ? String.fromCodePoint(code) : entity;
  });
}

/**
 * Derives a plain-text body from HTML: drops tags (and the contents of head, script and style),
 * turns `<br>` and block ends (`</p>`, `</div>`, headings, list items, rows) into newlines,
 * decodes entities, collapses runs of blank lines and trims.
 */
export function htmlToText(html: string): string {
  if (typeof html !== "string") {
    throw new TypeError(`Cannot convert HTML to text: expected a string, got ${typeof html}`);
  }
  // A tag, allowing `>` inside quoted attribute values.
  const tag = `<(?:[^>"']|"[^"]*"|'[^']*')*>`;
  return decodeEntities(
    html
      .replace(/<!--[\s\S]*?-->/g, "")
      .replace(/<(head|script|style|title)\b[\s\S]*?<\/\1\s*>/gi, "")
      // Source line breaks and indentation are not significant in HTML.
      .replace(/\s+/g, " ")
      .replace(/<br\b[^>]*>/gi, "\n")
      .replace(/<\/(p|h[1-6]|blockquote|table)\s*>/gi, "\n\n")
      .replace(/<\/(div|li|tr|ul|ol)\s*>/gi, "\n")
      .replace(new RegExp(tag, "g"), ""),
  )
    .split("\n")
    .map((line) => line.replace(/[ \t\u00a0]+/g, " ").trim())
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

function assertTemplate(template: EmailTemplate): void {
  if (template === null || typeof template !== "object") {
    throw new TypeError("Cannot read template: expected an object with subject and html");
  }
  if (typeof template.subject !== "string") {
    throw new TypeError("Cannot read template: subject must be a string");
  }
  if (typeof template.html !== "string") throw new TypeError("Cannot read template: html must be a string");
  if (template.text !== undefined && template.text !== null && typeof template.text !== "string") {
    throw new TypeError("Cannot read template: text must be a string, null or absent");
  }
}

function tagsIn(s: string, into: Set<string>): void {
  for (const match of s.matchAll(TAG)) into.add(match[1]);
}

/**
 * Lists the merge tags a template uses (subject, html and text), sorted and unique, e.g. to check
 * a journey's configuration against the fields a contact has.
 */
export function mergeTags(template: EmailTemplate): string[] {
  assertTemplate(template);
  const tags = new Set<string>();
  tagsIn(template.subject, tags);
  tagsIn(template.html, tags);
  if (template.text) tagsIn(template.text, tags);
  return [...tags].sort();
}

/**
 * Renders a template with merge-tag values.
 *
 * - html: each value is HTML-escaped; the template's own markup is kept as is.
 * - subject: values are plain text; line breaks are replaced by spaces (no header injection).
 * - text: values are plain text; if the template has no text part it is derived from the rendered html.
 *
 * Substitution is a single pass, so a value containing `{{other}}` is left literally as typed.
 *
 * @param values Tag name → value; `null`, `undefined` and `""` count as missing.
 * @param name A label for error messages (e.g. the template id); defaults to "email".
 * @throws {TemplateError} Listing every missing tag, if any tag has no value (never renders a blank).
 * @throws {TypeError} If the template is malformed or a value is neither a string nor null/undefined.
 */
export function renderTemplate(
  template: EmailTemplate,
  values: Record<string, string | null | undefined>,
  name = "email",
): RenderedEmail {
  assertTemplate(template);
  if (values === null || typeof values !== "object") {
    throw new TypeError(`Cannot render template "${name}": values must be an object`);
  }

  const missing = new Set<string>();
  for (const tag of mergeTags(template)) {
    const value = Object.hasOwn(values, tag) ? values[tag] : undefined;
    if (value === undefined || value === null || value === "") {
      missing.add(tag);
    } else if (typeof value !== "string") {
      throw new TypeError(
        `Cannot render template "${name}": value of ${tag} must be a string, got ${typeof value}`,
      );
    }
  }
  if (missing.size > 0) throw new TemplateError(name, [...missing]);

  const substitute = (s: string, encode: (v: string) => string) =>
    s.replace(TAG, (_match, tag: string) => encode(values[tag] as string));

  const subject = substitute(template.subject, (v) => v).replace(/\s*[\r\n]+\s*/g, " ").trim();
  const html = substitute(template.html, escapeHtml);
  const text = template.text && template.text.trim() !== ""
    ? substitute(template.text, (v) => v)
    : htmlToText(html);
  return { subject, html, text };
}

// Content a vendor writes for couples (plain text, markdown or HTML) turned into safe HTML and plain
// text: markdown is rendered without raw HTML, and every HTML result is sanitised against an allowlist.
// @ts-types="npm:@types/markdown-it@14.1.2"
import MarkdownIt from "markdown-it";
// @ts-types="npm:@types/sanitize-html@2.16.0"
import sanitizeHtml from "sanitize-html";
import { escapeHtml, htmlToText } from "./template.ts";

/** How a vendor's content is written. */
export type ContentFormat = "text" | "markdown" | "html";

/** Content ready to show or send: sanitised HTML and its plain-text form. */
export type RenderedContent = { html: string; text: string };

const markdown = new MarkdownIt({ html: false, linkify: true, typographer: false });

const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: [
    ...sanitizeHtml.defaults.allowedTags.filter((t) => t !== "iframe"),
    "img",
  ],
  allowedAttributes: {
    a: ["href", "title", "rel", "target"],
    img: ["src", "alt", "width", "height"],
  },
  allowedSchemes: ["https", "http", "mailto", "tel"],
  allowedSchemesByTag: { img: ["https"] },
  allowProtocolRelative: false,
  disallowedTagsMode: "discard",
  // Relative image sources mean nothing in an email or another site's dashboard.
  exclusiveFilter: (frame) => frame.tag === "img" && !/^https:\/\//.test(frame.attribs.src ?? ""),
  transformTags: {
    a: sanitizeHtml.simpleTransform("a", { rel: "noopener noreferrer", target: "_blank" }),
  },
};

/** Sanitises HTML against the allowlist (no scripts, handlers, styles, frames, or non-http(s) links). */
export function sanitize(html: string): string {
  return sanitizeHtml(html, SANITIZE);
}

/** Renders vendor content in `format` to sanitised HTML and plain text. */
export function renderContent(format: ContentFormat, body: string): RenderedContent {
  switch (format) {
    case "text": {
      const html = body.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean)
        .map((p) => `<p>${escapeHtml(p).replace(/\n/g, "<br>")}</p>`).join("\n");
      return { html, text: body.trim() };
    }
    case "markdown": {
      const html = sanitize(markdown.render(body));
      return { html, text: htmlToText(html) };
    }
    case "html": {
      const html = sanitize(body);
      return { html, text: htmlToText(html) };
    }
  }
}

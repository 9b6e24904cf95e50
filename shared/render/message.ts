// A module's email built from the vendor's plain-text wording plus action links (form, review, referral):
// the vendor's text is escaped, the links are merge tags filled by renderTemplate.
import { type EmailTemplate, escapeHtml } from "./template.ts";

/** A link the message offers: its label (vendor text, may hold merge tags) and the merge tag of its URL. */
export type MessageAction = { label: string; tag: string };

/** The parts of a module message. */
export type MessageParts = {
  subject: string;
  /** Plain text; blank lines separate paragraphs; merge tags allowed. */
  message: string;
  actions: MessageAction[];
  /** Plain text after the actions (an incentive, a note); merge tags allowed. */
  footer?: string | null;
};

function paragraphs(text: string): string {
  return text.split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean)
    .map((p) => `<p>${escapeHtml(p).replace(/\n/g, "<br>")}</p>`).join("\n");
}

/** The email template of a module message (to render with {@link renderTemplate}). */
export function messageTemplate(parts: MessageParts): EmailTemplate {
  const links = parts.actions.map((a) => `<p><a href="{{${a.tag}}}">${escapeHtml(a.label)}</a></p>`);
  const html = [paragraphs(parts.message), ...links, parts.footer ? paragraphs(parts.footer) : ""]
    .filter(Boolean).join("\n");
  const text = [
    parts.message.trim(),
    ...parts.actions.map((a) => `${a.label}: {{${a.tag}}}`),
    parts.footer?.trim() ?? "",
  ].filter(Boolean).join("\n\n");
  return { subject: parts.subject, html, text };
}

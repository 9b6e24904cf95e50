// Composing an email step for a couple: merge values, template rendering, branding and the unsubscribe
// link; shared by the sending executor and the preview endpoint, so a preview is exactly what is sent.
import { applyBranding, type Brand } from "../../render/brand.ts";
import { type EmailTemplate, type RenderedEmail, renderTemplate } from "../../render/template.ts";
import { formatWeddingDate } from "../../time/zones.ts";

/** The merge tags every email can use, besides `custom.<name>`. */
export const STANDARD_TAGS = [
  "couple_name",
  "wedding_date",
  "supplier_name",
  "venue",
  "unsubscribe_url",
] as const;

/** What composing needs about the couple, the supplier and the step. */
export type ComposeInput = {
  templateKey: string;
  template: EmailTemplate;
  couple: {
    couple_name: string;
    wedding_date: string | null;
    locale: string;
    venue: string | null;
    custom: Record<string, unknown>;
  };
  supplier: { name: string; brand: Brand };
  /** The step's own `custom` values; they win over the couple's. */
  stepCustom: Record<string, string>;
  unsubscribeUrl: string;
};

/** The merge values of a couple for a step (null for values the couple does not have). */
export function mergeValues(input: ComposeInput): Record<string, string | null> {
  const { couple } = input;
  const values: Record<string, string | null> = {
    couple_name: couple.couple_name,
    wedding_date: couple.wedding_date ? formatWeddingDate(couple.wedding_date, couple.locale) : null,
    supplier_name: input.supplier.name,
    venue: couple.venue,
    unsubscribe_url: input.unsubscribeUrl,
  };
  for (const [k, v] of Object.entries({ ...couple.custom, ...input.stepCustom })) {
    values[`custom.${k}`] = v === null || v === undefined ? null : typeof v === "string" ? v : String(v);
  }
  return values;
}

/**
 * Renders the step's email for the couple in the supplier's branding.
 * @throws {TemplateError} Naming every merge tag without a value (never sends a blank).
 */
export function composeEmail(input: ComposeInput): RenderedEmail {
  const rendered = renderTemplate(input.template, mergeValues(input), input.templateKey);
  return applyBranding(rendered, input.supplier.brand, input.supplier.name, input.unsubscribeUrl);
}

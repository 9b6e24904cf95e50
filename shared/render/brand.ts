// A supplier's branding around a rendered email: logo, brand colour and the unsubscribe footer, each
// value checked before it reaches markup (only #rgb / #rrggbb colours, only https logos, all escaped).
import { escapeHtml, type RenderedEmail } from "./template.ts";

/** The supplier's brand, as stored in `suppliers.brand`. */
export type Brand = { primary_color?: unknown; logo_url?: unknown };

const COLOR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;

/** The brand colour when it is a plain hex colour; anything else (CSS, url(), expressions) is dropped. */
export function safeColor(value: unknown): string | null {
  return typeof value === "string" && COLOR.test(value) ? value.toLowerCase() : null;
}

/** The logo URL when it is an absolute https URL; anything else (javascript:, data:, http:) is dropped. */
export function safeLogoUrl(value: unknown): string | null {
  if (typeof value !== "string" || value.length > 2000) return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" && url.username === "" && url.password === "" ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * Wraps a rendered email in the supplier's layout: logo and colour bar on top, a footer with the
 * supplier's name and the unsubscribe link. The text part gets the footer as plain text.
 */
export function applyBranding(
  email: RenderedEmail,
  brand: Brand,
  supplierName: string,
  unsubscribeUrl: string,
): RenderedEmail {
  const color = safeColor(brand.primary_color) ?? "#444444";
  const logo = safeLogoUrl(brand.logo_url);
  const name = escapeHtml(supplierName);
  const header = logo
    ? `<img src="${
      escapeHtml(logo)
    }" alt="${name}" style="max-height:64px;max-width:240px;display:block;margin:0 0 16px">`
    : "";
  const html = `<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head>
<body style="margin:0;padding:0;background:#f5f5f5">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f5f5f5"><tr><td align="center" style="padding:24px 12px">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="max-width:600px;width:100%;background:#ffffff;border-top:4px solid ${color}">
<tr><td style="padding:24px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:1.5;color:#222222">
${header}${email.html}
</td></tr>
<tr><td style="padding:16px 24px;font-family:Helvetica,Arial,sans-serif;font-size:12px;color:#777777;border-top:1px solid #eeeeee">
${name} · <a href="${escapeHtml(unsubscribeUrl)}" style="color:${color}">Unsubscribe</a>
</td></tr>
</table></td></tr></table>
</body></html>`;
  const text = `${email.text}\n\n--\n${supplierName}\nUnsubscribe: ${unsubscribeUrl}`;
  return { subject: email.subject, html, text };
}

// The journey builder's email tools, run as the signed-in user (Row Level Security applies): a preview
// that renders a step for a couple exactly as it would be sent, without sending; and a validation of an
// email step config with field-level errors.
import { z } from "zod";
import type { Sql } from "../../db/client.ts";
import { HttpError, json, parseJson, readRawBody, withErrors } from "../../http/errors.ts";
import { asUser, userClaims } from "../../http/user.ts";
import { type FieldError, fieldErrors, parseOr422 } from "../../http/validate.ts";
import { mailboxDomain } from "../../providers/email/address.ts";
import { EMAIL_PROVIDERS, type EmailProvider } from "../../providers/email/message.ts";
import { safeColor, safeLogoUrl } from "../../render/brand.ts";
import { mergeTags, TemplateError } from "../../render/template.ts";
import { composeEmail, type ComposeInput, mergeValues, STANDARD_TAGS } from "./compose.ts";
import { type EmailStepConfig, emailStepConfig } from "./config.ts";
import { emailIntegrationSettings } from "./routes.ts";

/** What the endpoints need. */
export type BuilderDeps = { sql: Sql; functionsUrl: string; log?: (line: string) => void };

/** Request schema, exported for the fuzz suite's generators. */
export const previewBody = z.strictObject({
  client_id: z.uuid(),
  /** A saved step to preview... */
  step_id: z.uuid().optional(),
  /** ...or a step config being edited. */
  config: z.unknown().optional(),
}).refine((b) => (b.step_id === undefined) !== (b.config === undefined), {
  message: "give either step_id or config",
  path: ["step_id"],
});

/** Request schema, exported for the fuzz suite's generators. */
export const validateBody = z.strictObject({
  supplier_id: z.uuid(),
  config: z.unknown(),
  /** Optionally, a couple whose values every merge tag must resolve for. */
  client_id: z.uuid().optional(),
});

type Couple = ComposeInput["couple"] & { supplier_id: string; email: string | null };
type Supplier = {
  id: string;
  name: string;
  brand: Record<string, unknown>;
  email_from: string | null;
  reply_to: string | null;
};
type Template = { subject: string; html: string; text: string | null };

async function loadCouple(tx: Sql, clientId: string): Promise<Couple | undefined> {
  const [row] = await tx<Couple[]>`
    select supplier_id, couple_name, email, wedding_date::text as wedding_date, locale, venue, custom
    from public.clients where id = ${clientId}::uuid`;
  return row;
}

async function loadSupplier(tx: Sql, supplierId: string): Promise<Supplier | undefined> {
  const [row] = await tx<Supplier[]>`
    select id, name, brand, email_from, reply_to from public.suppliers where id = ${supplierId}::uuid`;
  return row;
}

async function loadTemplate(tx: Sql, supplierId: string, key: string): Promise<Template | undefined> {
  const [row] = await tx<Template[]>`
    select subject, html, text from public.email_templates
    where supplier_id = ${supplierId}::uuid and key = ${key}`;
  return row;
}

const previewLink = (functionsUrl: string) => `${functionsUrl}/email-unsubscribe?token=preview`;

/** `POST /email-preview {client_id, step_id | config}`: the email as the couple would get it. */
export function emailPreviewHandler(deps: BuilderDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const claims = userClaims(req);
    const body = parseOr422(previewBody, parseJson(await readRawBody(req)), "preview request");
    return await asUser(deps.sql, claims, async (tx) => {
      const couple = await loadCouple(tx, body.client_id);
      if (!couple) throw new HttpError(404, "client_not_found", `Couple ${body.client_id} not found`);
      let rawConfig = body.config;
      if (body.step_id) {
        const [step] = await tx<{ config: unknown; module_type: string; supplier_id: string }[]>`
          select config, module_type::text, supplier_id from public.journey_steps where id = ${body.step_id}::uuid`;
        if (!step || step.supplier_id !== couple.supplier_id) {
          throw new HttpError(404, "step_not_found", `Step ${body.step_id} not found`);
        }
        if (step.module_type !== "email") {
          throw new HttpError(422, "not_an_email_step", `Step ${body.step_id} is a ${step.module_type} step`);
        }
        rawConfig = step.config;
      }
      const config = parseOr422(emailStepConfig, rawConfig, "email step config");
      const supplier = (await loadSupplier(tx, couple.supplier_id))!;
      const template = await loadTemplate(tx, supplier.id, config.template);
      if (!template) {
        throw new HttpError(422, "template_not_found", `Template "${config.template}" not found`, [
          { path: "config.template", message: "no such template" },
        ]);
      }
      try {
        const email = composeEmail(
          composeInput(config, couple, supplier, template, previewLink(deps.functionsUrl)),
        );
        return json({
          from: supplier.email_from,
          reply_to: supplier.reply_to,
          to: couple.email,
          ...email,
        });
      } catch (error) {
        if (!(error instanceof TemplateError)) throw error;
        throw new HttpError(422, "missing_merge_tags", error.message, { missing: error.missing });
      }
    });
  }, deps.log);
}

function composeInput(
  config: EmailStepConfig,
  couple: ComposeInput["couple"],
  supplier: Supplier,
  template: Template,
  unsubscribeUrl: string,
): ComposeInput {
  return {
    templateKey: config.template,
    template,
    couple,
    supplier: { name: supplier.name, brand: supplier.brand },
    stepCustom: config.custom,
    unsubscribeUrl,
  };
}

type IntegrationRow = { provider: EmailProvider; settings: Record<string, unknown>; has_secret: boolean };

/** Sender-domain problems of one connected provider. */
function senderDomainErrors(row: IntegrationRow, fromDomain: string): FieldError[] {
  const path = `providers.${row.provider}.settings`;
  const settings = row.settings as { domain?: string; sender_domains?: string[] };
  if (row.provider === "mailgun") {
    const domain = settings.domain?.toLowerCase();
    return domain &&
        (fromDomain === domain || fromDomain.endsWith(`.${domain}`) || domain.endsWith(`.${fromDomain}`))
      ? []
      : [{
        path: `${path}.domain`,
        message: `the sender's domain ${fromDomain} is not the Mailgun domain ${domain}`,
      }];
  }
  const domains = (settings.sender_domains ?? []).map((d) => d.toLowerCase());
  if (domains.length === 0) {
    return [{
      path: `${path}.sender_domains`,
      message: `list the domains verified at ${row.provider} (${fromDomain} is the sender's)`,
    }];
  }
  return domains.includes(fromDomain) ? [] : [{
    path: `${path}.sender_domains`,
    message: `${fromDomain} is not among the domains verified at ${row.provider}`,
  }];
}

/**
 * `POST /email-validate {supplier_id, config, client_id?}`: `{valid, errors, warnings}` with field paths:
 * the config itself, the template, connected providers and their settings, the sender and its domain,
 * the branding, and the merge tags (for a given couple, their values).
 */
export function emailValidateHandler(deps: BuilderDeps): (req: Request) => Promise<Response> {
  return withErrors(async (req) => {
    if (req.method !== "POST") throw new HttpError(405, "method_not_allowed", "Use POST");
    const claims = userClaims(req);
    const body = parseOr422(validateBody, parseJson(await readRawBody(req)), "validation request");
    return await asUser(deps.sql, claims, async (tx) => {
      const supplier = await loadSupplier(tx, body.supplier_id);
      if (!supplier) throw new HttpError(404, "supplier_not_found", `Supplier ${body.supplier_id} not found`);
      const errors: FieldError[] = [];
      const warnings: FieldError[] = [];

      const parsed = emailStepConfig.safeParse(body.config);
      if (!parsed.success) {
        errors.push(...fieldErrors(parsed.error).map((e) => ({ ...e, path: `config.${e.path}` })));
      }
      const config = parsed.success ? parsed.data : undefined;

      const integrations = await tx<IntegrationRow[]>`
        select provider, settings, secret_id is not null as has_secret from public.supplier_integrations
        where supplier_id = ${supplier.id}::uuid and provider = any(${EMAIL_PROVIDERS as unknown as string[]})
          and status <> 'disconnected'
        order by priority, provider`;
      const usable = integrations.filter((row) => {
        const settings = emailIntegrationSettings[row.provider].safeParse(row.settings);
        if (!settings.success) {
          errors.push(
            ...fieldErrors(settings.error).map((e) => ({
              ...e,
              path: `providers.${row.provider}.settings.${e.path}`,
            })),
          );
        }
        if (!row.has_secret) {
          errors.push({ path: `providers.${row.provider}`, message: "has no credentials in Vault" });
        }
        return settings.success && row.has_secret;
      });
      if (integrations.length === 0) {
        errors.push({
          path: "providers",
          message: "no email provider (Resend, SendGrid, Mailgun) is connected",
        });
      }

      const from = supplier.email_from ??
        usable.map((r) => r.settings.from as string | undefined).find(Boolean);
      const fromDomain = from ? mailboxDomain(from) : null;
      if (!fromDomain) {
        errors.push({ path: "supplier.email_from", message: "the supplier has no sender address" });
      } else {
        for (const row of usable) errors.push(...senderDomainErrors(row, fromDomain));
      }
      if (supplier.brand.primary_color !== undefined && !safeColor(supplier.brand.primary_color)) {
        warnings.push({
          path: "supplier.brand.primary_color",
          message: "is not a #rgb or #rrggbb colour; it is ignored",
        });
      }
      if (supplier.brand.logo_url !== undefined && !safeLogoUrl(supplier.brand.logo_url)) {
        warnings.push({ path: "supplier.brand.logo_url", message: "is not an https URL; it is ignored" });
      }

      const template = config ? await loadTemplate(tx, supplier.id, config.template) : undefined;
      if (config && !template) {
        errors.push({ path: "config.template", message: `template "${config.template}" does not exist` });
      }
      if (config && template) {
        const couple = body.client_id ? await loadCouple(tx, body.client_id) : undefined;
        if (body.client_id && (!couple || couple.supplier_id !== supplier.id)) {
          errors.push({ path: "client_id", message: "no such couple for this supplier" });
        }
        const values = couple
          ? mergeValues(composeInput(config, couple, supplier, template, previewLink(deps.functionsUrl)))
          : undefined;
        for (const tag of mergeTags(template)) {
          if (tag.startsWith("custom.")) {
            const name = tag.slice("custom.".length);
            if (!values && !(name in config.custom)) {
              warnings.push({
                path: "config.custom",
                message: `{{${tag}}} needs a value on every couple (or here)`,
              });
            }
          } else if (!(STANDARD_TAGS as readonly string[]).includes(tag)) {
            errors.push({ path: "config.template", message: `unknown merge tag {{${tag}}}` });
            continue;
          }
          if (values && !values[tag]) {
            errors.push({ path: `client.${tag}`, message: `the couple has no value for {{${tag}}}` });
          }
        }
      }
      return json({ valid: errors.length === 0, errors, warnings });
    });
  }, deps.log);
}

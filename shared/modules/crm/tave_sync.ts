// One CRM event synced to Tave / VSCO Workspace: find or create the couple's lead (looked up by email
// first: Tave has no idempotency keys), then update the contact, the job's stage and notes.
import type { Sql } from "../../db/client.ts";
import { type TaveAccount, TaveClient } from "../../providers/crm/tave.ts";
import type { ProviderFailure } from "../../providers/http.ts";
import { accountBucket, rateLimitedAttempt, takeRateLimits } from "../../providers/rate.ts";
import { outcomeOf } from "../../providers/result.ts";
import { escapeHtml } from "../../render/template.ts";
import { type Attempt, done } from "../../runs/types.ts";
import { coupleValue, type TaveSettings } from "./config.ts";
import { type CrmContext, saveCrmLink } from "./context.ts";

/** Where a mapped Tave field is written by the v2 API, when it is: contact or job, and the property. */
const V2_FIELDS: Record<string, ["contact" | "job", string]> = {
  FirstName: ["contact", "firstName"],
  LastName: ["contact", "lastName"],
  Email: ["contact", "email"],
  MobilePhone: ["contact", "cellPhone"],
  EventDate: ["job", "eventDate"],
  BookingDate: ["job", "bookingDate"],
};

/** Only the v2 API writes these; the New Lead API has no field for them. */
const NOT_ON_LEADS = new Set(["BookingDate"]);

/** The New Lead API fields of a couple: the mapped ones only, plus the studio's lead settings. */
export function leadFields(ctx: CrmContext, settings: TaveSettings): Record<string, string> {
  const fields: Record<string, string> = { JobType: settings.job_type };
  if (settings.brand) fields.Brand = settings.brand;
  if (settings.source) fields.Source = settings.source;
  if (settings.job_role) fields.JobRole = settings.job_role;
  for (const [field, name] of Object.entries(settings.field_map)) {
    const value = coupleValue(ctx, field);
    if (value !== null && value !== "" && !NOT_ON_LEADS.has(name)) fields[name] = value;
  }
  return fields;
}

/** The v2 changes of a couple update: only fields that changed and are mapped. */
function updatePatches(ctx: CrmContext, settings: TaveSettings) {
  const contact: Record<string, unknown> = {};
  const job: Record<string, unknown> = {};
  for (const field of ctx.changes) {
    const target = V2_FIELDS[settings.field_map[field] ?? ""];
    if (!target) continue;
    const value = coupleValue(ctx, field);
    const [kind, property] = target;
    (kind === "contact" ? contact : job)[property] = property === "cellPhone"
      ? (value ? { e164: value } : null)
      : value;
  }
  return { contact, job };
}

function noteHtml(ctx: CrmContext): string {
  const journey = escapeHtml(ctx.journey_name ?? "journey");
  return ctx.event_type === "step.completed"
    ? `<p>${journey}: step ${ctx.step_position} (${escapeHtml(ctx.step_module ?? "")}) completed.</p>`
    : `<p>${journey} completed.</p>`;
}

/** Wants a note on the job: step and journey completions, when the studio asks for notes. */
const wantsNote = (ctx: CrmContext, settings: TaveSettings) =>
  settings.notes && (ctx.event_type === "step.completed" || ctx.event_type === "journey.completed");

/**
 * The most Tave requests one sync of `ctx` makes: the look-ups and the lead while the couple is not
 * linked yet (find, create, find, newest job), a read and a write per record changed, a list and a
 * create for a note. Taken from the studio's bucket before the first.
 */
export function taveRequests(ctx: CrmContext, settings: TaveSettings): number {
  const { contact, job } = ctx.event_type === "couple.updated"
    ? updatePatches(ctx, settings)
    : { contact: {}, job: {} };
  const linked = ctx.contact_id !== null && ctx.job_id !== null;
  return (linked ? 0 : 4) + (Object.keys(contact).length > 0 ? 2 : 0) +
    (Object.keys(job).length > 0 || settings.stages[ctx.event_type] ? 2 : 0) +
    (wantsNote(ctx, settings) ? 2 : 0);
}

/** Syncs one event to Tave, at the rate of the integration's account. */
export async function syncToTave(
  deps: { sql: Sql; now?: () => Date },
  ctx: CrmContext,
  settings: TaveSettings,
  account: TaveAccount,
): Promise<Attempt> {
  const sql = deps.sql;
  const bucket = accountBucket("tave", ctx.integration_id!, taveRequests(ctx, settings));
  const limited = await takeRateLimits(deps, [bucket], "Tave request rate of the studio");
  if (limited) return done(limited);
  const tave = new TaveClient(account);
  const ids = { contact_id: ctx.contact_id, job_id: ctx.job_id, lead_job_id: ctx.lead_job_id };
  const actions: string[] = [];
  const end = (attempt: Attempt["outcome"]): Attempt => done(attempt, tave.calls);
  // A lost answer to a creation is safe to replay only when a look-up can find what it created.
  const failed = async (f: ProviderFailure, replaySafe = true) =>
    await rateLimitedAttempt(deps, [bucket], f, tave.calls) ??
      end(outcomeOf(f, { provider: "tave" }, replaySafe && ctx.email !== null));

  let leadCreated = false;
  if (!ids.contact_id || !ids.job_id) {
    if (!ids.contact_id && ctx.email) {
      const found = await tave.findContactByEmail(ctx.email);
      if (!found.ok) return await failed(found);
      ids.contact_id = found.value;
    }
    if (!ids.contact_id && !ids.lead_job_id) {
      const lead = await tave.createLead(leadFields(ctx, settings));
      if (!lead.ok) return await failed(lead);
      leadCreated = true;
      actions.push("lead.created");
      ids.lead_job_id = lead.value;
      // Recorded at once: whatever happens next, this couple's lead is never created again.
      await saveCrmLink(sql, ctx, ids);
      if (ctx.email) {
        const created = await tave.findContactByEmail(ctx.email);
        if (created.ok) ids.contact_id = created.value;
      }
    }
    if (ids.contact_id && !ids.job_id) {
      const job = await tave.newestJobOf(ids.contact_id);
      if (job.ok) ids.job_id = job.value;
      else if (!leadCreated) return await failed(job);
    }
    if (ids.contact_id) actions.push(leadCreated ? "contact.resolved" : "contact.linked");
    await saveCrmLink(sql, ctx, ids);
  }

  const { contact, job } = ctx.event_type === "couple.updated" && !leadCreated
    ? updatePatches(ctx, settings)
    : { contact: {}, job: {} };
  const stage = settings.stages[ctx.event_type];
  if (stage) job.stage = stage;
  const note = wantsNote(ctx, settings);

  const missing = (Object.keys(contact).length > 0 && !ids.contact_id) ||
    ((Object.keys(job).length > 0 || note) && !ids.job_id);
  if (missing && !leadCreated) {
    return end({
      kind: "skipped",
      error: {
        code: "tave_record_unknown",
        message: ctx.email
          ? "The couple's Tave contact or job is not known yet"
          : "The couple has no email, so its Tave contact cannot be looked up",
      },
    });
  }
  if (Object.keys(contact).length > 0 && ids.contact_id) {
    const r = await tave.updateContact(ids.contact_id, contact);
    if (!r.ok) return await failed(r);
    actions.push("contact.updated");
  }
  if (Object.keys(job).length > 0 && ids.job_id) {
    const r = await tave.updateJob(ids.job_id, job);
    if (!r.ok) return await failed(r);
    actions.push(stage ? `job.stage:${stage}` : "job.updated");
  }
  if (note && ids.job_id) {
    const r = await tave.addNote(ids.job_id, noteHtml(ctx), `journeys-event:${ctx.event_id}`);
    if (!r.ok) return await failed(r);
    if (r.value) actions.push("note.added");
  }
  return end({
    kind: "succeeded",
    provider: "tave",
    provider_message_id: ids.job_id ?? ids.lead_job_id ?? ids.contact_id ?? undefined,
    result: { ...ids, actions },
  });
}

// What one CRM run needs (the event, the couple as it is now, the journey, the target's settings and the
// couple's known CRM ids), loaded for a whole batch in one query.
import type { Sql } from "../../db/client.ts";
import { pgArray } from "../../db/client.ts";
import type { Couple, CrmEventType } from "./config.ts";

/** One CRM run's context: the couple as it is now, and the rest. */
export type CrmContext = Couple & {
  run_id: number;
  supplier_id: string;
  /** The integration provider the run delivers to: `tave` or `crm_webhooks`. */
  target: string;
  event_id: string;
  event_type: CrmEventType;
  changes: string[];
  occurred_at: Date;
  client_id: string;
  journey_instance_id: string | null;
  journey_id: string | null;
  journey_name: string | null;
  journey_status: "active" | "completed" | "cancelled" | null;
  step_id: string | null;
  step_position: number | null;
  step_module: string | null;
  settings: unknown;
  secret_id: string | null;
  integration_status: string | null;
  integration_id: string | null;
  integration_status_reason: string | null;
  integration_status_since: string | null;
  contact_id: string | null;
  job_id: string | null;
  lead_job_id: string | null;
  /** An earlier run for the same couple and target, outside this batch, is still pending or running. */
  blocked: boolean;
};

/** Loads the contexts of a batch of crm runs. */
export async function loadCrmContexts(sql: Sql, ids: number[]): Promise<Map<number, CrmContext>> {
  const rows = await sql<CrmContext[]>`
    select r.id::int as run_id, r.supplier_id, r.provider as target,
      e.id as event_id, e.event_type, e.changes, e.occurred_at, e.client_id,
      c.couple_name, c.email, c.phone, c.wedding_date::text as wedding_date,
      c.booking_date::text as booking_date, c.venue, c.custom,
      e.journey_instance_id, i.journey_id, j.name as journey_name,
      -- Webhook v1 knows active, completed and cancelled: a paused journey is still under way.
      case i.status when 'paused' then 'active' else i.status::text end as journey_status,
      e.step_id, st.position as step_position, st.module_type::text as step_module,
      si.settings, si.secret_id::text as secret_id, si.status as integration_status,
      si.id::text as integration_id, si.status_reason as integration_status_reason,
      si.status_since::text as integration_status_since,
      l.contact_id, l.job_id, l.lead_job_id,
      exists (
        select 1 from public.module_runs r2
        join public.crm_events e2 on e2.id = r2.crm_event_id
        where e2.client_id = e.client_id and r2.provider = r.provider and r2.id < r.id
          and r2.status in ('pending', 'running') and r2.id <> all(${pgArray(ids)}::bigint[])
      ) as blocked
    from public.module_runs r
    join public.crm_events e on e.id = r.crm_event_id
    join public.clients c on c.id = e.client_id
    left join public.journey_instances i on i.id = e.journey_instance_id
    left join public.journeys j on j.id = i.journey_id
    left join public.journey_steps st on st.id = e.step_id
    left join public.supplier_integrations si on si.supplier_id = r.supplier_id and si.provider = r.provider
    left join public.crm_links l on l.client_id = e.client_id and l.provider = r.provider
    where r.id = any(${pgArray(ids)}::bigint[])`;
  return new Map(rows.map((row) => [row.run_id, row]));
}

/** Records a couple's CRM ids as they become known (public.upsert_crm_link). */
export async function saveCrmLink(
  sql: Sql,
  ctx: CrmContext,
  ids: { contact_id: string | null; job_id: string | null; lead_job_id: string | null },
): Promise<void> {
  await sql`select public.upsert_crm_link(${ctx.client_id}::uuid, ${ctx.target}, ${ids.contact_id},
    ${ids.job_id}, ${ids.lead_job_id})`;
}

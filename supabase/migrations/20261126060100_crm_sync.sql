-- CRM sync: journey events and couple changes become `crm` module runs, one per CRM target a vendor has
-- connected (Tave / VSCO Workspace, signed outbound webhooks), executed by the crm-sync function through
-- the same claim / record pipeline as every module. Changes a CRM pushes back are applied with their
-- origin, so they are not synced back to that CRM (echo suppression).

-- Runs -------------------------------------------------------------------------------------------

-- A CRM run belongs to an event, not to a journey step (a couple's update has no journey at all), so it
-- has no step: it never advances a journey nor counts as a step's visit in plan_runs.
alter table public.module_runs
  alter column journey_instance_id drop not null,
  alter column step_id drop not null;

create table public.crm_events (
  id uuid primary key default gen_random_uuid(),
  supplier_id uuid not null references public.suppliers on delete cascade,
  client_id uuid not null,
  event_type text not null
    check (event_type in ('journey.started', 'step.completed', 'couple.updated', 'journey.completed')),
  journey_instance_id uuid references public.journey_instances on delete cascade,
  step_id uuid references public.journey_steps on delete set null,
  changes text[] not null default '{}',
  origin text,
  occurred_at timestamptz not null default now(),
  foreign key (client_id, supplier_id) references public.clients (id, supplier_id) on delete cascade
);
comment on table public.crm_events is
  'What happened to a couple that CRMs hear about; each event has one crm module run per CRM target.';
comment on column public.crm_events.changes is 'couple.updated: the fields that changed (custom values as custom.<key>).';
comment on column public.crm_events.origin is
  'The CRM a change came from (tave, honeybook, dubsado, studio_ninja, other); null when made on the platform.';
create index crm_events_client on public.crm_events (client_id);
create index crm_events_supplier on public.crm_events (supplier_id, occurred_at);

alter table public.module_runs add column crm_event_id uuid references public.crm_events on delete cascade;
comment on column public.module_runs.crm_event_id is 'For crm runs: the event synced; module_runs.provider is the target.';
create index module_runs_crm_event on public.module_runs (crm_event_id) where crm_event_id is not null;

-- A module's own jobs (meeting timeline syncs, booking follow-ups) have no step; every non-crm run has a journey.
alter table public.module_runs add constraint module_runs_kind_fits
  check (case when module_type = 'crm' then crm_event_id is not null and step_id is null
              else journey_instance_id is not null end);
-- CRM sync is not a step a journey builder can add.
alter table public.journey_steps add constraint journey_steps_not_crm check (module_type <> 'crm');

insert into public.dispatch_state (module_type) values ('crm') on conflict do nothing;

create table public.crm_links (
  client_id uuid not null,
  supplier_id uuid not null references public.suppliers on delete cascade,
  provider text not null,
  contact_id text,
  job_id text,
  lead_job_id text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (client_id, provider),
  foreign key (client_id, supplier_id) references public.clients (id, supplier_id) on delete cascade
);
comment on table public.crm_links is
  'Which CRM records a couple is: the contact and job ids, and the job id of a lead this platform created '
  '(there are no idempotency keys: a lead is created once, after looking the contact up by email).';



-- Targets and fan-out ----------------------------------------------------------------------------------

create function public.crm_targets(p_supplier_ids uuid[])
returns table (supplier_id uuid, target text, crm text, events jsonb, field_map jsonb)
language plpgsql stable
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
begin
  -- PL/pgSQL, so the plan is cached per session: a SQL function with a SET clause cannot be inlined and
  -- was planned again on every transition that asked it.
  return query
  select si.supplier_id, si.provider,
    case si.provider when 'tave' then 'tave' else coalesce(si.settings ->> 'crm', 'other') end,
    si.settings -> 'events', coalesce(si.settings -> 'field_map', '{}')
  from public.supplier_integrations si
  -- Whatever its health: events for a disconnected CRM are held by the sync, not lost.
  where si.supplier_id = any (p_supplier_ids)
    -- A webhooks integration without an endpoint only receives (inbound webhook).
    and (si.provider = 'tave' or (si.provider = 'crm_webhooks' and si.settings ? 'url'));
end
$$;
comment on function public.crm_targets(uuid[]) is
  'The CRM targets of suppliers (whatever their health): the target (integration provider), the CRM it reaches, the '
  'events it wants (null: all) and its field map.';

create function public.on_crm_events_inserted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- One run per event and target. Echo suppression: a change that came from a CRM skips that CRM. A
  -- couple update reaches a target only when a field it maps changed: only mapped fields leave.
  -- 16 attempts: with the pipeline's backoff (5 s doubling, capped at 1 h) a receiver may be down for
  -- about six hours before the delivery is dead.
  insert into public.module_runs (
    supplier_id, journey_instance_id, module_type, run_at, idempotency_key, provider, max_attempts, crm_event_id
  )
  select e.supplier_id, null, 'crm', now(), format('crm:%s:%s', e.id, t.target), t.target, 16, e.id
  from new_rows e
  join public.crm_targets(array(select distinct supplier_id from new_rows)) t on t.supplier_id = e.supplier_id
  where t.crm is distinct from e.origin
    and (jsonb_typeof(t.events) is distinct from 'array' or t.events ? e.event_type)
    and (e.event_type <> 'couple.updated' or e.changes && array(select jsonb_object_keys(t.field_map)))
  order by e.occurred_at
  on conflict (idempotency_key) do nothing;
  return null;
end
$$;

create trigger crm_events_20_fan_out after insert on public.crm_events
  referencing new table as new_rows
  for each statement execute function public.on_crm_events_inserted();

-- Journey events --------------------------------------------------------------------------------------

create function public.on_journey_instances_started_crm() returns trigger
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  v_suppliers uuid[];
begin
  -- Most suppliers have no CRM: insert nothing then, since even an empty insert fires crm_events' fan-out
  -- trigger and module_runs' statement triggers (about 1 ms per transition).
  v_suppliers := array(
    select t.supplier_id from public.crm_targets(array(select distinct supplier_id from new_rows)) t);
  if cardinality(v_suppliers) = 0 then
    return null;
  end if;
  insert into public.crm_events (supplier_id, client_id, event_type, journey_instance_id, occurred_at)
  select n.supplier_id, n.client_id, 'journey.started', n.id, n.started_at
  from new_rows n
  where n.supplier_id = any (v_suppliers);
  return null;
end
$$;

create function public.on_journey_instances_moved_crm() returns trigger
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  v_suppliers uuid[];
begin
  v_suppliers := array(
    select t.supplier_id from public.crm_targets(array(select distinct supplier_id from new_rows)) t);
  if cardinality(v_suppliers) = 0 then
    return null;
  end if;
  -- A step is complete when the instance leaves it, or completes on it (the last step stays current).
  insert into public.crm_events (supplier_id, client_id, event_type, journey_instance_id, step_id)
  select n.supplier_id, n.client_id, 'step.completed', n.id, o.current_step_id
  from new_rows n join old_rows o on o.id = n.id
  where o.current_step_id is not null and o.status = 'active'
    and (n.current_step_id is distinct from o.current_step_id or n.status = 'completed')
    and n.supplier_id = any (v_suppliers);
  -- A separate statement, so the completion is queued after the step it follows.
  insert into public.crm_events (supplier_id, client_id, event_type, journey_instance_id)
  select n.supplier_id, n.client_id, 'journey.completed', n.id
  from new_rows n join old_rows o on o.id = n.id
  where n.status = 'completed' and o.status <> 'completed'
    and n.supplier_id = any (v_suppliers);
  return null;
end
$$;

create trigger journey_instances_30_crm_started after insert on public.journey_instances
  referencing new table as new_rows
  for each statement execute function public.on_journey_instances_started_crm();
create trigger journey_instances_30_crm_moved after update on public.journey_instances
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.on_journey_instances_moved_crm();

-- Couple updates ---------------------------------------------------------------------------------------

create function public.on_client_changed_crm() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_changes text[];
begin
  if not exists (select 1 from public.crm_targets(array[new.supplier_id])) then
    return null;
  end if;
  v_changes := array_remove(array[
    case when new.couple_name is distinct from old.couple_name then 'couple_name' end,
    case when new.email is distinct from old.email then 'email' end,
    case when new.phone is distinct from old.phone then 'phone' end,
    case when new.wedding_date is distinct from old.wedding_date then 'wedding_date' end,
    case when new.booking_date is distinct from old.booking_date then 'booking_date' end,
    case when new.venue is distinct from old.venue then 'venue' end
  ], null) || array(
    select 'custom.' || k from jsonb_object_keys(old.custom || new.custom) k
    where new.custom -> k is distinct from old.custom -> k
    order by k
  );
  insert into public.crm_events (supplier_id, client_id, event_type, changes, origin)
  values (new.supplier_id, new.id, 'couple.updated', v_changes,
    nullif(current_setting('journeys.crm_origin', true), ''));
  return null;
end
$$;
comment on function public.on_client_changed_crm() is
  'Queues couple.updated for the CRM targets, with the changed fields and the change''s origin (the '
  'transaction setting journeys.crm_origin, set by apply_crm_change).';

create trigger clients_30_crm_sync after update on public.clients
  for each row
  when ((old.couple_name, old.email, old.phone, old.wedding_date, old.booking_date, old.venue, old.custom)
        is distinct from
        (new.couple_name, new.email, new.phone, new.wedding_date, new.booking_date, new.venue, new.custom))
  execute function public.on_client_changed_crm();

-- Changes from CRMs ------------------------------------------------------------------------------------

create function public.apply_crm_change(
  p_supplier_id uuid,
  p_origin text,
  p_event_id text,
  p_event_type text,
  p_client_id uuid,
  p_email text,
  p_fields jsonb
) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_ids uuid[];
  v_before public.clients;
  v_after public.clients;
  v_today date;
begin
  select array_agg(c.id) into v_ids from public.clients c
  where c.supplier_id = p_supplier_id
    and (c.id = p_client_id or (p_client_id is null and lower(c.email) = lower(p_email)));
  if v_ids is null then
    return jsonb_build_object('result', 'not_found');
  end if;
  if cardinality(v_ids) > 1 then
    return jsonb_build_object('result', 'ambiguous', 'matches', cardinality(v_ids));
  end if;
  if p_event_id is not null then
    insert into public.webhook_events (provider, event_id, event_type, supplier_id, payload, processed_at)
    values ('crm_inbound', p_supplier_id || ':' || p_event_id, p_event_type, p_supplier_id,
      jsonb_build_object('client_id', v_ids[1], 'origin', p_origin), now())
    on conflict (provider, event_id) do nothing;
    if not found then
      return jsonb_build_object('result', 'duplicate', 'client_id', v_ids[1]);
    end if;
  end if;

  select * into v_before from public.clients where id = v_ids[1] for update;
  if p_event_type = 'project.booked' and not p_fields ? 'booking_date' then
    select (now() at time zone s.time_zone)::date into v_today from public.suppliers s where s.id = p_supplier_id;
    p_fields := p_fields || jsonb_build_object('booking_date', v_today);
  end if;
  -- The origin marks this transaction's couple update, so the change is not sent back to its CRM.
  perform set_config('journeys.crm_origin', p_origin, true);
  update public.clients c set
    couple_name = case when p_fields ? 'couple_name' then p_fields ->> 'couple_name' else c.couple_name end,
    email = case when p_fields ? 'email' then p_fields ->> 'email' else c.email end,
    phone = case when p_fields ? 'phone' then p_fields ->> 'phone' else c.phone end,
    wedding_date = case when p_fields ? 'wedding_date' then (p_fields ->> 'wedding_date')::date else c.wedding_date end,
    booking_date = case when p_fields ? 'booking_date' then (p_fields ->> 'booking_date')::date else c.booking_date end,
    venue = case when p_fields ? 'venue' then p_fields ->> 'venue' else c.venue end,
    custom = c.custom || coalesce(p_fields -> 'custom', '{}'),
    updated_at = now()
  where c.id = v_ids[1]
  returning * into v_after;
  perform set_config('journeys.crm_origin', '', true);

  -- A booking cancelled in the CRM ends the couple's journeys and their pending sends.
  if p_event_type = 'project.cancelled' then
    return jsonb_build_object('result', 'cancelled', 'client_id', v_ids[1])
      || public.cancel_client_journeys(p_supplier_id, v_ids[1], 'booking_cancelled',
           format('the booking was cancelled in %s', p_origin));
  end if;

  return jsonb_build_object(
    'result', case when (v_before.couple_name, v_before.email, v_before.phone, v_before.wedding_date,
                         v_before.booking_date, v_before.venue, v_before.custom)
                        is not distinct from
                        (v_after.couple_name, v_after.email, v_after.phone, v_after.wedding_date,
                         v_after.booking_date, v_after.venue, v_after.custom)
                   then 'unchanged' else 'updated' end,
    'client_id', v_ids[1]);
end
$$;
comment on function public.apply_crm_change(uuid, text, text, text, uuid, text, jsonb) is
  'Applies a couple change a CRM pushed (inbound webhook): finds the couple by id or email, deduplicates '
  'on the event id, updates the given fields with the origin set (echo suppression). A new wedding date '
  're-plans the anchored runs (clients_20_replan); project.cancelled cancels the couple''s journeys and their '
  'pending sends (cancel_client_journeys). Returns {result: updated|unchanged|cancelled|duplicate|not_found|ambiguous}.';

create function public.upsert_crm_link(
  p_client_id uuid, p_provider text, p_contact_id text, p_job_id text, p_lead_job_id text
) returns void
language sql security definer
set search_path = ''
as $$
  insert into public.crm_links (client_id, supplier_id, provider, contact_id, job_id, lead_job_id)
  select c.id, c.supplier_id, p_provider, p_contact_id, p_job_id, p_lead_job_id
  from public.clients c where c.id = p_client_id
  on conflict (client_id, provider) do update set
    contact_id = coalesce(excluded.contact_id, public.crm_links.contact_id),
    job_id = coalesce(excluded.job_id, public.crm_links.job_id),
    lead_job_id = coalesce(excluded.lead_job_id, public.crm_links.lead_job_id),
    updated_at = now()
$$;
comment on function public.upsert_crm_link(uuid, text, text, text, text) is
  'Records the CRM ids of a couple as they become known; a null never erases a known id.';

create function public.crm_inbound_url(p_supplier_id uuid) returns text
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_url text;
  v_secret text;
begin
  select decrypted_secret into v_url from vault.decrypted_secrets where name = 'project_url';
  select d.decrypted_secret::jsonb ->> 'inbound_secret' into v_secret
  from public.supplier_integrations si join vault.decrypted_secrets d on d.id = si.secret_id
  where si.supplier_id = p_supplier_id and si.provider = 'crm_webhooks';
  if v_url is null or v_secret is null then
    raise exception 'Cannot build the CRM inbound URL of supplier %: project_url or the inbound_secret is missing', p_supplier_id;
  end if;
  return format('%s/functions/v1/crm-inbound?supplier=%s&token=%s', rtrim(v_url, '/'), p_supplier_id,
    rtrim(translate(encode(extensions.hmac(convert_to('crm-inbound:' || p_supplier_id, 'utf8'),
      convert_to(v_secret, 'utf8'), 'sha256'), 'base64'), E'+/\n', '-_'), '='));
end
$$;
comment on function public.crm_inbound_url(uuid) is
  'The inbound webhook URL to give a vendor''s automations: its token is base64url(HMAC-SHA256('
  'inbound_secret, ''crm-inbound:'' || supplier id)); rotating inbound_secret revokes it.';

-- The delivery log ---------------------------------------------------------------------------------------

create view public.crm_delivery_log with (security_invoker = true) as
select r.id as run_id, r.supplier_id, e.id as event_id, e.event_type, e.client_id, e.origin,
  r.provider as target, r.status, r.attempts, r.max_attempts, r.run_at, r.provider_message_id,
  r.last_error, e.occurred_at, r.completed_at,
  (select coalesce(jsonb_agg(jsonb_build_object(
      'attempt', c.attempt, 'operation', c.operation, 'http_status', c.http_status,
      'duration_ms', c.duration_ms, 'error_code', c.error_code, 'outcome', c.outcome, 'at', c.created_at)
      order by c.id), '[]')
   from public.integration_calls c where c.run_id = r.id) as calls
from public.module_runs r
join public.crm_events e on e.id = r.crm_event_id;
comment on view public.crm_delivery_log is
  'Every CRM sync and webhook delivery with its attempts (HTTP status, timing, outcome); read with the '
  'caller''s rights, so a vendor''s users see only their own.';

-- Security -----------------------------------------------------------------------------------------------

alter table public.crm_events enable row level security;
alter table public.crm_links enable row level security;
create policy crm_events_member_read on public.crm_events for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy crm_links_member_read on public.crm_links for select to authenticated
  using (public.is_supplier_member(supplier_id));
revoke insert, update, delete on public.crm_events, public.crm_links from anon, authenticated;
revoke all on public.crm_delivery_log from anon;
revoke insert, update, delete on public.crm_delivery_log from authenticated;

revoke execute on function
  public.crm_targets(uuid[]),
  public.on_crm_events_inserted(),
  public.on_journey_instances_started_crm(),
  public.on_journey_instances_moved_crm(),
  public.on_client_changed_crm(),
  public.apply_crm_change(uuid, text, text, text, uuid, text, jsonb),
  public.upsert_crm_link(uuid, text, text, text, text),
  public.crm_inbound_url(uuid)
from public, anon, authenticated;

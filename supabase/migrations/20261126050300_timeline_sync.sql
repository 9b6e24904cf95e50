-- Wedding-timeline sync: the couple's wedding day and the journey's key milestones (date-anchored steps
-- with a `timing.milestone` label) kept as events in the vendor's Google Calendar. Changes (a journey
-- starts or ends, the wedding or booking date moves, the couple is renamed, a milestone step is edited)
-- only enqueue a sync run of the meeting module; module-meeting makes the Google calls, with the
-- pipeline's retries and audit.

-- A run that is not a step execution (a timeline sync, a booking follow-up) has no step: it never
-- advances a journey, is not re-planned with the step's timing and does not count as a visit of a step.
alter table public.module_runs alter column step_id drop not null;
comment on column public.module_runs.step_id is
  'The step this run executes; null for a module''s own jobs (timeline syncs, booking follow-ups), which '
  'never advance the journey.';

create table public.timeline_syncs (
  run_id bigint primary key references public.module_runs on delete cascade,
  supplier_id uuid not null references public.suppliers on delete cascade,
  journey_instance_id uuid not null references public.journey_instances on delete cascade
);
comment on table public.timeline_syncs is
  'Marks the meeting-module runs that sync a journey instance''s timeline to the vendor''s Google Calendar.';
create index timeline_syncs_instance on public.timeline_syncs (journey_instance_id);
create index timeline_syncs_supplier on public.timeline_syncs (supplier_id);

create table public.timeline_events (
  supplier_id uuid not null references public.suppliers on delete cascade,
  event_id text not null,
  calendar_id text not null,
  kind text not null check (kind in ('wedding', 'milestone')),
  client_id uuid not null references public.clients on delete cascade,
  journey_instance_id uuid references public.journey_instances on delete cascade,
  step_id uuid references public.journey_steps on delete set null,
  title text not null,
  event_date date not null,
  synced_at timestamptz not null default now(),
  primary key (supplier_id, event_id),
  check ((kind = 'wedding') = (journey_instance_id is null))
);
comment on table public.timeline_events is
  'The timeline events last written to a vendor''s Google Calendar (ids derived from the couple, instance '
  'and step): a sync deletes the ones no longer wanted. The wedding day is one event per couple.';
create index timeline_events_client on public.timeline_events (client_id);
create index timeline_events_instance on public.timeline_events (journey_instance_id);

alter table public.timeline_syncs enable row level security;
alter table public.timeline_events enable row level security;
create policy timeline_syncs_member_read on public.timeline_syncs for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy timeline_events_member_read on public.timeline_events for select to authenticated
  using (public.is_supplier_member(supplier_id));
revoke insert, update, delete on public.timeline_syncs, public.timeline_events from anon, authenticated;

-- What the calendar should show ----------------------------------------------------------------------

create function public.timeline_of(p_instance_id uuid)
returns table (kind text, key text, step_id uuid, title text, event_date date, location text)
language sql stable security definer
set search_path = ''
as $$
  select 'wedding', format('timeline:%s:wedding', c.id), null::uuid,
    format('Wedding: %s', c.couple_name), c.wedding_date, c.venue
  from public.journey_instances i join public.clients c on c.id = i.client_id
  where i.id = p_instance_id and c.wedding_date is not null
  union all
  -- '-infinity' as the planning instant: the milestone's own date, even once it has passed.
  select 'milestone', format('timeline:%s:%s', i.id, s.id), s.id,
    format('%s: %s', c.couple_name, btrim(s.timing ->> 'milestone')),
    (p.run_at at time zone coalesce(c.time_zone, sp.time_zone))::date, null
  from public.journey_instances i
  join public.clients c on c.id = i.client_id
  join public.suppliers sp on sp.id = i.supplier_id
  join public.journey_steps s on s.journey_id = i.journey_id
  cross join lateral public.step_run_at(s.timing, s.module_type, c, sp.time_zone, '-infinity') p
  where i.id = p_instance_id and i.status <> 'cancelled'
    and s.timing ->> 'anchor' in ('wedding_date', 'booking_date')
    and nullif(btrim(s.timing ->> 'milestone'), '') is not null
    and p.skip_reason is null
$$;
comment on function public.timeline_of(uuid) is
  'The timeline a journey instance puts in the vendor''s calendar: the wedding day (when the couple has a '
  'date) and, unless the journey is cancelled, each date-anchored step labelled timing.milestone, on the '
  'local date the step is planned for. key is what the Google event id is derived from.';

create function public.record_timeline_sync(
  p_supplier_id uuid,
  p_instance_id uuid,
  p_calendar_id text,
  p_synced jsonb,
  p_removed text[]
) returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  delete from public.timeline_events
  where supplier_id = p_supplier_id and event_id = any (coalesce(p_removed, '{}'));
  insert into public.timeline_events (
    supplier_id, event_id, calendar_id, kind, client_id, journey_instance_id, step_id, title, event_date
  )
  select p_supplier_id, e.event_id, p_calendar_id, e.kind, i.client_id,
    case when e.kind = 'milestone' then i.id end, e.step_id, e.title, e.event_date
  from jsonb_to_recordset(p_synced) as e(event_id text, kind text, step_id uuid, title text, event_date date)
  join public.journey_instances i on i.id = p_instance_id
  on conflict (supplier_id, event_id) do update
  set calendar_id = excluded.calendar_id, title = excluded.title, event_date = excluded.event_date,
      step_id = excluded.step_id, synced_at = now();
end
$$;
comment on function public.record_timeline_sync(uuid, uuid, text, jsonb, text[]) is
  'Records what a timeline sync wrote to Google (events upserted) and deleted (event ids).';

-- Enqueueing syncs ------------------------------------------------------------------------------------

create function public.enqueue_timeline_sync(p_instance_ids uuid[]) returns integer
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  v_count integer;
begin
  -- Every batch of outcomes moves instances without changing their cancelled state: nothing to look up.
  if coalesce(cardinality(p_instance_ids), 0) = 0 then
    return 0;
  end if;
  -- Most suppliers have no timeline sync: insert nothing then (an empty insert still fires the statement
  -- triggers of module_runs and timeline_syncs).
  if not exists (
    select 1 from public.journey_instances i
    join public.supplier_integrations g on g.supplier_id = i.supplier_id and g.provider = 'google_calendar'
    where i.id = any (p_instance_ids) and g.settings -> 'timeline_sync' = 'true'::jsonb
  ) then
    return 0;
  end if;
  with due as (
    select i.id, i.supplier_id
    from public.journey_instances i
    join public.supplier_integrations g on g.supplier_id = i.supplier_id and g.provider = 'google_calendar'
    where i.id = any (p_instance_ids)
      and g.settings -> 'timeline_sync' = 'true'::jsonb
      -- A sync still pending reads the couple's data when it runs, so it covers this change too.
      and not exists (
        select 1 from public.timeline_syncs t join public.module_runs r on r.id = t.run_id
        where t.journey_instance_id = i.id and r.status = 'pending'
      )
  ),
  planned as (
    insert into public.module_runs (supplier_id, journey_instance_id, step_id, module_type, run_at, idempotency_key)
    select supplier_id, id, null, 'meeting', now(), format('%s:timeline:%s', id, gen_random_uuid())
    from due
    returning id, supplier_id, journey_instance_id
  )
  insert into public.timeline_syncs (run_id, supplier_id, journey_instance_id)
  select id, supplier_id, journey_instance_id from planned;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;
comment on function public.enqueue_timeline_sync(uuid[]) is
  'Enqueues a timeline sync run (due now) for each given journey instance whose supplier has timeline sync '
  'on, unless one is already pending. Returns how many were enqueued.';

create function public.set_timeline_sync(p_supplier_id uuid, p_enabled boolean, p_calendar_id text default null)
returns integer
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.supplier_integrations
  set settings = settings || jsonb_build_object('timeline_sync', p_enabled)
        || case when p_calendar_id is null then '{}'::jsonb
             else jsonb_build_object('timeline_calendar_id', p_calendar_id) end,
      updated_at = now()
  where supplier_id = p_supplier_id and provider = 'google_calendar';
  if not found then
    raise exception 'Cannot change timeline sync: Google Calendar is not connected for supplier %', p_supplier_id
      using errcode = 'P0002';
  end if;
  if not p_enabled then
    return 0;
  end if;
  return public.enqueue_timeline_sync(array(
    select id from public.journey_instances where supplier_id = p_supplier_id and status <> 'cancelled'));
end
$$;
comment on function public.set_timeline_sync(uuid, boolean, text) is
  'Turns a supplier''s wedding-timeline sync on (enqueueing a sync of every journey that is not cancelled) '
  'or off (events already written stay). Returns how many syncs were enqueued.';

create function public.on_clients_timeline_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform public.enqueue_timeline_sync(array(
    select i.id from new_rows n
    join old_rows o on o.id = n.id
    join public.journey_instances i on i.client_id = n.id
    where (n.wedding_date, n.booking_date, n.time_zone, n.couple_name, n.venue)
      is distinct from (o.wedding_date, o.booking_date, o.time_zone, o.couple_name, o.venue)
  ));
  return null;
end
$$;

create function public.on_journey_instances_timeline_inserted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- Most suppliers have no timeline sync: ask about the new rows' suppliers before handing their instances
  -- over (enqueue_timeline_sync's own look-up of the instances made this trigger about 0.12 ms of a 0.47 ms
  -- journey start).
  if exists (
    select 1 from public.supplier_integrations g
    where g.supplier_id in (select n.supplier_id from new_rows n)
      and g.provider = 'google_calendar' and g.settings -> 'timeline_sync' = 'true'::jsonb
  ) then
    perform public.enqueue_timeline_sync(array(select id from new_rows));
  end if;
  return null;
end
$$;

create function public.on_journey_instances_timeline_status() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform public.enqueue_timeline_sync(array(
    select n.id from new_rows n join old_rows o on o.id = n.id
    where (n.status = 'cancelled') <> (o.status = 'cancelled')
  ));
  return null;
end
$$;

create function public.on_journey_steps_timeline_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- A milestone added, moved, renamed or removed in the journey builder: its journeys' timelines follow.
  perform public.enqueue_timeline_sync(array(
    select i.id from public.journey_instances i
    where i.journey_id in (
      select n.journey_id from new_rows n left join old_rows o on o.id = n.id
      where n.timing is distinct from o.timing
        and (n.timing ? 'milestone' or o.timing ? 'milestone')
    )
  ));
  return null;
end
$$;

-- Numbered after the re-planning and run-planning triggers (20): they fire first.
create trigger clients_30_timeline after update on public.clients
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.on_clients_timeline_changed();
create trigger journey_instances_30_timeline_inserted after insert on public.journey_instances
  referencing new table as new_rows
  for each statement execute function public.on_journey_instances_timeline_inserted();
create trigger journey_instances_30_timeline_status after update on public.journey_instances
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.on_journey_instances_timeline_status();
create trigger journey_steps_30_timeline after update on public.journey_steps
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.on_journey_steps_timeline_changed();

-- Reopening a step cancels later step runs, not the module's own jobs ----------------------------------

create or replace function public.reopen_step(p_instance_id uuid, p_step_id uuid) returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_instance public.journey_instances;
begin
  select * into v_instance from public.journey_instances where id = p_instance_id for update;
  if not found or v_instance.status = 'cancelled' then
    return false;
  end if;
  -- Steps planned after this one no longer apply; other meetings' reminders and the module's own jobs
  -- (timeline syncs, booking follow-ups: no step) still do.
  update public.module_runs r
  set status = 'cancelled', completed_at = now(), updated_at = now(),
      last_error = jsonb_build_object('kind', 'skipped', 'code', 'step_reopened',
        'message', 'An earlier step was reopened')
  where r.journey_instance_id = p_instance_id and r.status in ('pending', 'waiting', 'held')
    and r.step_id is not null
    and not exists (select 1 from public.meeting_reminders mr where mr.run_id = r.id);
  update public.journey_instances
  set current_step_id = p_step_id, status = 'active', completed_at = null, updated_at = now()
  where id = p_instance_id;
  -- The transition trigger plans the step's new run when the current step changed; when the journey
  -- was still (or had ended) on this step, plan it here.
  if v_instance.current_step_id is not distinct from p_step_id then
    perform public.plan_runs(array[p_instance_id]);
  end if;
  return true;
end
$$;

revoke execute on function
  public.timeline_of(uuid),
  public.record_timeline_sync(uuid, uuid, text, jsonb, text[]),
  public.enqueue_timeline_sync(uuid[]),
  public.set_timeline_sync(uuid, boolean, text),
  public.on_clients_timeline_changed(),
  public.on_journey_instances_timeline_inserted(),
  public.on_journey_instances_timeline_status(),
  public.on_journey_steps_timeline_changed(),
  public.reopen_step(uuid, uuid)
from public, anon, authenticated;

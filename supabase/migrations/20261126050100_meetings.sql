-- Meetings: the meeting module's state. A Calendly or Acuity step sends a single-use booking link and
-- its run waits ('waiting') until the booking webhook completes the step; a Google Calendar step books
-- a free slot itself. Booked meetings get reminder runs 24 h and 2 h before; a cancellation cancels
-- them and, as the step says, reopens the step.

create table public.meetings (
  id uuid primary key default gen_random_uuid(),
  supplier_id uuid not null references public.suppliers on delete cascade,
  run_id bigint not null unique references public.module_runs on delete cascade,
  journey_instance_id uuid not null references public.journey_instances on delete cascade,
  step_id uuid references public.journey_steps on delete set null,
  client_id uuid not null references public.clients on delete cascade,
  provider text not null check (provider in ('calendly', 'google_calendar', 'acuity')),
  status text not null default 'awaiting_booking' check (status in ('awaiting_booking', 'scheduled', 'canceled')),
  booking_url text,
  external_id text,
  start_at timestamptz,
  end_at timestamptz,
  join_url text,
  cancel_url text,
  reschedule_url text,
  location text,
  schedule_version integer not null default 0,
  canceled_at timestamptz,
  event_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (supplier_id, provider, external_id),
  check (status <> 'scheduled' or (start_at is not null and end_at > start_at))
);
comment on table public.meetings is
  'One meeting per meeting-step run: the booking link sent, then the booked slot (Calendly invitee URI, '
  'Google event id or Acuity appointment id in external_id), or its cancellation.';
comment on column public.meetings.schedule_version is 'Bumped whenever the slot changes; part of the reminder runs'' keys.';
comment on column public.meetings.event_at is
  'When the latest booking event applied to the meeting happened (the provider''s occurred_at); an '
  'event that happened earlier is stale. Null until an event carrying a time is applied.';
create index meetings_supplier on public.meetings (supplier_id, created_at);
create index meetings_client on public.meetings (client_id);

create table public.meeting_reminders (
  run_id bigint primary key references public.module_runs on delete cascade,
  meeting_id uuid not null references public.meetings on delete cascade,
  supplier_id uuid not null references public.suppliers on delete cascade,
  lead text not null check (lead in ('24h', '2h'))
);
comment on table public.meeting_reminders is
  'Marks the module runs that are reminders of a meeting (rather than the meeting step itself).';
create index meeting_reminders_meeting on public.meeting_reminders (meeting_id);
create index meeting_reminders_supplier on public.meeting_reminders (supplier_id);

alter table public.meetings enable row level security;
alter table public.meeting_reminders enable row level security;
create policy meetings_member_read on public.meetings for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy meeting_reminders_member_read on public.meeting_reminders for select to authenticated
  using (public.is_supplier_member(supplier_id));
revoke insert, update, delete on public.meetings, public.meeting_reminders from anon, authenticated;

create function public.reopen_step(p_instance_id uuid, p_step_id uuid) returns boolean
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
  -- Steps planned after this one no longer apply; other meetings' reminders still do.
  update public.module_runs r
  set status = 'cancelled', completed_at = now(), updated_at = now(),
      last_error = jsonb_build_object('kind', 'skipped', 'code', 'step_reopened',
        'message', 'An earlier step was reopened')
  where r.journey_instance_id = p_instance_id and r.status in ('pending', 'waiting', 'held')
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
comment on function public.reopen_step(uuid, uuid) is
  'Moves a journey back to a step so it runs again (a new visit, with a new run key): pending and '
  'waiting runs of the instance are cancelled, a completed journey becomes active again.';

-- Meetings --------------------------------------------------------------------------------------------

create function public.meeting_for_run(p_run_id bigint, p_provider text) returns public.meetings
language plpgsql security definer
set search_path = ''
as $$
declare
  v_meeting public.meetings;
begin
  insert into public.meetings (supplier_id, run_id, journey_instance_id, step_id, client_id, provider)
  select r.supplier_id, r.id, r.journey_instance_id, r.step_id, i.client_id, p_provider
  from public.module_runs r join public.journey_instances i on i.id = r.journey_instance_id
  where r.id = p_run_id
  on conflict (run_id) do nothing;
  select * into v_meeting from public.meetings where run_id = p_run_id;
  return v_meeting;
end
$$;
comment on function public.meeting_for_run(bigint, text) is
  'The meeting of a meeting-step run, created on the first attempt: its id tags the booking link, so '
  'every retry of the run works on the same meeting.';

create function public.set_meeting_link(p_meeting_id uuid, p_booking_url text) returns text
language sql security definer
set search_path = ''
as $$
  update public.meetings set booking_url = coalesce(booking_url, p_booking_url), updated_at = now()
  where id = p_meeting_id
  returning booking_url
$$;
comment on function public.set_meeting_link(uuid, text) is
  'Stores the booking link created for a meeting; the first one stored wins, so a retry re-sends the '
  'same single-use link rather than a second one.';

create function public.plan_meeting_reminders(p_meeting_id uuid) returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  update public.module_runs r
  set status = 'cancelled', completed_at = now(), updated_at = now(),
      last_error = jsonb_build_object('kind', 'skipped', 'code', 'meeting_changed',
        'message', 'The meeting was moved or cancelled')
  from public.meeting_reminders mr
  where mr.meeting_id = p_meeting_id and r.id = mr.run_id and r.status in ('pending', 'held');

  with m as (
    select m.* from public.meetings m join public.journey_steps s on s.id = m.step_id
    where m.id = p_meeting_id and m.status = 'scheduled'
      and coalesce((s.config -> 'reminders' ->> 'enabled')::boolean, true)
  ),
  planned as (
    insert into public.module_runs (supplier_id, journey_instance_id, step_id, module_type, run_at, idempotency_key)
    select m.supplier_id, m.journey_instance_id, m.step_id, 'meeting', m.start_at - l.ahead,
      format('%s:reminder:%s:v%s', m.id, l.lead, m.schedule_version)
    from m cross join (values ('24h', interval '24 hours'), ('2h', interval '2 hours')) as l(lead, ahead)
    -- A meeting booked less than a day ahead gets only the reminders still ahead of it.
    where m.start_at - l.ahead > now()
    on conflict (idempotency_key) do nothing
    returning id, supplier_id, split_part(idempotency_key, ':', 3) as lead
  )
  insert into public.meeting_reminders (run_id, meeting_id, supplier_id, lead)
  select id, p_meeting_id, supplier_id, lead from planned;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;
comment on function public.plan_meeting_reminders(uuid) is
  'Cancels a meeting''s pending reminders and, when it is scheduled and its step wants reminders, plans '
  'runs 24 h and 2 h before its start (those already past are left out). Returns how many were planned.';

create function public.apply_meeting_event(p_meeting_id uuid, p_event jsonb) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_meeting public.meetings;
  v_kind text := p_event ->> 'kind';
  v_start timestamptz := (p_event ->> 'start_at')::timestamptz;
  v_end timestamptz := (p_event ->> 'end_at')::timestamptz;
  v_at timestamptz := (p_event ->> 'occurred_at')::timestamptz;
begin
  select * into v_meeting from public.meetings where id = p_meeting_id for update;
  if not found then
    return 'unmatched';
  end if;
  -- Overtaken by a later event already applied (e.g. the booking a reschedule replaced, arriving late).
  if v_at < v_meeting.event_at then
    return 'stale';
  end if;
  if v_kind = 'booked' then
    if v_meeting.status = 'canceled' then
      return 'stale';
    end if;
    if v_meeting.status = 'scheduled' and v_meeting.external_id = p_event ->> 'external_id'
       and v_meeting.start_at = v_start then
      return 'duplicate';
    end if;
    update public.meetings
    set status = 'scheduled', external_id = p_event ->> 'external_id', start_at = v_start, end_at = v_end,
        join_url = coalesce(p_event ->> 'join_url', join_url),
        cancel_url = coalesce(p_event ->> 'cancel_url', cancel_url),
        reschedule_url = coalesce(p_event ->> 'reschedule_url', reschedule_url),
        location = coalesce(p_event ->> 'location', location),
        schedule_version = schedule_version
          + case when v_meeting.start_at is distinct from v_start and v_meeting.start_at is not null then 1 else 0 end,
        event_at = coalesce(v_at, event_at),
        updated_at = now()
    where id = p_meeting_id;
    perform public.complete_waiting_run(v_meeting.run_id, jsonb_build_object('meeting_id', p_meeting_id));
    perform public.plan_meeting_reminders(p_meeting_id);
    return case when v_meeting.status = 'scheduled' then 'moved' else 'booked' end;
  elsif v_kind = 'canceled' then
    if v_meeting.status = 'canceled' then
      return 'duplicate';
    end if;
    update public.meetings
    set status = 'canceled', canceled_at = now(), event_at = coalesce(v_at, event_at), updated_at = now()
    where id = p_meeting_id;
    perform public.plan_meeting_reminders(p_meeting_id);
    if coalesce((select s.config ->> 'on_cancel' from public.journey_steps s where s.id = v_meeting.step_id),
                'reopen') = 'reopen' then
      perform public.reopen_step(v_meeting.journey_instance_id, v_meeting.step_id);
    end if;
    return 'canceled';
  end if;
  raise exception 'Cannot apply meeting event: kind "%" is not booked or canceled', v_kind
    using errcode = '22023';
end
$$;
comment on function public.apply_meeting_event(uuid, jsonb) is
  'Applies a normalised booking event to a meeting: booked (slot recorded, waiting run completed so the '
  'journey advances, reminders planned; a new slot for a scheduled meeting moves it and its reminders) or '
  'canceled (reminders cancelled; the step reopened unless its on_cancel is keep). An event that happened '
  'before the latest one applied (occurred_at < meetings.event_at) is stale and changes nothing.';

create function public.receive_meeting_event(
  p_provider text,
  p_event_id text,
  p_event_type text,
  p_supplier_id uuid,
  p_event jsonb
) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_inbox bigint;
  v_meeting uuid;
  v_result text;
begin
  insert into public.webhook_events (provider, event_id, event_type, supplier_id, occurred_at, payload)
  values (p_provider, p_event_id, p_event_type, p_supplier_id, (p_event ->> 'occurred_at')::timestamptz,
    p_event - 'invitee_email')
  on conflict (provider, event_id) do nothing
  returning id into v_inbox;
  if v_inbox is null then
    return 'duplicate';
  end if;
  -- Which meeting: the booking it replaces (a reschedule), the booking itself, the meeting id we put in
  -- the link, or else the couple's latest meeting still waiting for a booking with this provider.
  select m.id into v_meeting from public.meetings m
  where m.supplier_id = p_supplier_id and m.provider = p_provider
    and m.external_id in (p_event ->> 'previous_external_id', p_event ->> 'external_id')
  order by (m.external_id = p_event ->> 'previous_external_id') desc limit 1;
  if v_meeting is null and p_event ->> 'meeting_ref' ~ '^[0-9a-f-]{36}$' then
    select m.id into v_meeting from public.meetings m
    where m.id = (p_event ->> 'meeting_ref')::uuid and m.supplier_id = p_supplier_id and m.provider = p_provider;
  end if;
  if v_meeting is null and p_event ->> 'invitee_email' is not null then
    select m.id into v_meeting from public.meetings m join public.clients c on c.id = m.client_id
    where m.supplier_id = p_supplier_id and m.provider = p_provider and m.status = 'awaiting_booking'
      and lower(c.email) = lower(p_event ->> 'invitee_email')
    order by m.created_at desc limit 1;
  end if;
  v_result := case when v_meeting is null then 'unmatched' else public.apply_meeting_event(v_meeting, p_event) end;
  update public.webhook_events set processed_at = now() where id = v_inbox;
  return v_result;
end
$$;
comment on function public.receive_meeting_event(text, text, text, uuid, jsonb) is
  'Inbox entry point for a verified booking webhook (Calendly, Acuity): deduplicates on (provider, event '
  'id), finds the meeting and applies the event. The couple''s email is used to match, never stored.';

revoke execute on function
  public.reopen_step(uuid, uuid),
  public.meeting_for_run(bigint, text),
  public.set_meeting_link(uuid, text),
  public.plan_meeting_reminders(uuid),
  public.apply_meeting_event(uuid, jsonb),
  public.receive_meeting_event(text, text, text, uuid, jsonb)
from public, anon, authenticated;

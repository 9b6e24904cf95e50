-- Follow-ups of a booking link that is not used: as the step's `awaiting_booking` says, a "please book"
-- nudge email N days after the link was sent, and the step marked overdue M days after (kept waiting for
-- a late booking, or skipped so the journey moves on). Both are runs of the meeting module without a
-- step (so they never advance the journey themselves), planned when the link run starts waiting and
-- cancelled with the meeting's other reminders when the couple books.

alter table public.meeting_reminders drop constraint meeting_reminders_lead_check;
alter table public.meeting_reminders add constraint meeting_reminders_lead_check
  check (lead in ('24h', '2h', 'nudge', 'overdue'));
comment on table public.meeting_reminders is
  'Marks the module runs that follow a meeting rather than execute its step: reminders 24 h and 2 h '
  'before it, and while it awaits a booking the nudge and the overdue check.';

alter table public.meetings add column overdue_at timestamptz;
comment on column public.meetings.overdue_at is
  'When the booking became overdue (awaiting_booking.overdue_after_days passed without a booking).';

create function public.plan_booking_follow_ups(p_run_ids bigint[]) returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count integer;
begin
  with m as (
    select m.id, m.supplier_id, m.journey_instance_id, s.config -> 'awaiting_booking' as follow_up,
      coalesce(c.time_zone, sp.time_zone) as tz
    from public.meetings m
    join public.journey_steps s on s.id = m.step_id
    join public.clients c on c.id = m.client_id
    join public.suppliers sp on sp.id = m.supplier_id
    where m.run_id = any (p_run_ids) and m.status = 'awaiting_booking'
  ),
  planned as (
    insert into public.module_runs (supplier_id, journey_instance_id, step_id, module_type, run_at, idempotency_key)
    -- "3 days later" is 10:00 on the couple's wall clock three days on: never a 3 a.m. email.
    select m.supplier_id, m.journey_instance_id, null, 'meeting',
      (((now() at time zone m.tz)::date + (m.follow_up ->> l.days)::integer) + time '10:00') at time zone m.tz,
      format('%s:%s', m.id, l.lead)
    from m cross join (values ('nudge', 'nudge_after_days'), ('overdue', 'overdue_after_days')) as l(lead, days)
    where jsonb_typeof(m.follow_up -> l.days) = 'number'
    on conflict (idempotency_key) do nothing
    returning id, supplier_id, split_part(idempotency_key, ':', 1)::uuid as meeting_id,
      split_part(idempotency_key, ':', 2) as lead
  )
  insert into public.meeting_reminders (run_id, meeting_id, supplier_id, lead)
  select id, meeting_id, supplier_id, lead from planned;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;
comment on function public.plan_booking_follow_ups(bigint[]) is
  'Plans the nudge and overdue runs of the meetings of the given link runs, from the step''s '
  'awaiting_booking (N days on at 10:00 in the couple''s zone). Keyed per meeting: planned once.';

create function public.on_module_runs_waiting() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform public.plan_booking_follow_ups(array[new.id]);
  return null;
end
$$;

create trigger module_runs_30_booking_follow_ups after update of status on public.module_runs
  for each row
  when (new.status = 'waiting' and old.status <> 'waiting' and new.module_type = 'meeting')
  execute function public.on_module_runs_waiting();

create function public.meeting_booking_overdue(p_meeting_id uuid) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_meeting public.meetings;
  v_follow_up jsonb;
  v_reason jsonb;
begin
  select * into v_meeting from public.meetings where id = p_meeting_id for update;
  if not found or v_meeting.status <> 'awaiting_booking'
     or not exists (select 1 from public.module_runs r where r.id = v_meeting.run_id and r.status = 'waiting') then
    return 'not_waiting';
  end if;
  select s.config -> 'awaiting_booking' into v_follow_up from public.journey_steps s where s.id = v_meeting.step_id;
  update public.meetings set overdue_at = now(), updated_at = now() where id = p_meeting_id;
  v_reason := jsonb_build_object('code', 'booking_overdue', 'message',
    format('The couple has not booked within %s days', v_follow_up ->> 'overdue_after_days'));
  if coalesce(v_follow_up ->> 'on_overdue', 'wait') = 'skip' then
    update public.module_runs
    set status = 'skipped', completed_at = now(), updated_at = now(),
        last_error = v_reason || '{"kind": "skipped"}'
    where id = v_meeting.run_id;
    perform public.advance_instances(jsonb_build_array(
      jsonb_build_object('instance_id', v_meeting.journey_instance_id, 'step_id', v_meeting.step_id)));
    return 'skipped';
  end if;
  -- Still waiting: a late booking completes the step as usual; the vendor sees why it is late.
  update public.module_runs set last_error = v_reason || '{"kind": "overdue"}', updated_at = now()
  where id = v_meeting.run_id;
  return 'overdue';
end
$$;
comment on function public.meeting_booking_overdue(uuid) is
  'Marks a meeting still awaiting its booking overdue: its link run keeps waiting with the reason '
  '(on_overdue wait), or is skipped and the journey moves on (skip); a late booking is still recorded. '
  'not_waiting when it was booked or the wait ended meanwhile.';

revoke execute on function
  public.plan_booking_follow_ups(bigint[]),
  public.on_module_runs_waiting(),
  public.meeting_booking_overdue(uuid)
from public, anon, authenticated;

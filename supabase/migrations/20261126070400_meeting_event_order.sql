-- Booking events in the order they happened, not the order they arrive: a Calendly reschedule's new
-- booking can arrive before the original booking it replaces; the late original must not move the
-- meeting back to the old slot (found by the webhook storm).

alter table public.meetings add column event_at timestamptz;
comment on column public.meetings.event_at is
  'When the latest booking event applied to the meeting happened (the provider''s occurred_at); an '
  'event that happened earlier is stale. Null until an event carrying a time is applied.';

create or replace function public.apply_meeting_event(p_meeting_id uuid, p_event jsonb) returns text
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

revoke execute on function public.apply_meeting_event(uuid, jsonb) from public, anon, authenticated;

-- Journey management for the vendor's app: update, delete and reorder steps (with what happens to their
-- pending runs), pause / resume / cancel a couple's journey, cancel on a CRM "booking cancelled", and a dry
-- run of a journey for a couple. Every entry point is security definer, checks that the signed-in user is a
-- member of the supplier (auth.uid(); a foreign row is "not found"), and is called by the journeys function
-- with the signed-in user's claims set.
--
-- Errors raised for the function to map: P0002 not found (404), 55000 wrong state (409), 22023 bad input (422).

-- Helpers ------------------------------------------------------------------------------------------------

create function public.member_step(p_step_id uuid) returns public.journey_steps
language plpgsql security definer
set search_path = ''
as $$
declare
  v_step public.journey_steps;
begin
  select * into v_step from public.journey_steps where id = p_step_id for update;
  if not found or not public.is_supplier_member(v_step.supplier_id) then
    raise exception 'Step % not found', p_step_id using errcode = 'P0002';
  end if;
  return v_step;
end
$$;
comment on function public.member_step(uuid) is
  'The step, locked, when the signed-in user is a member of its supplier; raises P0002 (not found) otherwise.';

create function public.member_instance(p_instance_id uuid) returns public.journey_instances
language plpgsql security definer
set search_path = ''
as $$
declare
  v_instance public.journey_instances;
begin
  select * into v_instance from public.journey_instances where id = p_instance_id for update;
  if not found or not public.is_supplier_member(v_instance.supplier_id) then
    raise exception 'Journey instance % not found', p_instance_id using errcode = 'P0002';
  end if;
  return v_instance;
end
$$;
comment on function public.member_instance(uuid) is
  'The journey instance, locked, when the signed-in user is a member of its supplier; raises P0002 otherwise.';

create function public.is_bookkeeping_run(p_run public.module_runs) returns boolean
language sql stable
set search_path = ''
as $$
  -- CRM syncs and the wedding-timeline sync to the vendor's calendar are not sends to the couple: they keep
  -- going when a journey is paused or cancelled (a cancel enqueues the calendar clean-up itself).
  select p_run.module_type = 'crm'
    or exists (select 1 from public.timeline_syncs t where t.run_id = p_run.id)
$$;
comment on function public.is_bookkeeping_run(public.module_runs) is
  'True for a run that is the platform''s bookkeeping (CRM sync, wedding-timeline sync), not a send to the '
  'couple: pausing or cancelling a journey leaves it alone.';

create function public.next_business_time(p_at timestamptz, p_tz text, p_hours jsonb) returns timestamptz
language plpgsql stable
set search_path = ''
as $$
declare
  v_local timestamp := p_at at time zone p_tz;
  v_day date;
  v_start timestamptz;
  v_end timestamptz;
begin
  -- The SQL twin of nextBusinessTime (shared/time/zones.ts): p_at inside a window, else the next window's start.
  for v_offset in 0..10 loop
    v_day := v_local::date + v_offset;
    continue when not (p_hours -> 'days') @> to_jsonb(extract(isodow from v_day)::integer);
    v_start := (v_day + (p_hours ->> 'start')::time) at time zone p_tz;
    v_end := (v_day + (p_hours ->> 'end')::time) at time zone p_tz;
    continue when p_at >= v_end;
    if p_at >= v_start then
      return p_at;
    end if;
    continue when (v_start at time zone p_tz)::date <> v_day;
    return v_start;
  end loop;
  return null;
end
$$;
comment on function public.next_business_time(timestamptz, text, jsonb) is
  'The earliest instant at or after p_at inside business hours {days (ISO), start, end} in zone p_tz (wall '
  'clock, DST-safe); the SQL twin of nextBusinessTime in shared/time/zones.ts, used by the journey dry run.';

create function public.next_outside_quiet_hours(p_at timestamptz, p_tz text, p_quiet jsonb) returns timestamptz
language plpgsql stable
set search_path = ''
as $$
declare
  v_local timestamp := p_at at time zone p_tz;
  v_start time := (p_quiet ->> 'start')::time;
  v_end time := (p_quiet ->> 'end')::time;
  v_time time := v_local::time;
  v_wraps boolean := v_start > v_end;
begin
  -- The SQL twin of nextOutsideQuietHours (shared/time/zones.ts).
  if not (case when v_wraps then v_time >= v_start or v_time < v_end else v_time >= v_start and v_time < v_end end) then
    return p_at;
  end if;
  return ((v_local::date + case when v_wraps and v_time >= v_start then 1 else 0 end) + v_end) at time zone p_tz;
end
$$;
comment on function public.next_outside_quiet_hours(timestamptz, text, jsonb) is
  'The earliest instant at or after p_at outside quiet hours {start, end} (wrapping past midnight) in zone '
  'p_tz; the SQL twin of nextOutsideQuietHours in shared/time/zones.ts, used by the journey dry run.';

-- Steps ------------------------------------------------------------------------------------------------

create function public.update_journey_step(p_step_id uuid, p_config jsonb, p_timing jsonb) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_step public.journey_steps := public.member_step(p_step_id);
  v_after public.journey_steps;
  v_replanned integer := 0;
  v_skipped jsonb;
begin
  update public.journey_steps
  set config = coalesce(p_config, config), timing = coalesce(p_timing, timing)
  where id = p_step_id
  returning * into v_after;

  -- Config is read when a run is sent, so a config change applies to every run not sent yet by itself.
  -- A timing change re-plans the step's runs that have not been attempted, with the rules of a date
  -- change (on_client_dates_changed): relative to the previous step from when the run was planned,
  -- anchored ones from now; a time that has passed follows if_past (send now or skip).
  if v_after.timing is distinct from v_step.timing then
    with planned as (
      select r.id, p.run_at, p.skip_reason, r.journey_instance_id, r.status
      from public.module_runs r
      join public.journey_instances i on i.id = r.journey_instance_id
      join public.clients c on c.id = i.client_id
      join public.suppliers sp on sp.id = i.supplier_id
      cross join lateral public.step_run_at(v_after.timing, v_after.module_type, c, sp.time_zone,
        case when coalesce(v_after.timing ->> 'anchor', 'previous') = 'previous' then r.created_at else now() end) p
      where r.step_id = p_step_id and r.status in ('pending', 'held') and r.attempts = 0
      for update of r
    ),
    updated as (
      update public.module_runs r
      set run_at = case when p.skip_reason is null then p.run_at else r.run_at end,
          status = case when p.skip_reason is null then r.status else 'skipped' end,
          last_error = case when p.skip_reason is null then r.last_error
            else jsonb_build_object('kind', 'skipped', 'code', 'not_scheduled', 'message', p.skip_reason) end,
          completed_at = case when p.skip_reason is null then null else now() end,
          updated_at = now()
      from planned p
      where r.id = p.id
      returning r.journey_instance_id, r.status
    )
    select count(*),
      jsonb_agg(jsonb_build_object('instance_id', journey_instance_id, 'step_id', p_step_id))
        filter (where status = 'skipped')
    into v_replanned, v_skipped
    from updated;
    if v_skipped is not null then
      perform public.advance_instances(v_skipped);
    end if;
    if exists (
      select 1 from public.module_runs
      where step_id = p_step_id and status = 'pending' and run_at <= now() + interval '1 second'
    ) then
      perform public.kick(v_after.module_type);
    end if;
  end if;

  return jsonb_build_object(
    'step', jsonb_build_object('id', v_after.id, 'journey_id', v_after.journey_id, 'position', v_after.position,
      'module_type', v_after.module_type, 'config', v_after.config, 'timing', v_after.timing),
    'replanned_runs', v_replanned,
    'skipped_runs', coalesce(jsonb_array_length(v_skipped), 0));
end
$$;
comment on function public.update_journey_step(uuid, jsonb, jsonb) is
  'Changes a step''s config and/or timing (null keeps it; the table''s checks apply). Config is read at send '
  'time, so it applies to every run not sent yet. A timing change re-plans the step''s pending and held runs '
  'not attempted yet (previous-anchored from when each was planned, date-anchored from now, if_past for a '
  'passed time; a skipped run advances its journey). Runs in flight or being retried keep their time.';

create function public.delete_journey_step(p_step_id uuid, p_reason text default null) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_step public.journey_steps := public.member_step(p_step_id);
  v_next uuid;
  v_moved integer;
  v_cancelled integer;
  v_reason text := coalesce(nullif(p_reason, ''), 'the step was deleted from the journey');
begin
  select s.id into v_next from public.journey_steps s
  where s.journey_id = v_step.journey_id and s.position > v_step.position
  order by s.position limit 1;

  -- Journeys on the step move to the next one (its run is planned by the transition trigger for active
  -- journeys, at resume for paused ones), or complete when it was the last.
  update public.journey_instances
  set current_step_id = coalesce(v_next, current_step_id),
      status = case when v_next is null then 'completed' else status end,
      completed_at = case when v_next is null then now() else completed_at end,
      updated_at = now()
  where current_step_id = p_step_id and status in ('active', 'paused');
  get diagnostics v_moved = row_count;

  update public.module_runs
  set status = 'cancelled', completed_at = now(), updated_at = now(), lease_expires_at = null,
      last_error = jsonb_build_object('kind', 'cancelled', 'code', 'step_deleted', 'message', v_reason,
        'step_id', p_step_id, 'position', v_step.position)
  where step_id = p_step_id and status in ('pending', 'held', 'waiting');
  get diagnostics v_cancelled = row_count;

  -- The step's runs stay in the ledger without it (module_runs.step_id is set null).
  delete from public.journey_steps where id = p_step_id;
  return jsonb_build_object('deleted_step_id', p_step_id, 'cancelled_runs', v_cancelled, 'moved_instances', v_moved);
end
$$;
comment on function public.delete_journey_step(uuid, text) is
  'Deletes a step: its pending, held and waiting runs are cancelled with the reason (code step_deleted), '
  'journeys on it (active or paused) move to the next step or complete, and its past runs stay in the '
  'ledger with step_id null. Runs in flight may still finish.';

create function public.reorder_journey_steps(p_journey_id uuid, p_step_ids uuid[]) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_supplier uuid;
  v_current uuid[];
begin
  select supplier_id into v_supplier from public.journeys where id = p_journey_id for update;
  if not found or not public.is_supplier_member(v_supplier) then
    raise exception 'Journey % not found', p_journey_id using errcode = 'P0002';
  end if;
  select array_agg(id order by id) into v_current from public.journey_steps where journey_id = p_journey_id;
  if coalesce(v_current, '{}') <> coalesce((select array_agg(x order by x) from unnest(p_step_ids) x), '{}') then
    raise exception 'step_ids must list each of the journey''s % steps exactly once', coalesce(cardinality(v_current), 0)
      using errcode = '22023';
  end if;
  -- Two statements: the unique (journey_id, position) is checked row by row.
  update public.journey_steps s set position = 1000000 + o.n
  from unnest(p_step_ids) with ordinality as o(id, n) where s.id = o.id;
  update public.journey_steps s set position = o.n
  from unnest(p_step_ids) with ordinality as o(id, n) where s.id = o.id;
  return jsonb_build_object('journey_id', p_journey_id, 'steps', (
    select jsonb_agg(jsonb_build_object('id', id, 'position', position, 'module_type', module_type) order by position)
    from public.journey_steps where journey_id = p_journey_id));
end
$$;
comment on function public.reorder_journey_steps(uuid, uuid[]) is
  'Renumbers a journey''s steps 1..n in the given order (every step exactly once). Runs are kept as they '
  'are; journeys stay on their current step and continue with the step that now follows it.';

-- Instances --------------------------------------------------------------------------------------------

create function public.pause_journey_instance(p_instance_id uuid, p_reason text default null) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_instance public.journey_instances := public.member_instance(p_instance_id);
  v_held integer;
  v_message text := coalesce(nullif(p_reason, ''), 'the journey was paused');
begin
  if v_instance.status <> 'active' then
    raise exception 'Cannot pause a % journey', v_instance.status using errcode = '55000';
  end if;
  update public.journey_instances set status = 'paused', updated_at = now() where id = p_instance_id;
  -- Held runs keep their place (run_at) and attempts; a hold for a disconnected integration becomes a
  -- pause hold (kept under previous) and is checked again when the run goes out after resume.
  update public.module_runs
  set status = 'held', updated_at = now(),
      last_error = jsonb_build_object('kind', 'held', 'code', 'journey_paused', 'message', v_message,
        'held_at', now(), 'previous', last_error)
  where journey_instance_id = p_instance_id and status in ('pending', 'held')
    and coalesce(last_error ->> 'code', '') <> 'journey_paused'
    and not public.is_bookkeeping_run(module_runs);
  get diagnostics v_held = row_count;
  return jsonb_build_object('instance_id', p_instance_id, 'status', 'paused', 'held_runs', v_held);
end
$$;
comment on function public.pause_journey_instance(uuid, text) is
  'Pauses an active journey: its pending runs become held (code journey_paused, keeping run_at and '
  'attempts). Runs already in flight may finish. resume_journey_instance releases them.';

create function public.resume_journey_instance(p_instance_id uuid) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_instance public.journey_instances := public.member_instance(p_instance_id);
  v_held bigint[];
  v_released integer;
  v_modules public.module_type[];
  v_module public.module_type;
  v_last public.module_runs;
begin
  if v_instance.status <> 'paused' then
    raise exception 'Cannot resume a % journey', v_instance.status using errcode = '55000';
  end if;
  update public.journey_instances set status = 'active', updated_at = now() where id = p_instance_id;

  -- As for a reconnected integration: in order at their planned time, attempts untouched, the if_past rule.
  v_held := array(
    select h.id from public.module_runs h
    where h.journey_instance_id = p_instance_id and h.status = 'held' and h.last_error ->> 'code' = 'journey_paused');
  v_released := public.release_runs(v_held, 'resumed', 'while the journey was paused');
  -- Waiting runs whose deadline (a reminder, a follow-up) passed while paused wake now.
  perform public.wake_runs(array(
    select r.id from public.module_runs r
    where r.journey_instance_id = p_instance_id and r.status = 'waiting' and r.run_at <= now()));

  -- What happened while paused: a run of the current step that finished does advance now; one that found
  -- the journey paused (skipped journey_inactive), or a step reached while paused, is planned now.
  select i.* into v_instance from public.journey_instances i where i.id = p_instance_id;
  if v_instance.status = 'active' and v_instance.current_step_id is not null
     and not exists (
       select 1 from public.module_runs r
       where r.journey_instance_id = p_instance_id and r.step_id = v_instance.current_step_id
         and r.status in ('pending', 'running', 'waiting', 'held', 'unknown', 'dead')
     ) then
    select r.* into v_last from public.module_runs r
    where r.journey_instance_id = p_instance_id and r.step_id = v_instance.current_step_id
    order by r.id desc limit 1;
    if v_last.id is null or (v_last.status = 'skipped' and v_last.last_error ->> 'code' = 'journey_inactive') then
      perform public.plan_runs(array[p_instance_id]);
      select array_agg(distinct r.module_type) || coalesce(v_modules, '{}') into v_modules
      from public.module_runs r
      where r.journey_instance_id = p_instance_id and r.status = 'pending';
    elsif v_last.status in ('succeeded', 'skipped') then
      perform public.advance_instances(jsonb_build_array(
        jsonb_build_object('instance_id', p_instance_id, 'step_id', v_instance.current_step_id)));
    end if;
  end if;

  foreach v_module in array coalesce(v_modules, '{}') loop
    perform public.kick(v_module, true);
  end loop;
  return jsonb_build_object('instance_id', p_instance_id,
    'status', (select status from public.journey_instances where id = p_instance_id),
    'released_runs', v_released, 'skipped_runs', (
      select count(*) from public.module_runs where id = any (v_held) and status = 'skipped'));
end
$$;
comment on function public.resume_journey_instance(uuid) is
  'Resumes a paused journey: its journey_paused holds are released in order at their planned time, attempts '
  'untouched (if_past = skip and more than an hour late: skipped with the reason, as release_held_runs); a '
  'step finished while paused advances now, a step reached while paused is planned now.';

create function public.cancel_instances(p_instance_ids uuid[], p_code text, p_reason text) returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  v_cancelled integer;
begin
  update public.journey_instances
  set status = 'cancelled', completed_at = now(), updated_at = now()
  where id = any (p_instance_ids) and status in ('active', 'paused');
  -- Unknown runs stay: they may have been sent and are reconciled from the provider's events.
  update public.module_runs
  set status = 'cancelled', completed_at = now(), updated_at = now(), lease_expires_at = null,
      last_error = jsonb_build_object('kind', 'cancelled', 'code', p_code, 'message', p_reason)
  where journey_instance_id = any (p_instance_ids) and status in ('pending', 'held', 'waiting')
    and not public.is_bookkeeping_run(module_runs);
  get diagnostics v_cancelled = row_count;
  return v_cancelled;
end
$$;
comment on function public.cancel_instances(uuid[], text, text) is
  'Cancels journey instances: status cancelled, their pending, held and waiting runs cancelled with the code '
  'and reason. Runs in flight may finish (they find the journey cancelled); unknown runs are left to reconciliation.';

create function public.cancel_journey_instance(p_instance_id uuid, p_reason text default null) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_instance public.journey_instances := public.member_instance(p_instance_id);
begin
  if v_instance.status not in ('active', 'paused') then
    raise exception 'Cannot cancel a % journey', v_instance.status using errcode = '55000';
  end if;
  return jsonb_build_object('instance_id', p_instance_id, 'status', 'cancelled',
    'cancelled_runs', public.cancel_instances(array[p_instance_id], 'journey_cancelled',
      coalesce(nullif(p_reason, ''), 'the journey was cancelled')));
end
$$;
comment on function public.cancel_journey_instance(uuid, text) is
  'Cancels an active or paused journey for the signed-in vendor: pending, held and waiting runs end as '
  'cancelled with the reason (code journey_cancelled).';

create function public.cancel_client_journeys(p_supplier_id uuid, p_client_id uuid, p_code text, p_reason text)
returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_ids uuid[];
begin
  select array_agg(id) into v_ids from public.journey_instances
  where supplier_id = p_supplier_id and client_id = p_client_id and status in ('active', 'paused');
  return jsonb_build_object('cancelled_instances', coalesce(cardinality(v_ids), 0),
    'cancelled_runs', coalesce(public.cancel_instances(coalesce(v_ids, '{}'), p_code, p_reason), 0));
end
$$;
comment on function public.cancel_client_journeys(uuid, uuid, text, text) is
  'Cancels every active or paused journey of a couple (a booking cancelled in the CRM, or the vendor''s app).';

create function public.cancel_couple_journeys(p_client_id uuid, p_reason text default null) returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_supplier uuid;
begin
  select supplier_id into v_supplier from public.clients where id = p_client_id;
  if not found or not public.is_supplier_member(v_supplier) then
    raise exception 'Couple % not found', p_client_id using errcode = 'P0002';
  end if;
  return public.cancel_client_journeys(v_supplier, p_client_id, 'booking_cancelled',
    coalesce(nullif(p_reason, ''), 'the booking was cancelled'));
end
$$;
comment on function public.cancel_couple_journeys(uuid, text) is
  'The vendor''s app cancels a couple''s booking: every active or paused journey of the couple is cancelled '
  'and its pending sends end (code booking_cancelled).';

-- Dry run ----------------------------------------------------------------------------------------------

create function public.journey_dry_run(p_journey_id uuid, p_client_id uuid, p_start_at timestamptz default null)
returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_journey public.journeys;
  v_client public.clients;
  v_supplier public.suppliers;
  v_step public.journey_steps;
  v_from timestamptz := coalesce(p_start_at, now());
  v_planned record;
  v_send timestamptz;
  v_tz text;
  v_zone text;
  v_rules text[];
  v_out jsonb := '[]';
  v_next timestamptz;
begin
  select * into v_journey from public.journeys where id = p_journey_id;
  if not found or not public.is_supplier_member(v_journey.supplier_id) then
    raise exception 'Journey % not found', p_journey_id using errcode = 'P0002';
  end if;
  select * into v_client from public.clients where id = p_client_id and supplier_id = v_journey.supplier_id;
  if not found then
    raise exception 'Couple % not found', p_client_id using errcode = 'P0002';
  end if;
  select * into v_supplier from public.suppliers where id = v_journey.supplier_id;
  v_tz := coalesce(v_client.time_zone, v_supplier.time_zone);

  for v_step in select * from public.journey_steps where journey_id = p_journey_id order by position loop
    v_rules := '{}';
    v_zone := v_tz;
    -- The planner's own rule (step_run_at), from the time the previous step would have completed.
    select * into v_planned from public.step_run_at(v_step.timing, v_step.module_type, v_client, v_supplier.time_zone, v_from);
    v_send := v_planned.run_at;
    if v_planned.skip_reason is null then
      if coalesce(v_step.timing ->> 'anchor', 'previous') <> 'previous' then
        v_rules := v_rules || format('%s %s days at %s', replace(v_step.timing ->> 'anchor', '_', ' '),
          coalesce(v_step.timing ->> 'offset_days', '0'), coalesce(v_step.timing ->> 'at', '10:00'));
      end if;
      if v_step.module_type in ('review', 'referral') and v_client.wedding_date is not null
         and (v_planned.run_at at time zone v_tz)::date = v_client.wedding_date + 1
         and ((public.step_run_at(v_step.timing, 'email', v_client, v_supplier.time_zone, v_from)).run_at
              at time zone v_tz)::date = v_client.wedding_date then
        v_rules := v_rules || 'no marketing on the wedding day: moved to the next day'::text;
      end if;
      if coalesce(v_step.timing ->> 'anchor', 'previous') = 'previous' and v_client.wedding_date is not null
         and not coalesce((v_step.timing ->> 'urgent')::boolean, false)
         and v_planned.run_at = v_from + interval '30 minutes'
         and (coalesce((v_step.timing ->> 'offset_days')::integer, 0) * 1440
              + coalesce((v_step.timing ->> 'offset_minutes')::integer, 0) > 30 or v_step.timing ? 'at') then
        v_rules := v_rules || 'wedding week: delay capped at 30 minutes'::text;
      end if;
      -- The send windows the channels apply at send time.
      if v_step.module_type = 'email' and v_step.config ->> 'send_time' = 'business_hours' then
        v_zone := v_supplier.time_zone;
        v_next := public.next_business_time(v_send, v_supplier.time_zone, v_supplier.business_hours);
        if v_next > v_send then
          v_rules := v_rules || format('business hours in %s', v_supplier.time_zone);
          v_send := v_next;
        end if;
      elsif v_step.module_type = 'email' and v_step.config ->> 'send_time' = 'local_time' then
        v_next := ((v_send at time zone v_tz)::date + (v_step.config ->> 'local_time')::time) at time zone v_tz;
        if v_next < v_send - interval '1 hour' then
          v_next := (((v_send at time zone v_tz)::date + 1) + (v_step.config ->> 'local_time')::time) at time zone v_tz;
        end if;
        if v_next > v_send then
          v_rules := v_rules || format('local time %s in %s', v_step.config ->> 'local_time', v_tz);
          v_send := v_next;
        end if;
      elsif v_step.module_type = 'sms'
         and not (coalesce((v_step.timing ->> 'urgent')::boolean, false)
                  and (v_send at time zone v_tz)::date = v_client.wedding_date) then
        v_next := public.next_outside_quiet_hours(v_send, v_tz, v_supplier.quiet_hours);
        if v_next > v_send then
          v_rules := v_rules || format('quiet hours %s-%s in %s', v_supplier.quiet_hours ->> 'start',
            v_supplier.quiet_hours ->> 'end', v_tz);
          v_send := v_next;
        end if;
      end if;
    end if;
    v_out := v_out || jsonb_build_object(
      'step_id', v_step.id,
      'position', v_step.position,
      'module_type', v_step.module_type,
      'would_send', v_planned.skip_reason is null,
      'skip_reason', v_planned.skip_reason,
      'send_at', case when v_planned.skip_reason is null then v_send end,
      'time_zone', v_zone,
      'local_time', case when v_planned.skip_reason is null
        then to_char(v_send at time zone v_zone, 'YYYY-MM-DD"T"HH24:MI') end,
      'rules', to_jsonb(v_rules));
    -- The next step counts from this one's send (a step waiting for the couple is assumed to complete then).
    if v_planned.skip_reason is null then
      v_from := v_send;
    end if;
  end loop;
  return jsonb_build_object('journey_id', p_journey_id, 'client_id', p_client_id,
    'start_at', coalesce(p_start_at, now()), 'time_zone', v_tz, 'steps', v_out);
end
$$;
comment on function public.journey_dry_run(uuid, uuid, timestamptz) is
  'What a journey would send a couple, when and in which zone, without writing anything: each step''s time '
  'from step_run_at (booking and wedding anchors, wedding-week cap, no marketing on the wedding day), then the '
  'channel windows (business hours in the vendor''s zone, local send times and SMS quiet hours in the couple''s). '
  'Steps count from the previous step''s send; a step that waits for the couple is assumed to complete then.';

revoke execute on function
  public.is_bookkeeping_run(public.module_runs),
  public.member_step(uuid),
  public.member_instance(uuid),
  public.next_business_time(timestamptz, text, jsonb),
  public.next_outside_quiet_hours(timestamptz, text, jsonb),
  public.cancel_instances(uuid[], text, text),
  public.cancel_client_journeys(uuid, uuid, text, text)
from public, anon, authenticated;

-- The journeys function calls these on its own connection with the signed-in user's claims set (so
-- auth.uid() is the user and each function checks membership itself); nobody calls them through the API
-- roles, so the only security definer function anon or authenticated may call stays the RLS predicate.
revoke execute on function
  public.update_journey_step(uuid, jsonb, jsonb),
  public.delete_journey_step(uuid, text),
  public.reorder_journey_steps(uuid, uuid[]),
  public.pause_journey_instance(uuid, text),
  public.resume_journey_instance(uuid),
  public.cancel_journey_instance(uuid, text),
  public.cancel_couple_journeys(uuid, text),
  public.journey_dry_run(uuid, uuid, timestamptz)
from public, anon, authenticated;

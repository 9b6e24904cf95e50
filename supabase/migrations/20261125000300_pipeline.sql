-- The module-run pipeline: planning runs on step transitions, coalesced kicks of the module
-- functions through pg_net, batched claims with leases, outcome recording, journey advance, sweeps.
-- Every state change of a run is one of these functions.

-- Planning ---------------------------------------------------------------------------------------

create function public.step_run_at(
  p_timing jsonb,
  p_module public.module_type,
  p_client public.clients,
  p_supplier_time_zone text,
  p_from timestamptz,
  out run_at timestamptz,
  out skip_reason text
)
language plpgsql stable
set search_path = ''
as $$
declare
  v_anchor text := coalesce(p_timing ->> 'anchor', 'previous');
  v_days integer := coalesce((p_timing ->> 'offset_days')::integer, 0);
  v_minutes integer := coalesce((p_timing ->> 'offset_minutes')::integer, 0);
  v_at time := (p_timing ->> 'at')::time;
  v_urgent boolean := coalesce((p_timing ->> 'urgent')::boolean, false);
  v_tz text := coalesce(p_client.time_zone, p_supplier_time_zone);
  v_anchor_date date;
begin
  if v_anchor = 'previous' then
    if v_at is null then
      run_at := p_from + make_interval(days => v_days, mins => v_minutes);
    else
      -- "2 days later at 10:00" means 10:00 on the wall clock of the couple's zone, DST or not.
      run_at := (((p_from at time zone v_tz)::date + v_days) + v_at) at time zone v_tz
        + make_interval(mins => v_minutes);
      if run_at < p_from then
        run_at := run_at + interval '1 day';
      end if;
    end if;
    -- Wedding week: a non-urgent delay relative to the previous step is capped at 30 minutes.
    if not v_urgent and p_client.wedding_date is not null
       and (p_from at time zone v_tz)::date between p_client.wedding_date - 7 and p_client.wedding_date
       and run_at > p_from + interval '30 minutes' then
      run_at := p_from + interval '30 minutes';
    end if;
  else
    v_anchor_date := case v_anchor when 'wedding_date' then p_client.wedding_date else p_client.booking_date end;
    if v_anchor_date is null then
      run_at := p_from;
      skip_reason := format('the couple has no %s', replace(v_anchor, '_', ' '));
      return;
    end if;
    run_at := ((v_anchor_date + v_days) + coalesce(v_at, time '10:00')) at time zone v_tz
      + make_interval(mins => v_minutes);
    if run_at < p_from then
      if coalesce(p_timing ->> 'if_past', 'send_now') = 'skip' then
        skip_reason := format('the scheduled time %s had already passed', run_at);
      end if;
      run_at := p_from;
    end if;
  end if;
  -- Nothing marketing-like on the wedding day itself: move it to the next day, same local time.
  if p_module in ('review', 'referral') and p_client.wedding_date is not null
     and (run_at at time zone v_tz)::date = p_client.wedding_date then
    run_at := ((p_client.wedding_date + 1) + (run_at at time zone v_tz)::time) at time zone v_tz;
  end if;
end
$$;
comment on function public.step_run_at(jsonb, public.module_type, public.clients, text, timestamptz) is
  'When a step runs: relative to the previous step, or anchored to the booking or wedding date at a local '
  'time in the couple''s zone (the supplier''s when the couple has none); wedding-week cap and no marketing '
  'on the wedding day. skip_reason is set when the step cannot or must not run.';

-- Generic plans: with the default plan_cache_mode, a query taking an array parameter was planned
-- again on every call (custom plans looked cheaper for one instance), about 1 ms of a 0.1 ms query.
-- The hot-path functions (planning, kicks, claims, outcomes, CRM and timeline triggers, the
-- provider gate) set it; their statements are index look-ups whatever the parameters.
create function public.plan_runs(p_instance_ids uuid[], p_started boolean default false) returns void
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  v_skipped jsonb;
begin
  -- Most statements on journey_instances move no step (e.g. completing instances): plan nothing, fast.
  if coalesce(cardinality(p_instance_ids), 0) = 0 then
    return;
  end if;
  with planned as (
    select i.id as instance_id, i.supplier_id, s.id as step_id, s.module_type, p.run_at, p.skip_reason,
      -- A journey just started has no runs yet (they cascade with a deleted instance): its visit is the first,
      -- with no look-up (nor a scan, if the plan was cached while module_runs looked empty: a bulk import of
      -- 20,000 couples was 5.4 million buffer reads there). Other transitions count the earlier visits.
      case when p_started then 1
        else (select count(*) from public.module_runs r where r.journey_instance_id = i.id and r.step_id = s.id) + 1
      end as visit,
      -- A bulk of one supplier (an import, a batch of outcomes) is spread in the fair claim order.
      public.fair_offset_ms(row_number() over (partition by i.supplier_id, s.module_type order by p.run_at, i.id) - 1)
        as fair_offset_ms
    from public.journey_instances i
    join public.journey_steps s on s.id = i.current_step_id
    join public.clients c on c.id = i.client_id
    join public.suppliers sp on sp.id = i.supplier_id
    cross join lateral public.step_run_at(s.timing, s.module_type, c, sp.time_zone, now()) p
    where i.id = any (p_instance_ids) and i.status = 'active'
  ),
  inserted as (
    insert into public.module_runs (
      supplier_id, journey_instance_id, step_id, module_type, status, run_at, fair_offset_ms, idempotency_key,
      last_error, completed_at
    )
    select supplier_id, instance_id, step_id, module_type,
      case when skip_reason is null then 'pending' else 'skipped' end::public.run_status,
      run_at, fair_offset_ms, format('%s:%s:%s', instance_id, step_id, visit),
      case when skip_reason is not null
        then jsonb_build_object('kind', 'skipped', 'code', 'not_scheduled', 'message', skip_reason) end,
      case when skip_reason is not null then now() end
    from planned
    on conflict (idempotency_key) do nothing
    returning journey_instance_id, step_id, status
  )
  select jsonb_agg(jsonb_build_object('instance_id', journey_instance_id, 'step_id', step_id))
  into v_skipped
  from inserted where status = 'skipped';

  if v_skipped is not null then
    perform public.advance_instances(v_skipped);
  end if;
end
$$;
comment on function public.plan_runs(uuid[], boolean) is
  'Inserts the module run for each instance''s current step (the outbox row, in the transition''s '
  'transaction), keyed instance:step:visit so a repeated transition cannot enqueue twice; p_started says '
  'the instances were just inserted (first visit, no count).';

create function public.advance_instances(p_done jsonb) returns void
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
begin
  -- PL/pgSQL keeps this plan per session (a SQL function with a SET clause is planned on every call).
  update public.journey_instances i
  set current_step_id = coalesce(nx.next_step_id, i.current_step_id),
      status = case when nx.next_step_id is null then 'completed' else i.status end,
      completed_at = case when nx.next_step_id is null then now() end,
      updated_at = now()
  from (
    select d.instance_id, d.step_id, (
      select s2.id from public.journey_steps s1
      join public.journey_steps s2 on s2.journey_id = s1.journey_id and s2.position > s1.position
      where s1.id = d.step_id
      order by s2.position limit 1
    ) as next_step_id
    from jsonb_to_recordset(p_done) as d(instance_id uuid, step_id uuid)
  ) nx
  where i.id = nx.instance_id and i.current_step_id = nx.step_id and i.status = 'active';
end
$$;
comment on function public.advance_instances(jsonb) is
  'Moves each journey instance from the given step to the next one (or completes it). Guarded on the '
  'current step, so a late or repeated completion cannot advance twice.';

create function public.on_journey_instances_inserted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform public.plan_runs(array(select id from new_rows where current_step_id is not null), true);
  return null;
end
$$;

create function public.on_journey_instances_moved() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform public.plan_runs(array(
    select n.id from new_rows n join old_rows o on o.id = n.id
    where n.current_step_id is distinct from o.current_step_id and n.current_step_id is not null
  ));
  return null;
end
$$;

create function public.on_journey_instance_start() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.current_step_id is null then
    select id into new.current_step_id from public.journey_steps
    where journey_id = new.journey_id order by position limit 1;
  end if;
  return new;
end
$$;

-- Statement-level triggers: a bulk transition plans all its runs in one set-based insert.
create trigger journey_instances_10_start before insert on public.journey_instances
  for each row execute function public.on_journey_instance_start();
create trigger journey_instances_20_plan_inserted after insert on public.journey_instances
  referencing new table as new_rows
  for each statement execute function public.on_journey_instances_inserted();
create trigger journey_instances_20_plan_moved after update on public.journey_instances
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.on_journey_instances_moved();

-- Re-planning when the dates a step is anchored to change --------------------------------------

create function public.on_client_dates_changed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.module_runs r
  set run_at = case when p.skip_reason is null then p.run_at else r.run_at end,
      status = case when p.skip_reason is null then r.status else 'skipped' end,
      last_error = case when p.skip_reason is null then r.last_error
        else jsonb_build_object('kind', 'skipped', 'code', 'not_scheduled', 'message', p.skip_reason) end,
      completed_at = case when p.skip_reason is null then null else now() end,
      updated_at = now()
  from public.journey_instances i
  join public.suppliers sp on sp.id = i.supplier_id,
  public.journey_steps s
  cross join lateral public.step_run_at(s.timing, s.module_type, new, sp.time_zone, now()) p
  where i.client_id = new.id and r.journey_instance_id = i.id and s.id = r.step_id
    and r.status in ('pending', 'held')
    and s.timing ->> 'anchor' in ('wedding_date', 'booking_date');
  return null;
end
$$;
comment on function public.on_client_dates_changed() is
  'Re-plans the couple''s pending runs anchored to a date that changed; a run whose new time has '
  'passed follows its step''s if_past rule (send now or skip).';

create trigger clients_20_replan after update of wedding_date, booking_date, time_zone on public.clients
  for each row
  when (new.wedding_date is distinct from old.wedding_date
        or new.booking_date is distinct from old.booking_date
        or new.time_zone is distinct from old.time_zone)
  execute function public.on_client_dates_changed();

-- Kicks: pg_net calls to the module functions, coalesced -----------------------------------------

create function public.invoke_token() returns text
language plpgsql stable security definer
set search_path = ''
as $$
declare
  v_secret text;
  v_header text;
  v_payload text;
begin
  select decrypted_secret into v_secret from vault.decrypted_secrets where name = 'functions_invoke_secret';
  if v_secret is null then
    raise exception 'Cannot invoke module functions: Vault secret "functions_invoke_secret" is missing'
      using hint = 'select vault.create_secret(encode(extensions.gen_random_bytes(32), ''hex''), ''functions_invoke_secret'');';
  end if;
  v_header := translate(encode(convert_to('{"alg":"HS256","typ":"JWT"}', 'utf8'), 'base64'), E'+/=\n', '-_');
  v_payload := translate(encode(convert_to(json_build_object(
    'iss', 'journeys-db',
    'aud', 'module-functions',
    'iat', extract(epoch from now())::bigint,
    'exp', extract(epoch from now())::bigint + 300
  )::text, 'utf8'), 'base64'), E'+/=\n', '-_');
  return v_header || '.' || v_payload || '.' || translate(encode(
    extensions.hmac(convert_to(v_header || '.' || v_payload, 'utf8'), convert_to(v_secret, 'utf8'), 'sha256'),
    'base64'), E'+/=\n', '-_');
end
$$;
comment on function public.invoke_token() is
  'A 5-minute HS256 JWT (iss journeys-db, aud module-functions) signed with the Vault secret '
  'functions_invoke_secret; module functions verify it with jose and refuse anything else with 401.';

create function public.module_function_name(p_module public.module_type) returns text
language sql immutable
set search_path = ''
as $$ select case p_module::text when 'crm' then 'crm-sync' else 'module-' || p_module::text end $$;
comment on function public.module_function_name(public.module_type) is
  'The Edge Function that drains a module type''s runs: module-<type>, and crm-sync for the CRM sync.';

create function public.kick(p_module public.module_type, p_force boolean default false) returns boolean
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  v_url text;
begin
  -- Coalesced without ever waiting: a recent kick is seen without a lock, and a kick in progress in
  -- another transaction is skipped (SKIP LOCKED): its request, sent after it commits, drains our run
  -- too, as the function lingers and polls before it stops; the sweep stays the safety net.
  if not p_force and exists (
    select 1 from public.dispatch_state
    where module_type = p_module and kicked_at >= clock_timestamp() - interval '250 milliseconds'
  ) then
    return false;
  end if;
  update public.dispatch_state set kicked_at = clock_timestamp()
  where module_type = (
    select d.module_type from public.dispatch_state d
    where d.module_type = p_module
      and (p_force or d.kicked_at < clock_timestamp() - interval '250 milliseconds')
    for update skip locked
  );
  if not found then
    return false;
  end if;
  select decrypted_secret into v_url from vault.decrypted_secrets where name = 'project_url';
  if v_url is null then
    raise warning 'Cannot kick %: Vault secret "project_url" is missing', public.module_function_name(p_module);
    return false;
  end if;
  perform net.http_post(
    url := rtrim(v_url, '/') || '/functions/v1/' || public.module_function_name(p_module),
    body := jsonb_build_object('action', 'drain'),
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || public.invoke_token()),
    timeout_milliseconds := 5000
  );
  return true;
end
$$;
comment on function public.kick(public.module_type, boolean) is
  'Asks the module''s function (module_function_name) to drain its due runs, through pg_net (sent after '
  'commit). Coalesced: at most one request per module per 250 ms, whatever the number of transitions.';

create function public.on_module_runs_inserted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_module public.module_type;
begin
  for v_module in
    select distinct module_type from new_rows where status = 'pending' and run_at <= now() + interval '1 second'
  loop
    perform public.kick(v_module);
  end loop;
  return null;
end
$$;

create trigger module_runs_20_kick after insert on public.module_runs
  referencing new table as new_rows
  for each statement execute function public.on_module_runs_inserted();

-- Claims and outcomes ------------------------------------------------------------------------------

create function public.claim_runs(p_module public.module_type, p_limit integer, p_lease_seconds integer default 60)
returns setof public.module_runs
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
begin
  -- PL/pgSQL keeps this plan per session; a SQL function with a SET clause is planned on every call
  -- (about 0.9 ms of each claim).
  return query
  with fair as (
    -- First lane, fair order: due runs by fair_at (fair_at <= now() implies run_at <= now()), so one
    -- supplier's pile (a bulk import, a shared anchor) enters at 100 runs/s and another supplier's run due
    -- meanwhile goes before the rest of it.
    select id from public.module_runs
    where module_type = p_module and status = 'pending' and fair_at <= now()
    order by fair_at
    limit p_limit
    for update skip locked
  ),
  spare as (
    -- Second lane, what the first leaves of the batch: the rest of the piles by run_at (due, not yet in fair
    -- order), so fairness never leaves a slot idle. The lanes are disjoint; LIMIT 0 reads nothing.
    select id from public.module_runs
    where module_type = p_module and status = 'pending' and run_at <= now() and fair_at > now()
    order by run_at
    limit p_limit - (select count(*) from fair)
    for update skip locked
  )
  update public.module_runs r
  set status = 'running',
      attempts = r.attempts + 1,
      lease_expires_at = now() + make_interval(secs => p_lease_seconds),
      updated_at = now()
  from (select id from fair union all select id from spare) due
  where r.id = due.id
  returning r.*;
end
$$;
comment on function public.claim_runs(public.module_type, integer, integer) is
  'Claims up to p_limit due runs of a module for one worker, in fair order between suppliers (fair_at) and '
  'then by run_at with the spare: FOR UPDATE SKIP LOCKED, so concurrent claimers never share a run; the '
  'lease hands the run out again if the worker dies.';

create function public.retry_delay(p_attempts integer, p_retry_after_s double precision default null)
returns interval
language sql volatile
set search_path = ''
as $$
  -- The base (5 s) can be lowered for a whole database with `alter database ... set journeys.retry_base_s`
  -- (the local chaos suite does, so its retry tail takes seconds); unset, production keeps 5 s.
  select make_interval(secs => greatest(
    coalesce(p_retry_after_s, 0),
    least(3600, coalesce(nullif(current_setting('journeys.retry_base_s', true), '')::double precision, 5)
      * power(2, least(greatest(p_attempts, 1) - 1, 10))) * (0.75 + random() * 0.5)
  ))
$$;
comment on function public.retry_delay(integer, double precision) is
  'Exponential backoff with jitter: 5 s, 10 s, 20 s ... capped at 1 h, never sooner than Retry-After. '
  'The base is the setting journeys.retry_base_s when set (default 5 s).';

create function public.record_outcomes(p_outcomes jsonb) returns integer
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  v_done jsonb;
  v_messages jsonb;
  v_count integer;
  v_held uuid[];
begin
  with o as (
    select * from jsonb_to_recordset(p_outcomes) as x(
      run_id bigint, attempt integer, kind text, replay_safe boolean, provider text,
      provider_message_id text, channel text, recipient text, error jsonb,
      retry_after_s double precision, defer_until timestamptz, wake_at timestamptz, result jsonb
    )
  ),
  decided as (
    select o.*, r.max_attempts,
      case
        when o.kind in ('succeeded', 'skipped', 'waiting') then o.kind
        when o.kind = 'permanent' then 'dead'
        when o.kind = 'deferred' then 'pending'
        -- Held for an integration whose credentials were rejected; if they were replaced meanwhile (the
        -- release already ran), the run goes again at once rather than wait for an incident that is over.
        when o.kind = 'held' then case when exists (
          select 1 from public.supplier_integrations si
          where si.id = (o.error ->> 'integration_id')::uuid and si.status = 'disconnected'
        ) then 'held' else 'pending' end
        when o.kind = 'unknown' and not coalesce(o.replay_safe, false) then 'unknown'
        when r.attempts >= r.max_attempts then 'dead'
        else 'pending'
      end as next_status
    from o join public.module_runs r on r.id = o.run_id
    where r.status = 'running' and r.attempts = o.attempt
  ),
  updated as (
    update public.module_runs r
    set status = d.next_status::public.run_status,
        run_at = case
          when d.kind = 'deferred' then d.defer_until
          -- Waiting for an outside event: run_at is the deadline it wakes at (a reminder, an overdue check).
          when d.kind = 'waiting' then coalesce(d.wake_at, 'infinity')
          -- A held run keeps its place: released, it is due at its planned time, in order.
          -- (A release that raced the attempt: a short pause, so a rejection that cannot stick never spins.)
          when d.kind = 'held' then case when d.next_status = 'held' then r.run_at else now() + interval '5 seconds' end
          when d.next_status = 'pending' then now() + public.retry_delay(r.attempts, d.retry_after_s)
          else r.run_at end,
        attempts = case when d.kind in ('deferred', 'held') then r.attempts - 1 else r.attempts end,
        lease_expires_at = null,
        last_error = case
          when d.kind in ('succeeded', 'waiting') then r.last_error
          -- A deferral says why the run waits (a rate limit, quiet hours), when it says anything.
          when d.kind = 'deferred' then coalesce(d.error, r.last_error)
          when d.kind = 'held' then d.error || jsonb_build_object('kind', 'held', 'held_at', now())
          when d.next_status = 'dead' and d.kind <> 'permanent' then d.error || jsonb_build_object(
            'message', format('gave up after %s attempts: %s', r.attempts, d.error ->> 'message'))
          else d.error end,
        provider = coalesce(d.provider, r.provider),
        provider_message_id = coalesce(d.provider_message_id, r.provider_message_id),
        result = coalesce(d.result, r.result),
        completed_at = case when d.next_status in ('succeeded', 'skipped', 'dead') then now() end,
        updated_at = now()
    from decided d
    where r.id = d.run_id
    returning r.id, r.supplier_id, r.journey_instance_id, r.step_id, r.status, r.provider,
      r.provider_message_id, d.channel, d.recipient, r.last_error
  ),
  delivered as (
    insert into public.deliveries (run_id, supplier_id, channel, provider, provider_message_id, recipient)
    select id, supplier_id, channel, provider, provider_message_id, recipient from updated
    where status in ('succeeded', 'waiting') and provider_message_id is not null and channel is not null
    on conflict (provider, provider_message_id) do nothing
    returning provider, provider_message_id
  )
  select
    (select jsonb_agg(jsonb_build_object('instance_id', journey_instance_id, 'step_id', step_id))
      from updated where status in ('succeeded', 'skipped')),
    (select jsonb_agg(jsonb_build_object('provider', provider, 'id', provider_message_id)) from delivered),
    (select count(*) from updated),
    (select array_agg(distinct (last_error ->> 'integration_id')::uuid) from updated where status = 'held')
  into v_done, v_messages, v_count, v_held;

  if v_held is not null then
    perform public.note_held_runs(v_held);
  end if;

  insert into public.integration_calls (supplier_id, run_id, provider, operation, http_status, duration_ms, error_code, attempt, outcome)
  select r.supplier_id, r.id, c.provider, c.operation, c.http_status, c.duration_ms, c.error_code, o.attempt, o.kind
  from jsonb_to_recordset(p_outcomes) as o(run_id bigint, attempt integer, kind text, calls jsonb)
  join public.module_runs r on r.id = o.run_id
  cross join lateral jsonb_to_recordset(coalesce(o.calls, '[]')) as c(
    provider text, operation text, http_status integer, duration_ms integer, error_code text
  );

  if v_messages is not null then
    -- Webhooks that arrived before the delivery row existed are applied now, oldest first. The lock
    -- pairs with the one in apply_webhook_event: whichever transaction comes second sees the other's
    -- row, so an event can never be left waiting for a delivery that already exists.
    perform pg_advisory_xact_lock(hashtextextended(m.provider || ':' || m.id, 0))
    from jsonb_to_recordset(v_messages) as m(provider text, id text)
    order by m.provider, m.id;
    perform public.apply_webhook_event(e.id)
    from public.webhook_events e
    join jsonb_to_recordset(v_messages) as m(provider text, id text)
      on e.provider = m.provider and e.provider_message_id = m.id
    where e.processed_at is null
    order by e.occurred_at, e.id;
  end if;

  if v_done is not null then
    perform public.advance_instances(v_done);
  end if;
  return v_count;
end
$$;
comment on function public.record_outcomes(jsonb) is
  'Records a batch of run outcomes in one call: succeeded (delivery written, journey advances), waiting '
  '(the run did its part and waits for an outside event until wake_at: delivery written, the step completes '
  'through complete_waiting_run or a wake), skipped '
  '(with a reason; journey advances), deferred (to defer_until, attempt not counted), held (an integration '
  'it needs is disconnected: keeps its place, attempt not counted, released by release_held_runs), transient or '
  'replay-safe unknown (retry with backoff, dead after max_attempts), permanent (dead with the reason), '
  'unknown (held for reconciliation). Fenced on the attempt, so a worker whose lease expired cannot '
  'overwrite the run''s newer state. Also writes the integration_calls audit.';

create function public.mark_provider_batch(p_run_ids bigint[], p_batch_key text)
returns void
language sql security definer
set search_path = ''
as $$
  insert into public.provider_batch_runs (run_id, batch_key)
  select unnest(p_run_ids), p_batch_key
  on conflict (run_id) do update set batch_key = excluded.batch_key, created_at = excluded.created_at
$$;
comment on function public.mark_provider_batch(bigint[], text) is
  'Marks the first attempts whose emails go out in one provider batch request (keyed p_batch_key), '
  'before the request: if the worker dies meanwhile, the expired lease holds them as unknown '
  '(lease_replay_safe), settled by the provider''s events, never sent again under another batch''s key.';

-- Waiting for an outside event ---------------------------------------------------------------------
-- The one way a run waits for something outside (a form submission, a booking, a click): status waiting
-- with run_at as its deadline. The event either completes it (complete_waiting_run) or wakes it for its
-- module to decide (wake_runs); the sweep wakes those whose deadline came.

create function public.complete_waiting_run(p_run_id bigint, p_result jsonb default '{}') returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_run public.module_runs;
begin
  update public.module_runs
  set status = 'succeeded', result = coalesce(result, '{}') || coalesce(p_result, '{}'),
      completed_at = now(), updated_at = now()
  where id = p_run_id and status = 'waiting'
  returning * into v_run;
  if not found then
    return false;
  end if;
  perform public.advance_instances(jsonb_build_array(
    jsonb_build_object('instance_id', v_run.journey_instance_id, 'step_id', v_run.step_id)));
  return true;
end
$$;
comment on function public.complete_waiting_run(bigint, jsonb) is
  'Completes a waiting run (its outside event arrived) and advances the journey from its step. '
  'False when the run is not waiting (already completed, or cancelled).';

create function public.wake_runs(p_run_ids bigint[] default null) returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count integer;
  v_modules public.module_type[];
  v_module public.module_type;
begin
  -- Given runs wake now (their event arrived); without ids, those whose deadline came (the sweep).
  with woken as (
    update public.module_runs
    set status = 'pending', run_at = least(run_at, now()), updated_at = now()
    where status = 'waiting'
      and case when p_run_ids is null then run_at <= now() else id = any (p_run_ids) end
      -- A paused journey's deadlines wait for its resume (which wakes them); its events still arrive.
      and (p_run_ids is not null or not exists (
        select 1 from public.journey_instances i where i.id = journey_instance_id and i.status = 'paused'))
    returning module_type
  )
  select count(*), array_agg(distinct module_type) into v_count, v_modules from woken;
  if p_run_ids is not null then
    foreach v_module in array coalesce(v_modules, '{}') loop
      perform public.kick(v_module, true);
    end loop;
  end if;
  return v_count;
end
$$;
comment on function public.wake_runs(bigint[]) is
  'Makes waiting runs due: the given ones now (their outside event arrived; their module is kicked), or, '
  'without ids, every one whose deadline (run_at) came (the sweep kicks them).';

create function public.redrive_run(p_run_id bigint) returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_module public.module_type;
begin
  update public.module_runs
  set status = 'pending', run_at = now(), attempts = 0, completed_at = null, updated_at = now()
  where id = p_run_id and status in ('dead', 'unknown', 'held')
  returning module_type into v_module;
  if v_module is null then
    return null;
  end if;
  perform public.kick(v_module, true);
  return true;
end
$$;
comment on function public.redrive_run(bigint) is
  'Sends a dead, unknown or held run through the pipeline again now (same idempotency key; its module is '
  'kicked); a held run whose integration is still disconnected is held again. Null when the run is not '
  'dead, unknown or held.';

-- Sweeps ------------------------------------------------------------------------------------------

create function public.sweep_fair_order() returns integer
language sql security definer
set search_path = ''
as $$
  -- Runs planned one by one for the same time (a 09:00 wedding-date anchor shared by thousands of couples
  -- of one supplier) would all come due with the same place in the fair order: before they do, the
  -- supplier's n-th run of the next two minutes (the sweep's period is at most one) gets the n-th fair
  -- offset, as plan_runs gives one statement's runs. A run already spread keeps its place.
  with coming as (
    select r.id, r.fair_offset_ms,
      public.fair_offset_ms(row_number() over (partition by r.supplier_id, r.module_type order by r.run_at, r.id) - 1)
        as offset_ms
    from public.module_runs r
    where r.module_type = any (enum_range(null::public.module_type)) and r.status = 'pending'
      and r.run_at > now() and r.run_at <= now() + interval '2 minutes'
  ),
  spread as (
    update public.module_runs r set fair_offset_ms = c.offset_ms
    from coming c
    where r.id = c.id and c.fair_offset_ms = 0 and c.offset_ms > 0 and r.status = 'pending'
    returning 1
  )
  select count(*)::integer from spread
$$;
comment on function public.sweep_fair_order() is
  'Run by the sweep: spreads in the fair claim order the runs of one supplier that are about to come due '
  'together although planned one by one (a shared anchor), n × 10 ms apart; returns how many it spread.';

create function public.sweep() returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_expired integer;
  v_reconciled integer;
  v_given_up integer;
  v_kicked text[] := '{}';
  v_module public.module_type;
  v_health jsonb;
  v_woken integer;
  v_spread integer;
begin
  -- A worker that died mid-attempt may have sent: a run that cannot be replayed safely is held as
  -- unknown (reconciled from provider events); the others run again, or are dead after max_attempts.
  with expired as (
    update public.module_runs r
    set status = case
          when not public.lease_replay_safe(r) then 'unknown'
          when r.attempts >= r.max_attempts then 'dead'
          else 'pending' end::public.run_status,
        run_at = now(),
        lease_expires_at = null,
        last_error = case
          when not public.lease_replay_safe(r) then jsonb_build_object(
            'kind', 'unknown', 'code', 'lease_expired',
            'message', 'the worker stopped during the attempt: the message may have been sent')
          when r.attempts >= r.max_attempts then jsonb_build_object(
            'kind', 'transient', 'code', 'lease_expired',
            'message', format('gave up after %s attempts: the worker''s lease expired', r.attempts))
          else r.last_error end,
        completed_at = case when public.lease_replay_safe(r) and r.attempts >= r.max_attempts then now() end,
        updated_at = now()
    where r.status = 'running' and r.lease_expires_at < now()
    returning 1
  )
  select count(*) into v_expired from expired;
  -- Batch marks only matter while their attempt's lease runs (minutes).
  delete from public.provider_batch_runs where created_at < now() - interval '1 hour';

  -- Evidence that came before the outcome was recorded waits in the inbox under the run key.
  select count(*) filter (where ok) into v_reconciled from (
    select public.reconcile_unknown_run(r.supplier_id, r.idempotency_key, e.provider, e.provider_message_id,
      e.event_type) as ok
    from public.module_runs r
    cross join lateral (
      select w.provider, w.provider_message_id, w.event_type from public.webhook_events w
      where w.supplier_id = r.supplier_id and w.payload ->> 'run_key' = r.idempotency_key
        and w.processed_at is null and w.provider_message_id is not null
      order by w.id limit 1
    ) e
    where r.status = 'unknown'
  ) x;

  -- No evidence by the deadline: dead with the reason, never resent (a resend could send twice).
  with given_up as (
    update public.module_runs
    set status = 'dead', completed_at = now(), updated_at = now(),
        last_error = jsonb_build_object('kind', 'unknown', 'code', 'outcome_unknown', 'provider', provider,
          'message', format('outcome unknown (%s), not resent to avoid a duplicate; redrive after checking the provider',
            coalesce(last_error ->> 'message', 'no answer')))
    where status = 'unknown' and updated_at < now() - public.unknown_deadline()
    returning 1
  )
  select count(*) into v_given_up from given_up;

  -- Integration health: replaced credentials release held runs, circuits mark integrations failing.
  v_health := public.sweep_integration_health();
  -- Waiting runs whose deadline came (a reminder, an overdue check) are due.
  v_woken := public.wake_runs();
  v_spread := public.sweep_fair_order();

  foreach v_module in array enum_range(null::public.module_type) loop
    if exists (
      select 1 from public.module_runs
      where module_type = v_module and status = 'pending' and run_at <= now()
    ) and public.kick(v_module) then
      v_kicked := v_kicked || v_module::text;
    end if;
  end loop;
  return jsonb_build_object('expired_leases', v_expired, 'reconciled', v_reconciled,
    'unknown_given_up', v_given_up, 'health', v_health, 'woken', v_woken, 'fair_spread', v_spread,
    'kicked', to_jsonb(v_kicked));
end
$$;
comment on function public.sweep() is
  'Run by pg_cron: hands out runs whose lease expired (held as unknown when a replay could send twice, dead '
  'after max_attempts), reconciles unknown runs from events already in the inbox, gives up on unknown runs '
  'without evidence after unknown_deadline(), keeps integration health true (sweep_integration_health), '
  'spreads coming pile-ups of one supplier in the fair order (sweep_fair_order) and kicks every module that '
  'has due runs.';

revoke execute on function
  public.step_run_at(jsonb, public.module_type, public.clients, text, timestamptz),
  public.plan_runs(uuid[], boolean),
  public.advance_instances(jsonb),
  public.invoke_token(),
  public.kick(public.module_type, boolean),
  public.claim_runs(public.module_type, integer, integer),
  public.sweep_fair_order(),
  public.retry_delay(integer, double precision),
  public.record_outcomes(jsonb),
  public.mark_provider_batch(bigint[], text),
  public.redrive_run(bigint),
  public.complete_waiting_run(bigint, jsonb),
  public.wake_runs(bigint[]),
  public.sweep()
from public, anon, authenticated;

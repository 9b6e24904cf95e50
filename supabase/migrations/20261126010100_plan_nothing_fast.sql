-- Planning that costs nothing when nothing moved.
--
-- Measured by `npm run bench` (pg_stat_statements): record_outcomes spent about 3 ms per batch in
-- the journey_instances update trigger calling plan_runs with an empty array (a one-step journey
-- completes, no step moves), which still planned and ran the whole planning query.

create or replace function public.plan_runs(p_instance_ids uuid[]) returns void
language plpgsql security definer
set search_path = ''
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
      (select count(*) from public.module_runs r where r.journey_instance_id = i.id and r.step_id = s.id) + 1 as visit
    from public.journey_instances i
    join public.journey_steps s on s.id = i.current_step_id
    join public.clients c on c.id = i.client_id
    join public.suppliers sp on sp.id = i.supplier_id
    cross join lateral public.step_run_at(s.timing, s.module_type, c, sp.time_zone, now()) p
    where i.id = any (p_instance_ids) and i.status = 'active'
  ),
  inserted as (
    insert into public.module_runs (
      supplier_id, journey_instance_id, step_id, module_type, status, run_at, idempotency_key, last_error, completed_at
    )
    select supplier_id, instance_id, step_id, module_type,
      case when skip_reason is null then 'pending' else 'skipped' end::public.run_status,
      run_at, format('%s:%s:%s', instance_id, step_id, visit),
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
comment on function public.plan_runs(uuid[]) is
  'Inserts the module run for each instance''s current step (the outbox row, in the transition''s '
  'transaction), keyed instance:step:visit so a repeated transition cannot enqueue twice.';

revoke execute on function public.plan_runs(uuid[]) from public, anon, authenticated;

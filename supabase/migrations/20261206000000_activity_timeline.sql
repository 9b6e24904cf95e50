-- The activity timeline of a couple (or one journey instance): every run, provider attempt, delivery and
-- delivery event, opt-out and inbound reply, with codes and reasons only (no message bodies, no secrets).
-- Security invoker, so a signed-in vendor user sees only their supplier's rows (RLS); the service role
-- (operator console, demo) sees every couple's.

create function public.activity_timeline(
  p_client_id uuid,
  p_instance_id uuid default null,
  p_before timestamptz default null,
  p_limit integer default 100,
  p_before_key text default null
) returns table (
  at timestamptz,
  key text,
  kind text,
  run_id bigint,
  journey_instance_id uuid,
  step_position integer,
  module_type text,
  status text,
  provider text,
  provider_message_id text,
  channel text,
  attempt integer,
  http_status integer,
  code text,
  reason text,
  run_at timestamptz
)
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  v_supplier_id uuid;
  v_phone text;
begin
  if p_limit is null or p_limit < 1 or p_limit > 500 then
    raise exception 'p_limit must be between 1 and 500' using errcode = '22023';
  end if;
  -- RLS decides what the caller sees: a couple of another supplier is simply not found.
  select c.supplier_id, c.phone into v_supplier_id, v_phone from public.clients c where c.id = p_client_id;
  if v_supplier_id is null then
    raise exception 'client % not found', p_client_id using errcode = 'P0002';
  end if;
  if p_instance_id is not null and not exists (
    select 1 from public.journey_instances i where i.id = p_instance_id and i.client_id = p_client_id
  ) then
    raise exception 'journey instance % not found for client %', p_instance_id, p_client_id using errcode = 'P0002';
  end if;

  return query
  with runs as (
    select r.*, s.position as step_position
    from public.journey_instances i
    join public.module_runs r on r.journey_instance_id = i.id
    left join public.journey_steps s on s.id = r.step_id
    where i.client_id = p_client_id and i.supplier_id = v_supplier_id
      and (p_instance_id is null or i.id = p_instance_id)
  ),
  events as (
    -- The run planned (when it was created, and when it is due).
    select r.created_at as at, 'r' || lpad(r.id::text, 19, '0') || ':0' as key, 'run_planned'::text as kind,
      r.id as run_id, r.journey_instance_id, r.step_position, r.module_type::text, r.status::text,
      null::text as provider, null::text as provider_message_id, null::text as channel, null::integer as attempt,
      null::integer as http_status, null::text as code, null::text as reason, r.run_at
    from runs r
    union all
    -- Its outcome so far: succeeded, skipped, held, dead, cancelled, unknown, waiting (with the reason).
    select coalesce(r.completed_at, r.updated_at), 'r' || lpad(r.id::text, 19, '0') || ':9', 'run_' || r.status::text,
      r.id, r.journey_instance_id, r.step_position, r.module_type::text, r.status::text,
      coalesce(r.provider, r.last_error ->> 'provider'), r.provider_message_id, null, r.attempts, null,
      -- A run that succeeded after a re-drive or a retry keeps its last error: not its outcome's reason.
      case when r.status <> 'succeeded' then r.last_error ->> 'code' end,
      case when r.status <> 'succeeded' then left(r.last_error ->> 'message', 500) end, r.run_at
    from runs r
    where r.status::text not in ('pending', 'running')
       or r.last_error is not null
    union all
    -- Every provider call (attempt), with its HTTP status and error code.
    select ic.created_at, 'c' || lpad(ic.id::text, 19, '0'), 'attempt',
      r.id, r.journey_instance_id, r.step_position, r.module_type::text, ic.outcome,
      ic.provider, null, null, ic.attempt, ic.http_status, ic.error_code, ic.operation, null
    from runs r join public.integration_calls ic on ic.run_id = r.id
    union all
    -- The message accepted by the provider (its id).
    select d.created_at, 'd' || lpad(d.id::text, 19, '0'), 'delivery',
      r.id, r.journey_instance_id, r.step_position, r.module_type::text, 'sent',
      d.provider, d.provider_message_id, d.channel, null, null, null, null, null
    from runs r join public.deliveries d on d.run_id = r.id
    union all
    -- What the provider reported afterwards: delivered, opened, clicked, bounced, complained...
    select de.occurred_at, 'e' || lpad(de.id::text, 19, '0'), 'delivery_event',
      r.id, r.journey_instance_id, r.step_position, r.module_type::text, de.status::text,
      d.provider, d.provider_message_id, d.channel, null, null,
      case when de.applied then null else 'out_of_order' end, null, null
    from runs r join public.deliveries d on d.run_id = r.id join public.delivery_events de on de.delivery_id = d.id
    union all
    -- The couple's own messages on SMS/WhatsApp: the latest STOP and the latest inbound reply.
    select mc.opted_out_at, 'm' || mc.channel || ':stop', 'opted_out', null, null, null, mc.channel, 'STOP',
      null, null, mc.channel, null, null, 'opted_out', null, null
    from public.messaging_contacts mc
    where p_instance_id is null and v_phone is not null and mc.supplier_id = v_supplier_id
      and mc.address = v_phone and mc.opted_out_at is not null
    union all
    select mc.last_inbound_at, 'm' || mc.channel || ':reply', 'replied', null, null, null, mc.channel, 'replied',
      null, null, mc.channel, null, null, null, null, null
    from public.messaging_contacts mc
    where p_instance_id is null and v_phone is not null and mc.supplier_id = v_supplier_id
      and mc.address = v_phone and mc.last_inbound_at is not null
  )
  select e.at, e.key, e.kind, e.run_id, e.journey_instance_id, e.step_position, e.module_type, e.status,
    e.provider, e.provider_message_id, e.channel, e.attempt, e.http_status, e.code, e.reason, e.run_at
  from events e
  where p_before is null or e.at < p_before or (e.at = p_before and e.key < coalesce(p_before_key, ''))
  order by e.at desc, e.key desc
  limit p_limit;
end
$$;
comment on function public.activity_timeline(uuid, uuid, timestamptz, integer, text) is
  'A couple''s activity, newest first: runs planned and their outcome (code and reason of a skip, hold or '
  'dead letter), every provider attempt, provider message ids, delivery events and SMS/WhatsApp STOP and '
  'replies. Page with the last row''s (at, key) as (p_before, p_before_key). Security invoker: RLS scopes a '
  'vendor user to their supplier. No message bodies or secrets.';
revoke execute on function public.activity_timeline(uuid, uuid, timestamptz, integer, text) from public, anon;
grant execute on function public.activity_timeline(uuid, uuid, timestamptz, integer, text) to authenticated, service_role;

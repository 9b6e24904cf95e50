-- Runs whose send had an unknown outcome (a timeout, a reset, a worker killed mid-send) are settled by
-- evidence, never by a blind resend: any provider event carrying the run key reconciles them (Twilio and
-- WhatsApp callbacks, SendGrid custom_args, Mailgun v: variables), including events that arrived before
-- the outcome was recorded; without evidence by a deadline the run is dead with a reason, and redrivable.

create index module_runs_unknown on public.module_runs (updated_at) where status = 'unknown';
create index webhook_events_unapplied_run_key on public.webhook_events (supplier_id, (payload ->> 'run_key'))
  where processed_at is null and payload ->> 'run_key' is not null;

create function public.reconcile_unknown_run(
  p_supplier_id uuid,
  p_run_key text,
  p_provider text,
  p_provider_message_id text,
  p_event_type text,
  p_channel text default null,
  p_recipient text default null
) returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_run public.module_runs;
  v_channel text := coalesce(p_channel,
    case p_provider when 'twilio' then 'sms' when 'whatsapp' then 'whatsapp' else 'email' end);
  v_recipient text;
begin
  if p_run_key is null or p_provider_message_id is null then
    return false;
  end if;
  -- The provider's event names the run: the message exists, so the run succeeded with this message id.
  -- A run already dead because no evidence came in time is settled too: late evidence is evidence.
  update public.module_runs
  set status = 'succeeded', provider = p_provider, provider_message_id = p_provider_message_id,
      completed_at = now(), updated_at = now(),
      result = coalesce(result, '{}') || jsonb_build_object('reconciled_from', p_event_type)
  where idempotency_key = p_run_key and supplier_id = p_supplier_id
    and (status = 'unknown' or (status = 'dead' and last_error ->> 'code' = 'outcome_unknown'))
  returning * into v_run;
  if not found then
    return false;
  end if;
  -- Email events carry no address (the inbox stores none): the delivery takes the couple's.
  select coalesce(p_recipient, case when v_channel = 'email' then c.email else c.phone end, '')
  into v_recipient
  from public.journey_instances i join public.clients c on c.id = i.client_id
  where i.id = v_run.journey_instance_id;
  insert into public.deliveries (run_id, supplier_id, channel, provider, provider_message_id, recipient)
  values (v_run.id, v_run.supplier_id, v_channel, p_provider, p_provider_message_id, coalesce(v_recipient, ''))
  on conflict (provider, provider_message_id) do nothing;
  -- The same lock record_outcomes takes after writing a delivery and apply_webhook_event before
  -- looking for one: whichever transaction comes second sees the other's row.
  perform pg_advisory_xact_lock(hashtextextended(p_provider || ':' || p_provider_message_id, 0));
  perform public.apply_webhook_event(e.id) from public.webhook_events e
  where e.provider = p_provider and e.provider_message_id = p_provider_message_id and e.processed_at is null
  order by e.occurred_at, e.id;
  perform public.advance_instances(jsonb_build_array(
    jsonb_build_object('instance_id', v_run.journey_instance_id, 'step_id', v_run.step_id)));
  return true;
end
$$;
comment on function public.reconcile_unknown_run(uuid, text, text, text, text, text, text) is
  'Settles a run whose send had an unknown outcome (or went dead for want of evidence) from a provider '
  'event that names it by run key: succeeded with the event''s message id, delivery written, waiting '
  'events applied, journey advanced. Channel defaults from the provider, recipient from the couple.';

create or replace function public.receive_delivery_event(
  p_provider text,
  p_event_id text,
  p_event_type text,
  p_supplier_id uuid,
  p_provider_message_id text,
  p_status public.delivery_status,
  p_occurred_at timestamptz,
  p_payload jsonb
) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_id bigint;
begin
  -- SendGrid's custom_args and Mailgun's v: variables bring the run key back on every event.
  perform public.reconcile_unknown_run(
    p_supplier_id, p_payload ->> 'run_key', p_provider, p_provider_message_id, p_event_type);
  insert into public.webhook_events (
    provider, event_id, event_type, supplier_id, provider_message_id, status, occurred_at, payload
  )
  values (p_provider, p_event_id, p_event_type, p_supplier_id, p_provider_message_id, p_status, p_occurred_at, p_payload)
  on conflict (provider, event_id) do nothing
  returning id into v_id;
  if v_id is null then
    return 'duplicate';
  end if;
  if p_status is null or p_provider_message_id is null then
    update public.webhook_events set processed_at = now() where id = v_id;
    return 'ignored';
  end if;
  return public.apply_webhook_event(v_id);
end
$$;
comment on function public.receive_delivery_event(text, text, text, uuid, text, public.delivery_status, timestamptz, jsonb) is
  'Inbox entry point for a verified provider webhook: reconciles the run named by payload.run_key if its '
  'outcome was unknown, deduplicates on (provider, event id), then applies the event.';

create or replace function public.receive_message_status(
  p_provider text,
  p_event_id text,
  p_event_type text,
  p_supplier_id uuid,
  p_provider_message_id text,
  p_status public.delivery_status,
  p_occurred_at timestamptz,
  p_payload jsonb,
  p_run_key text,
  p_channel text,
  p_recipient text
) returns text
language plpgsql security definer
set search_path = ''
as $$
begin
  perform public.reconcile_unknown_run(
    p_supplier_id, p_run_key, p_provider, p_provider_message_id, p_event_type, p_channel, p_recipient);
  -- The run key is kept with the event: if it arrived while the send's outcome was still being recorded,
  -- sweep() finds it there once the run is held as unknown.
  return public.receive_delivery_event(
    p_provider, p_event_id, p_event_type, p_supplier_id, p_provider_message_id, p_status, p_occurred_at,
    p_payload || jsonb_strip_nulls(jsonb_build_object('run_key', p_run_key))
  );
end
$$;
comment on function public.receive_message_status(text, text, text, uuid, text, public.delivery_status, timestamptz, jsonb, text, text, text) is
  'Inbox entry point for a verified SMS/WhatsApp status callback: first reconciles the run it names '
  '(p_run_key) if that run''s send had an unknown outcome, then deduplicates and applies the status.';

create function public.lease_replay_safe(p_run public.module_runs) returns boolean
language sql stable
set search_path = ''
as $$
  select case p_run.module_type
    -- Twilio and WhatsApp have no idempotency key.
    when 'sms' then false
    -- Resend deduplicates on the run key; SendGrid and Mailgun do not, and failover may have reached them.
    when 'email' then not exists (
      select 1 from public.supplier_integrations si
      where si.supplier_id = p_run.supplier_id and si.provider in ('sendgrid', 'mailgun') and si.status = 'connected')
    else true
  end
$$;
comment on function public.lease_replay_safe(public.module_runs) is
  'Whether a run whose worker died mid-attempt may simply run again: false when the attempt may have '
  'sent through a provider without idempotency keys (then the run is held as unknown instead).';

create function public.unknown_deadline() returns interval
language sql stable
set search_path = ''
as $$ select coalesce(nullif(current_setting('journeys.unknown_deadline', true), '')::interval, interval '2 hours') $$;
comment on function public.unknown_deadline() is
  'How long an unknown outcome waits for evidence before the run is dead (setting journeys.unknown_deadline, '
  'default 2 hours: status callbacks come in seconds and provider webhooks retry for hours).';

create or replace function public.sweep() returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_expired integer;
  v_reconciled integer;
  v_given_up integer;
  v_kicked text[] := '{}';
  v_module public.module_type;
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

  foreach v_module in array enum_range(null::public.module_type) loop
    if exists (
      select 1 from public.module_runs
      where module_type = v_module and status = 'pending' and run_at <= now()
    ) and public.kick(v_module) then
      v_kicked := v_kicked || v_module::text;
    end if;
  end loop;
  return jsonb_build_object('expired_leases', v_expired, 'reconciled', v_reconciled,
    'unknown_given_up', v_given_up, 'kicked', to_jsonb(v_kicked));
end
$$;
comment on function public.sweep() is
  'Run by pg_cron: hands out runs whose lease expired (held as unknown when a replay could send twice, dead '
  'after max_attempts), reconciles unknown runs from events already in the inbox, gives up on unknown runs '
  'without evidence after unknown_deadline(), and kicks every module that has due runs.';

revoke execute on function
  public.reconcile_unknown_run(uuid, text, text, text, text, text, text),
  public.lease_replay_safe(public.module_runs),
  public.unknown_deadline(),
  public.receive_delivery_event(text, text, text, uuid, text, public.delivery_status, timestamptz, jsonb),
  public.receive_message_status(text, text, text, uuid, text, public.delivery_status, timestamptz, jsonb, text, text, text),
  public.sweep()
from public, anon, authenticated;

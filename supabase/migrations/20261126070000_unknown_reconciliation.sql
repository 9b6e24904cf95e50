-- Runs whose send had an unknown outcome (a timeout, a reset, a worker killed mid-send) are settled by
-- evidence, never by a blind resend: any provider event carrying the run key reconciles them (Twilio and
-- WhatsApp callbacks, SendGrid custom_args, Mailgun v: variables), including events that arrived before
-- the outcome was recorded; without evidence by a deadline the run is dead with a reason, and redrivable.
-- receive_delivery_event, receive_message_status and sweep (earlier migrations) call the functions below.

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

create function public.lease_replay_safe(p_run public.module_runs) returns boolean
language sql stable
set search_path = ''
as $$
  select case p_run.module_type
    -- Twilio and WhatsApp have no idempotency key.
    when 'sms' then false
    when 'crm' then true
    -- Resend deduplicates on the run key, unless the email was in a batch request (keyed by the batch:
    -- a later attempt is another batch); SendGrid and Mailgun do not, and failover may have reached them
    -- (every module emails through the one email channel). Whatever their health: they may have sent.
    else not exists (
      -- Marked after this attempt's claim (which set updated_at): an earlier attempt's mark does not count.
      select 1 from public.provider_batch_runs b where b.run_id = p_run.id and b.created_at >= p_run.updated_at
    ) and not exists (
      select 1 from public.supplier_integrations si
      where si.supplier_id = p_run.supplier_id and si.provider in ('sendgrid', 'mailgun'))
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

revoke execute on function
  public.reconcile_unknown_run(uuid, text, text, text, text, text, text),
  public.lease_replay_safe(public.module_runs),
  public.unknown_deadline()
from public, anon, authenticated;

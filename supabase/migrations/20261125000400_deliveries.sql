-- Delivery status from provider webhooks: inbox deduplication, statuses that never regress when
-- events arrive out of order, and suppression of addresses that bounced or complained.

create function public.delivery_status_rank(p_status public.delivery_status) returns integer
language sql immutable
set search_path = ''
as $$
  select case p_status
    when 'queued' then 0
    when 'sent' then 10
    when 'delivery_delayed' then 20
    when 'delivered' then 30
    when 'opened' then 40
    when 'clicked' then 50
    when 'failed' then 60
    when 'bounced' then 70
    when 'complained' then 80
  end
$$;
comment on function public.delivery_status_rank(public.delivery_status) is
  'Order of delivery statuses: a delivery only moves to a higher rank, so a late "sent" never undoes '
  '"delivered", and a bounce or complaint is final.';

create function public.apply_webhook_event(p_event_id bigint) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_event public.webhook_events;
  v_delivery public.deliveries;
  v_applied boolean;
begin
  select * into v_event from public.webhook_events where id = p_event_id for update;
  if v_event.processed_at is not null then
    return 'duplicate';
  end if;
  -- Pairs with the lock record_outcomes takes after writing deliveries (see there).
  perform pg_advisory_xact_lock(hashtextextended(v_event.provider || ':' || v_event.provider_message_id, 0));
  select * into v_delivery from public.deliveries
  where provider = v_event.provider and provider_message_id = v_event.provider_message_id
  for update;
  if not found then
    -- The send's outcome is not recorded yet: keep the event; record_outcomes applies it.
    return 'pending';
  end if;
  if v_delivery.supplier_id is distinct from v_event.supplier_id then
    update public.webhook_events set processed_at = now() where id = p_event_id;
    return 'foreign';
  end if;

  v_applied := public.delivery_status_rank(v_event.status) > public.delivery_status_rank(v_delivery.status);
  if v_applied then
    update public.deliveries set status = v_event.status, status_at = coalesce(v_event.occurred_at, now())
    where id = v_delivery.id;
  end if;
  insert into public.delivery_events (delivery_id, supplier_id, status, occurred_at, applied, webhook_event_id)
  values (v_delivery.id, v_delivery.supplier_id, v_event.status, coalesce(v_event.occurred_at, now()), v_applied, p_event_id);

  if v_event.status = 'complained'
     or (v_event.status = 'bounced' and coalesce(v_event.payload ->> 'bounce_type', '') <> 'Transient') then
    insert into public.suppressions (supplier_id, channel, address, reason)
    values (v_delivery.supplier_id, v_delivery.channel, lower(v_delivery.recipient), v_event.status::text)
    on conflict do nothing;
  end if;

  update public.webhook_events set processed_at = now() where id = p_event_id;
  return case when v_applied then 'applied' else 'stale' end;
end
$$;
comment on function public.apply_webhook_event(bigint) is
  'Applies one inbox event to its delivery: status moves only forward (history kept in delivery_events), '
  'a permanent bounce or a complaint suppresses the address. Returns applied, stale, pending, foreign or duplicate.';

create function public.receive_delivery_event(
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

revoke execute on function
  public.apply_webhook_event(bigint),
  public.receive_delivery_event(text, text, text, uuid, text, public.delivery_status, timestamptz, jsonb)
from public, anon, authenticated;

-- Cron: sweep every 10 seconds where pg_cron has second schedules (>= 1.5, as on hosted Supabase),
-- every minute otherwise.
do $$
declare
  v_version integer[];
begin
  if exists (select 1 from pg_catalog.pg_extension where extname = 'pg_cron') then
    select string_to_array(split_part(extversion, '-', 1), '.')::integer[] into v_version
    from pg_catalog.pg_extension where extname = 'pg_cron';
    perform cron.schedule(
      'module-runs-sweep',
      case when v_version >= array[1, 5] then '10 seconds' else '* * * * *' end,
      'select public.sweep()'
    );
  end if;
end
$$;

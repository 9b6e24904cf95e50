-- SMS and WhatsApp: couples' phone numbers in any national format (normalised to E.164 when sent, from
-- the couple's country), per-supplier quiet hours, consent and the WhatsApp 24-hour window per number,
-- message segments on deliveries, token buckets for providers' send rates, and reconciliation of sends
-- whose outcome was unknown from the status callbacks that carry their run key.

-- Couples -----------------------------------------------------------------------------------------

-- Phone numbers are kept as the vendor typed them ("07911 123456"); the sms module normalises them to
-- E.164 with the couple's country, so a UK couple marrying in Italy keeps their UK number.
alter table public.clients drop constraint clients_phone_check;
alter table public.clients add constraint clients_phone_check
  check (length(phone) between 3 and 40 and phone ~ '^[+0-9 ().\-]+$');
alter table public.clients add column country text check (country ~ '^[A-Z]{2}$');
comment on column public.clients.country is
  'ISO 3166-1 alpha-2 country of the couple''s phone number, used to read national-format numbers.';

-- Quiet hours -------------------------------------------------------------------------------------

alter table public.suppliers add column quiet_hours jsonb not null default '{"start": "21:00", "end": "08:00"}'
  check (
    jsonb_typeof(quiet_hours) = 'object'
    and public.is_local_time(quiet_hours ->> 'start')
    and public.is_local_time(quiet_hours ->> 'end')
    and quiet_hours ->> 'start' <> quiet_hours ->> 'end'
  );
comment on column public.suppliers.quiet_hours is
  'No SMS or WhatsApp from start to end ("HH:MM", may wrap past midnight) in the couple''s zone; runs '
  'falling inside are deferred to the end, never dropped.';

-- Consent and the WhatsApp window per number -------------------------------------------------------

create table public.messaging_contacts (
  supplier_id uuid not null references public.suppliers on delete cascade,
  channel text not null check (channel in ('sms', 'whatsapp')),
  address text not null check (address ~ '^\+[1-9][0-9]{6,14}$'),
  opted_in_at timestamptz,
  opted_out_at timestamptz,
  last_inbound_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (supplier_id, channel, address)
);
comment on table public.messaging_contacts is
  'Per supplier, channel and E.164 number: the latest opt-in (START, YES) and opt-out (STOP...) and the '
  'last inbound message (WhatsApp''s 24-hour customer-service window). An opt-out also puts the number '
  'on public.suppressions.';
alter table public.messaging_contacts enable row level security;
create policy messaging_contacts_member_read on public.messaging_contacts for select to authenticated
  using (public.is_supplier_member(supplier_id));
revoke insert, update, delete on public.messaging_contacts from anon, authenticated;

create function public.record_messaging_consent(
  p_supplier_id uuid,
  p_channel text,
  p_address text,
  p_opted_in boolean,
  p_at timestamptz
) returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_contact public.messaging_contacts;
begin
  insert into public.messaging_contacts (supplier_id, channel, address)
  values (p_supplier_id, p_channel, p_address)
  on conflict do nothing;
  select * into v_contact from public.messaging_contacts
  where supplier_id = p_supplier_id and channel = p_channel and address = p_address
  for update;
  -- Keywords can arrive out of order (webhook retries): only a newer choice than the last one counts.
  if p_at <= greatest(v_contact.opted_in_at, v_contact.opted_out_at) then
    return false;
  end if;
  if p_opted_in then
    update public.messaging_contacts set opted_in_at = p_at, updated_at = now()
    where supplier_id = p_supplier_id and channel = p_channel and address = p_address;
    delete from public.suppressions
    where supplier_id = p_supplier_id and channel = p_channel and address = p_address and reason = 'opted_out';
  else
    update public.messaging_contacts set opted_out_at = p_at, updated_at = now()
    where supplier_id = p_supplier_id and channel = p_channel and address = p_address;
    insert into public.suppressions (supplier_id, channel, address, reason)
    values (p_supplier_id, p_channel, p_address, 'opted_out')
    on conflict do nothing;
  end if;
  return true;
end
$$;
comment on function public.record_messaging_consent(uuid, text, text, boolean, timestamptz) is
  'Records an opt-in (START, UNSTOP, YES) or opt-out (STOP..., Twilio 21610) of a number at p_at. An '
  'opt-out suppresses the number on the channel; a later opt-in lifts that suppression (not a manual '
  'one). Older choices than the latest recorded are ignored; returns whether this one was applied.';

create function public.record_inbound_message(
  p_supplier_id uuid,
  p_channel text,
  p_address text,
  p_at timestamptz
) returns void
language sql security definer
set search_path = ''
as $$
  insert into public.messaging_contacts as c (supplier_id, channel, address, last_inbound_at)
  values (p_supplier_id, p_channel, p_address, p_at)
  on conflict (supplier_id, channel, address) do update
  set last_inbound_at = greatest(c.last_inbound_at, excluded.last_inbound_at), updated_at = now()
$$;
comment on function public.record_inbound_message(uuid, text, text, timestamptz) is
  'A couple messaged the supplier at p_at: opens or refreshes the WhatsApp 24-hour window (the latest wins).';

-- Segments on deliveries ----------------------------------------------------------------------------

alter table public.deliveries add column segments integer check (segments > 0);
alter table public.deliveries add column encoding text check (encoding in ('GSM-7', 'UCS-2'));
comment on column public.deliveries.segments is 'SMS segments billed (GSM-7: 160, or 153 per part; UCS-2: 70, or 67).';

create function public.on_deliveries_inserted() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- record_outcomes writes the run's result and its delivery in one statement; the result is visible
  -- here, after that statement.
  update public.deliveries d
  set segments = (r.result ->> 'segments')::integer, encoding = r.result ->> 'encoding'
  from new_rows n
  join public.module_runs r on r.id = n.run_id
  where d.id = n.id and n.channel = 'sms' and r.result ? 'segments';
  return null;
end
$$;
comment on function public.on_deliveries_inserted() is
  'Copies the segment count and encoding an SMS run reported (module_runs.result) onto its delivery.';
create trigger deliveries_20_segments after insert on public.deliveries
  referencing new table as new_rows
  for each statement execute function public.on_deliveries_inserted();

-- Reconciling unknown outcomes from status callbacks -------------------------------------------------

create function public.receive_message_status(
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

revoke execute on function
  public.record_messaging_consent(uuid, text, text, boolean, timestamptz),
  public.record_inbound_message(uuid, text, text, timestamptz),
  public.on_deliveries_inserted(),
  public.receive_message_status(text, text, text, uuid, text, public.delivery_status, timestamptz, jsonb, text, text, text)
from public, anon, authenticated;

-- What the sms module loads for a batch of claimed runs ------------------------------------------------

-- PL/pgSQL with a generic plan (as email_run_contexts() does): planned once per session, also behind the
-- transaction pooler, instead of once per batch for a statement with an array parameter.
create function public.sms_run_contexts(p_run_ids bigint[])
returns table (
  run_id integer, instance_status text, config jsonb, urgent boolean, couple_name text, phone text,
  country text, time_zone text, locale text, wedding_date text, venue text, client_custom jsonb, consent jsonb,
  supplier_name text, supplier_time_zone text, quiet_hours jsonb, twilio_settings jsonb, twilio_secret_id text,
  twilio_status text, twilio_integration_id text, twilio_status_reason text, twilio_status_since text,
  whatsapp_settings jsonb, whatsapp_secret_id text, whatsapp_status text, whatsapp_integration_id text,
  whatsapp_status_reason text, whatsapp_status_since text
)
language plpgsql stable
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  select r.id::integer, i.status::text, st.config, coalesce((st.timing ->> 'urgent')::boolean, false),
    c.couple_name, c.phone, c.country, c.time_zone, c.locale, c.wedding_date::text, c.venue, c.custom, c.consent,
    s.name, s.time_zone, s.quiet_hours,
    tw.settings, tw.secret_id::text, tw.status, tw.id::text, tw.status_reason, tw.status_since::text,
    wa.settings, wa.secret_id::text, wa.status, wa.id::text, wa.status_reason, wa.status_since::text
  from public.module_runs r
  join public.journey_instances i on i.id = r.journey_instance_id
  join public.clients c on c.id = i.client_id
  join public.suppliers s on s.id = r.supplier_id
  join public.journey_steps st on st.id = r.step_id
  left join public.supplier_integrations tw on tw.supplier_id = r.supplier_id and tw.provider = 'twilio'
  left join public.supplier_integrations wa on wa.supplier_id = r.supplier_id and wa.provider = 'whatsapp'
  where r.id = any (p_run_ids);
end
$$;
comment on function public.sms_run_contexts(bigint[]) is
  'Everything the sms module needs to send each claimed run: the couple''s number, country, zone and '
  'consent, the supplier''s quiet hours, and its Twilio and WhatsApp integrations with their health. Called by the '
  'module-sms function only.';
revoke execute on function public.sms_run_contexts(bigint[]) from public, anon, authenticated;

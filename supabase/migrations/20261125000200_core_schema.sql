-- Core tables: suppliers and their users, couples, journeys and steps, module runs (outbox and
-- ledger), deliveries, the webhook inbox, the integration-call audit, integrations and suppressions.
-- Row Level Security on every table: a supplier's users see only that supplier's rows; anon sees nothing.

create type public.module_type as enum ('email', 'sms', 'form', 'meeting', 'info', 'review', 'referral');
-- waiting: the run did its part and waits for an outside event (a form submission, a booking), with its
-- run_at as the deadline it wakes at ('infinity' for none). held: an integration it needs is disconnected.
create type public.run_status as enum (
  'pending', 'running', 'waiting', 'succeeded', 'skipped', 'dead', 'unknown', 'cancelled', 'held'
);
create type public.delivery_status as enum (
  'queued', 'sent', 'delivery_delayed', 'delivered', 'opened', 'clicked', 'failed', 'bounced', 'complained'
);
create type public.journey_instance_status as enum ('active', 'paused', 'completed', 'cancelled');

create function public.is_time_zone(tz text) returns boolean
language sql stable strict
set search_path = ''
as $$ select exists (select 1 from pg_catalog.pg_timezone_names where name = tz) $$;
comment on function public.is_time_zone(text) is 'True when tz is an IANA zone name Postgres knows (abbreviations are refused).';

create function public.is_local_time(t text) returns boolean
language sql immutable strict
set search_path = ''
as $$ select t ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' $$;

create table public.suppliers (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(name) between 1 and 200),
  time_zone text not null default 'UTC' check (public.is_time_zone(time_zone)),
  business_hours jsonb not null default '{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}'
    check (
      jsonb_typeof(business_hours -> 'days') = 'array'
      and public.is_local_time(business_hours ->> 'start')
      and public.is_local_time(business_hours ->> 'end')
      and business_hours ->> 'start' < business_hours ->> 'end'
    ),
  brand jsonb not null default '{}' check (jsonb_typeof(brand) = 'object'),
  email_from text check (email_from ~ '^([^<>]+ <)?[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+>?$'),
  reply_to text check (reply_to ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  alert_email text check (alert_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  created_at timestamptz not null default now()
);
comment on table public.suppliers is 'Wedding vendors (photographers, venues, planners): the tenants.';
comment on column public.suppliers.alert_email is
  'The vendor''s own address for alerts outside the app (an integration disconnected, dead letters), sent '
  'through the platform''s email provider, never the vendor''s own (it may be the broken one).';

create table public.supplier_members (
  supplier_id uuid not null references public.suppliers on delete cascade,
  user_id uuid not null references auth.users on delete cascade,
  role text not null default 'owner' check (role in ('owner', 'staff')),
  primary key (supplier_id, user_id)
);
create index supplier_members_user on public.supplier_members (user_id);

create function public.is_supplier_member(p_supplier_id uuid) returns boolean
language sql stable security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.supplier_members m
    where m.supplier_id = p_supplier_id and m.user_id = (select auth.uid())
  )
$$;
comment on function public.is_supplier_member(uuid) is 'RLS predicate: the signed-in user belongs to the supplier.';

create table public.clients (
  id uuid primary key default gen_random_uuid(),
  supplier_id uuid not null references public.suppliers on delete cascade,
  couple_name text not null check (length(couple_name) between 1 and 200),
  email text check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  phone text check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  time_zone text check (public.is_time_zone(time_zone)),
  locale text not null default 'en' check (locale ~ '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$'),
  wedding_date date,
  booking_date date,
  venue text,
  consent jsonb not null default '{}' check (jsonb_typeof(consent) = 'object'),
  custom jsonb not null default '{}' check (jsonb_typeof(custom) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (id, supplier_id)
);
comment on table public.clients is 'Couples: contacts, time zone, locale, wedding date and consent.';
create index clients_supplier on public.clients (supplier_id);

create table public.journeys (
  id uuid primary key default gen_random_uuid(),
  supplier_id uuid not null references public.suppliers on delete cascade,
  name text not null check (length(name) between 1 and 200),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  unique (id, supplier_id)
);
create index journeys_supplier on public.journeys (supplier_id);

create function public.step_config_is_valid(p_module public.module_type, p_config jsonb) returns boolean
language sql immutable
set search_path = ''
as $$
  select jsonb_typeof(p_config) = 'object' and case p_module
    when 'email' then jsonb_typeof(p_config -> 'template') = 'string'
      and coalesce(p_config ->> 'send_time', 'immediate') in ('immediate', 'business_hours')
    else true
  end
$$;
comment on function public.step_config_is_valid(public.module_type, jsonb) is
  'Cheap shape check of a step config; the full per-module validation is the zod schema in shared/modules.';

create function public.step_timing_is_valid(p_timing jsonb) returns boolean
language sql immutable
set search_path = ''
as $$
  select jsonb_typeof(p_timing) = 'object'
    and coalesce(p_timing ->> 'anchor', 'previous') in ('previous', 'booking_date', 'wedding_date')
    and coalesce(jsonb_typeof(p_timing -> 'offset_days'), 'number') = 'number'
    and coalesce(jsonb_typeof(p_timing -> 'offset_minutes'), 'number') = 'number'
    and (p_timing -> 'at' is null or public.is_local_time(p_timing ->> 'at'))
    and coalesce(p_timing ->> 'if_past', 'send_now') in ('send_now', 'skip')
$$;

create table public.journey_steps (
  id uuid primary key default gen_random_uuid(),
  journey_id uuid not null,
  supplier_id uuid not null,
  position integer not null check (position > 0),
  module_type public.module_type not null,
  config jsonb not null default '{}',
  timing jsonb not null default '{}',
  created_at timestamptz not null default now(),
  foreign key (journey_id, supplier_id) references public.journeys (id, supplier_id) on delete cascade,
  unique (journey_id, position),
  constraint journey_steps_config_valid check (public.step_config_is_valid(module_type, config)),
  constraint journey_steps_timing_valid check (public.step_timing_is_valid(timing))
);
comment on column public.journey_steps.timing is
  '{anchor: previous|booking_date|wedding_date, offset_days, offset_minutes, at: "HH:MM", if_past: send_now|skip, urgent}';

create table public.journey_instances (
  id uuid primary key default gen_random_uuid(),
  journey_id uuid not null,
  supplier_id uuid not null,
  client_id uuid not null,
  current_step_id uuid references public.journey_steps on delete set null,
  status public.journey_instance_status not null default 'active',
  started_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz,
  foreign key (journey_id, supplier_id) references public.journeys (id, supplier_id) on delete cascade,
  foreign key (client_id, supplier_id) references public.clients (id, supplier_id) on delete cascade
);
create index journey_instances_client on public.journey_instances (client_id);
create index journey_instances_supplier on public.journey_instances (supplier_id);

-- Fair share between suppliers. A run's place in the claim order is its run_at plus its fair offset: the
-- n-th run of one supplier and module that came due together (one statement's bulk, a shared 09:00 anchor)
-- is n × 10 ms later than the first, so another supplier's run due meanwhile is claimed before the rest of
-- the pile (claim_runs). module_runs.fair_at adds the offset in UTC, which no time zone setting changes: an
-- expression of immutable built-ins, so no function runs on each insert and update of a run.
-- No SET clause: Postgres inlines a SQL function only without one, and plan_runs calls this once per run
-- planned (with it, the body was parsed and run through fmgr_sql for every row). It is not security
-- definer and names no table: only built-ins, resolved in its callers' search_path (theirs is '').
create function public.fair_offset_ms(p_rank bigint) returns integer
language sql immutable parallel safe
as $$ select (least(greatest(p_rank, 0), 8640000) * 10)::integer $$;
comment on function public.fair_offset_ms(bigint) is
  'The fair offset of a supplier''s run that is p_rank-th (from 0) in a pile due together: 10 ms a rank, '
  'capped at a day (plan_runs, sweep_fair_order).';

create table public.module_runs (
  id bigint generated always as identity primary key,
  supplier_id uuid not null references public.suppliers on delete cascade,
  journey_instance_id uuid not null references public.journey_instances on delete cascade,
  -- A deleted step's runs stay in the ledger (history, deliveries) without it: set null, never cascade.
  step_id uuid references public.journey_steps on delete set null,
  module_type public.module_type not null,
  status public.run_status not null default 'pending',
  run_at timestamptz not null,
  attempts integer not null default 0,
  max_attempts integer not null default 5 check (max_attempts > 0),
  lease_expires_at timestamptz,
  idempotency_key text not null unique,
  last_error jsonb,
  provider text,
  provider_message_id text,
  result jsonb,
  -- Kept by plan_runs (a statement's runs of one supplier) and sweep_fair_order (a coming pile-up).
  fair_offset_ms integer not null default 0 check (fair_offset_ms >= 0),
  fair_at timestamptz not null
    generated always as (((run_at at time zone 'UTC') + fair_offset_ms * interval '1 millisecond') at time zone 'UTC') stored,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz
);
comment on table public.module_runs is
  'The outbox and ledger: one row per step execution. Written in the transaction of the step transition; '
  'claimed by module functions with FOR UPDATE SKIP LOCKED and a lease.';
comment on column public.module_runs.idempotency_key is
  'Stable across retries; sent to providers as their idempotency key or request tag.';
-- The claim reads this index from its start and stops at run_at > now(): cost does not grow with
-- runs scheduled in the future.
create index module_runs_due on public.module_runs (module_type, run_at) where status = 'pending';
-- The claim's first lane: due runs in fair order (fair_at <= now() implies run_at <= now()).
create index module_runs_fair on public.module_runs (module_type, fair_at) where status = 'pending';
create index module_runs_leases on public.module_runs (lease_expires_at) where status = 'running';
create index module_runs_waiting on public.module_runs (run_at) where status = 'waiting';
create index module_runs_instance_step on public.module_runs (journey_instance_id, step_id);
create index module_runs_supplier on public.module_runs (supplier_id, created_at);

-- A first attempt's email sent in a provider batch request, marked before the request: a worker that dies
-- after it may have sent under the batch's key, which no later attempt would repeat (lease_replay_safe).
-- One small row per email rather than a new version of the run with its index entries; the sweep prunes
-- marks after an hour (leases last minutes). No foreign key: a mark outliving its run is pruned the same.
create table public.provider_batch_runs (
  run_id bigint primary key,
  batch_key text not null,
  created_at timestamptz not null default now()
);
create index provider_batch_runs_created on public.provider_batch_runs (created_at);
alter table public.provider_batch_runs enable row level security;
create policy provider_batch_runs_pipeline_only on public.provider_batch_runs for all to authenticated
  using (false) with check (false);
revoke all on public.provider_batch_runs from anon, authenticated;

create table public.deliveries (
  id bigint generated always as identity primary key,
  run_id bigint not null references public.module_runs on delete cascade,
  supplier_id uuid not null references public.suppliers on delete cascade,
  channel text not null check (channel in ('email', 'sms', 'whatsapp')),
  provider text not null,
  provider_message_id text not null,
  recipient text not null,
  status public.delivery_status not null default 'sent',
  status_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  unique (provider, provider_message_id)
);
create index deliveries_run on public.deliveries (run_id);
create index deliveries_supplier on public.deliveries (supplier_id, created_at);

create table public.webhook_events (
  id bigint generated always as identity primary key,
  provider text not null,
  event_id text not null,
  event_type text not null,
  supplier_id uuid references public.suppliers on delete cascade,
  provider_message_id text,
  status public.delivery_status,
  occurred_at timestamptz,
  payload jsonb not null default '{}',
  received_at timestamptz not null default now(),
  processed_at timestamptz,
  unique (provider, event_id)
);
comment on table public.webhook_events is
  'Inbox of provider webhooks, deduplicated on the provider''s event id. An event for a message whose '
  'delivery is not recorded yet stays unprocessed and is applied when the delivery is written.';
create index webhook_events_unprocessed on public.webhook_events (provider, provider_message_id)
  where processed_at is null;
create index webhook_events_supplier on public.webhook_events (supplier_id, received_at);

create table public.delivery_events (
  id bigint generated always as identity primary key,
  delivery_id bigint not null references public.deliveries on delete cascade,
  supplier_id uuid not null references public.suppliers on delete cascade,
  status public.delivery_status not null,
  occurred_at timestamptz not null,
  applied boolean not null,
  webhook_event_id bigint references public.webhook_events on delete set null,
  created_at timestamptz not null default now()
);
comment on column public.delivery_events.applied is
  'False when the event arrived out of order and did not move the delivery''s status.';
create index delivery_events_delivery on public.delivery_events (delivery_id);
create index delivery_events_supplier on public.delivery_events (supplier_id);

create table public.integration_calls (
  id bigint generated always as identity primary key,
  supplier_id uuid references public.suppliers on delete cascade,
  run_id bigint references public.module_runs on delete cascade,
  provider text not null,
  operation text not null,
  http_status integer,
  duration_ms integer not null,
  error_code text,
  attempt integer not null,
  outcome text not null,
  created_at timestamptz not null default now()
);
comment on table public.integration_calls is 'Audit of every provider call: ids, codes and timings only, never bodies or secrets.';
create index integration_calls_run on public.integration_calls (run_id);
create index integration_calls_supplier on public.integration_calls (supplier_id, created_at);

create table public.supplier_integrations (
  id uuid primary key default gen_random_uuid(),
  supplier_id uuid not null references public.suppliers on delete cascade,
  provider text not null check (provider ~ '^[a-z][a-z0-9_]*$'),
  settings jsonb not null default '{}' check (jsonb_typeof(settings) = 'object'),
  secret_id uuid,
  status text not null default 'connected' check (status in ('connected', 'failing', 'disconnected')),
  status_code text,
  status_reason text,
  status_since timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (supplier_id, provider)
);
comment on column public.supplier_integrations.secret_id is
  'Vault secret (vault.secrets.id) holding this integration''s credentials as JSON; read only by the service role.';
comment on column public.supplier_integrations.status is
  'Health the pipeline keeps true: connected; failing (the account''s circuit is open after transient '
  'errors); disconnected (the provider rejected the credentials: runs that need it are held until they are '
  'replaced). status_code and status_reason say why, status_since since when.';

create table public.email_templates (
  id uuid primary key default gen_random_uuid(),
  supplier_id uuid not null references public.suppliers on delete cascade,
  key text not null check (key ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  subject text not null,
  html text not null,
  text text,
  created_at timestamptz not null default now(),
  unique (supplier_id, key)
);

create table public.suppressions (
  supplier_id uuid not null references public.suppliers on delete cascade,
  channel text not null check (channel in ('email', 'sms', 'whatsapp')),
  address text not null check (address = lower(address)),
  reason text not null check (reason in ('bounced', 'complained', 'unsubscribed', 'opted_out', 'manual')),
  created_at timestamptz not null default now(),
  primary key (supplier_id, channel, address)
);
comment on table public.suppressions is 'Addresses a supplier must not message again on a channel, with why.';

create table public.dispatch_state (
  module_type public.module_type primary key,
  kicked_at timestamptz not null default '-infinity'
);
comment on table public.dispatch_state is 'When each module function was last kicked: kicks are coalesced across transactions.';
insert into public.dispatch_state (module_type)
select unnest(enum_range(null::public.module_type));

-- Row Level Security: members of a supplier see that supplier's rows; anon sees nothing.
alter table public.suppliers enable row level security;
alter table public.supplier_members enable row level security;
alter table public.clients enable row level security;
alter table public.journeys enable row level security;
alter table public.journey_steps enable row level security;
alter table public.journey_instances enable row level security;
alter table public.module_runs enable row level security;
alter table public.deliveries enable row level security;
alter table public.webhook_events enable row level security;
alter table public.delivery_events enable row level security;
alter table public.integration_calls enable row level security;
alter table public.supplier_integrations enable row level security;
alter table public.email_templates enable row level security;
alter table public.suppressions enable row level security;
alter table public.dispatch_state enable row level security;

create policy suppliers_member_read on public.suppliers for select to authenticated
  using (public.is_supplier_member(id));
create policy suppliers_member_update on public.suppliers for update to authenticated
  using (public.is_supplier_member(id)) with check (public.is_supplier_member(id));
create policy supplier_members_own on public.supplier_members for select to authenticated
  using (user_id = (select auth.uid()));

-- Tables the vendor's users manage.
create policy clients_member on public.clients for all to authenticated
  using (public.is_supplier_member(supplier_id)) with check (public.is_supplier_member(supplier_id));
create policy journeys_member on public.journeys for all to authenticated
  using (public.is_supplier_member(supplier_id)) with check (public.is_supplier_member(supplier_id));
create policy journey_steps_member on public.journey_steps for all to authenticated
  using (public.is_supplier_member(supplier_id)) with check (public.is_supplier_member(supplier_id));
create policy journey_instances_member on public.journey_instances for all to authenticated
  using (public.is_supplier_member(supplier_id)) with check (public.is_supplier_member(supplier_id));
create policy email_templates_member on public.email_templates for all to authenticated
  using (public.is_supplier_member(supplier_id)) with check (public.is_supplier_member(supplier_id));
create policy suppressions_member on public.suppressions for all to authenticated
  using (public.is_supplier_member(supplier_id)) with check (public.is_supplier_member(supplier_id));

-- Tables the pipeline writes; the vendor's users only read them.
create policy module_runs_member_read on public.module_runs for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy deliveries_member_read on public.deliveries for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy delivery_events_member_read on public.delivery_events for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy webhook_events_member_read on public.webhook_events for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy integration_calls_member_read on public.integration_calls for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy supplier_integrations_member_read on public.supplier_integrations for select to authenticated
  using (public.is_supplier_member(supplier_id));
-- dispatch_state: no policy, so only the service role and the pipeline's own functions touch it.

revoke all on public.dispatch_state from anon, authenticated;
revoke insert, update, delete on public.module_runs, public.deliveries, public.delivery_events,
  public.webhook_events, public.integration_calls, public.supplier_integrations from anon, authenticated;

-- Email across providers: the order a supplier's email providers are tried in, a circuit breaker per
-- provider account and the one rate limiter of every provider account and sender, shared by every function
-- instance (with status views), one-click
-- unsubscribes, Mailgun webhook tokens remembered against replays, and the email step's send_time options.

-- Failover order -----------------------------------------------------------------------------------

alter table public.supplier_integrations
  add column priority smallint not null default 100 check (priority between 1 and 1000);
comment on column public.supplier_integrations.priority is
  'Order in which a supplier''s providers of one channel are tried, lowest first (email: the primary, '
  'then the failovers).';

-- Circuit breaker per provider account ---------------------------------------------------------------

create table public.provider_accounts (
  provider text not null check (provider ~ '^[a-z][a-z0-9_]*$'),
  account text not null check (length(account) between 1 and 200),
  supplier_id uuid references public.suppliers on delete cascade,
  circuit text not null default 'closed' check (circuit in ('closed', 'open', 'half_open')),
  consecutive_failures integer not null default 0,
  opened_count integer not null default 0,
  opened_at timestamptz,
  open_until timestamptz,
  probe_until timestamptz,
  last_errors jsonb not null default '[]' check (jsonb_typeof(last_errors) = 'array'),
  last_success_at timestamptz,
  last_failure_at timestamptz,
  updated_at timestamptz not null default now(),
  primary key (provider, account)
);
comment on table public.provider_accounts is
  'One row per provider account (an API key, or several keys sharing one limit): its circuit breaker '
  '(closed / open / half_open, with the last errors), shared by every function instance; its send rate is '
  'its bucket in public.rate_limits. Written only by provider_gate and provider_report.';
comment on column public.provider_accounts.probe_until is
  'While half-open, one request probes the provider; others wait until it reports or this passes.';
create index provider_accounts_supplier on public.provider_accounts (supplier_id);

alter table public.provider_accounts enable row level security;
create policy provider_accounts_member_read on public.provider_accounts for select to authenticated
  using (public.is_supplier_member(supplier_id));
revoke insert, update, delete on public.provider_accounts from anon, authenticated;

-- One rate limiter for every provider account and sender ---------------------------------------------

create table public.rate_limits (
  provider text not null check (provider ~ '^[a-z][a-z0-9_]*$'),
  account text not null check (length(account) between 1 and 200),
  scope text not null default '' check (length(scope) <= 300),
  tokens double precision not null,
  per_second double precision not null check (per_second > 0),
  updated_at timestamptz not null,
  primary key (provider, account, scope)
);
comment on table public.rate_limits is
  'Token buckets shared by every function instance, one per provider account and scope ('''' is the '
  'account itself; e.g. resend / <team>, twilio / <account> / sender:<number>, whatsapp / <number id> / '
  'pair:<recipient>, tave / <integration>); see take_rate_limits. Negative tokens are a debt: sends '
  'reserved ahead, or a provider''s Retry-After (report_rate_limited).';
comment on column public.rate_limits.per_second is 'The refill rate the bucket was last taken at.';
alter table public.rate_limits enable row level security;
-- Internal to the pipeline: stated explicitly, no user reads or writes buckets.
create policy rate_limits_pipeline_only on public.rate_limits for all to authenticated using (false) with check (false);
revoke all on public.rate_limits from anon, authenticated;

create function public.take_rate_limits(p_buckets jsonb, p_reserve_s double precision default 0)
returns double precision
language plpgsql security definer
set search_path = ''
as $$
declare
  v_now timestamptz := clock_timestamp();
  v_wait double precision := 0;
  v_providers text[] := '{}';
  v_accounts text[] := '{}';
  v_scopes text[] := '{}';
  v_left double precision[] := '{}';
  v_rates double precision[] := '{}';
  v_refilled double precision;
  b record;
begin
  -- Sorted keys: concurrent callers lock buckets in the same order and cannot deadlock.
  for b in
    select x.provider, x.account, coalesce(x.scope, '') as scope, x.cost, x.per_second, x.burst
    from jsonb_to_recordset(p_buckets)
      as x(provider text, account text, scope text, cost double precision, per_second double precision,
           burst double precision)
    order by x.provider, x.account, coalesce(x.scope, '')
  loop
    insert into public.rate_limits (provider, account, scope, tokens, per_second, updated_at)
    values (b.provider, b.account, b.scope, b.burst, b.per_second, v_now)
    on conflict do nothing;
    select least(b.burst, r.tokens + extract(epoch from v_now - r.updated_at) * b.per_second) into v_refilled
    from public.rate_limits r where (r.provider, r.account, r.scope) = (b.provider, b.account, b.scope)
    for update;
    -- A cost above the burst (a long message on a 1 segment/s number) is let through on a full bucket
    -- and leaves the bucket in debt, which later callers wait out.
    v_wait := greatest(v_wait, (least(b.cost, b.burst) - v_refilled) / b.per_second);
    v_providers := v_providers || b.provider;
    v_accounts := v_accounts || b.account;
    v_scopes := v_scopes || b.scope;
    v_left := v_left || (v_refilled - b.cost);
    v_rates := v_rates || b.per_second;
  end loop;
  if v_wait > coalesce(p_reserve_s, 0) then
    return v_wait;
  end if;
  -- Taken now, or reserved: the caller goes in v_wait seconds and the buckets owe the tokens meanwhile,
  -- so concurrent callers queue behind it (a theoretical arrival time) instead of racing for the refill.
  update public.rate_limits r set tokens = t.tokens, per_second = t.per_second, updated_at = v_now
  from unnest(v_providers, v_accounts, v_scopes, v_left, v_rates) as t(provider, account, scope, tokens, per_second)
  where (r.provider, r.account, r.scope) = (t.provider, t.account, t.scope);
  return v_wait;
end
$$;
comment on function public.take_rate_limits(jsonb, double precision) is
  'Takes tokens from several buckets at once ([{provider, account, scope, cost, per_second, burst}]): all '
  'or none. Returns the seconds until every bucket can pay: when that is at most p_reserve_s the tokens are '
  'taken (reserved; the caller goes after that wait), else nothing is taken. A cost of 0 only waits out a debt.';
revoke execute on function public.take_rate_limits(jsonb, double precision) from public, anon, authenticated;

create function public.report_rate_limited(p_buckets jsonb, p_retry_after_s double precision) returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  v_now timestamptz := clock_timestamp();
  b record;
begin
  if p_retry_after_s is null or p_retry_after_s < 0 then
    raise exception 'Cannot report a rate limit: retry_after_s must be 0 or more, not %', p_retry_after_s
      using errcode = '22023';
  end if;
  for b in
    select x.provider, x.account, coalesce(x.scope, '') as scope, x.per_second
    from jsonb_to_recordset(p_buckets) as x(provider text, account text, scope text, per_second double precision)
    order by x.provider, x.account, coalesce(x.scope, '')
  loop
    -- The bucket owes Retry-After's worth of tokens: the next caller, on any instance, waits it out. A
    -- bucket never taken yet (or a rate not given) counts one token a second.
    insert into public.rate_limits as r (provider, account, scope, tokens, per_second, updated_at)
    values (b.provider, b.account, b.scope, -p_retry_after_s * coalesce(b.per_second, 1), coalesce(b.per_second, 1), v_now)
    on conflict (provider, account, scope) do update
    set tokens = least(
          r.tokens + extract(epoch from v_now - r.updated_at) * r.per_second,
          -p_retry_after_s * coalesce(b.per_second, r.per_second)),
        per_second = coalesce(b.per_second, r.per_second),
        updated_at = v_now;
  end loop;
end
$$;
comment on function public.report_rate_limited(jsonb, double precision) is
  'A provider answered 429 (or its own rate-limit answer) for these buckets ([{provider, account, scope, '
  'per_second}]): each is put in debt for p_retry_after_s, so take_rate_limits makes every caller wait '
  'until the provider said it may retry. Never lessens a debt already owed.';
revoke execute on function public.report_rate_limited(jsonb, double precision) from public, anon, authenticated;

create function public.rate_limit_debt_s(p_provider text, p_account text, p_scope text default '')
returns double precision
language sql stable
set search_path = ''
as $$
  select coalesce((
    select greatest(0, -r.tokens / r.per_second - extract(epoch from clock_timestamp() - r.updated_at))
    from public.rate_limits r where (r.provider, r.account, r.scope) = (p_provider, p_account, p_scope)
  ), 0)
$$;
comment on function public.rate_limit_debt_s(text, text, text) is
  'Seconds until a bucket is out of debt (a Retry-After, or sends reserved ahead); 0 when it is not.';
revoke execute on function public.rate_limit_debt_s(text, text, text) from public, anon, authenticated;

create view public.rate_limit_status with (security_invoker = true) as
select r.provider, r.account, r.scope, r.per_second, r.tokens,
  case when d.s > 0 then clock_timestamp() + make_interval(secs => d.s) end as limited_until,
  r.updated_at
from public.rate_limits r, lateral (select public.rate_limit_debt_s(r.provider, r.account, r.scope) as s) d;
comment on view public.rate_limit_status is
  'Every rate-limit bucket (provider account, sender, recipient pair) with its rate and limited_until: '
  'until then every caller waits (a provider''s Retry-After, or sends reserved ahead); null when nobody '
  'waits. Operators only.';
revoke all on public.rate_limit_status from public, anon, authenticated;

create function public.provider_gate(
  p_provider text,
  p_account text,
  p_supplier_id uuid,
  p_interval_s double precision,
  p_max_wait_s double precision,
  out decision text,
  out wait_s double precision,
  out circuit text,
  out consecutive_failures integer
)
language plpgsql security definer
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  v_now timestamptz := clock_timestamp();
  v_row public.provider_accounts;
  v_circuit text;
  v_limited boolean := coalesce(p_interval_s, 0) > 0;
begin
  -- The common case (closed circuit) reads the account without locking it: the row lock serialised every
  -- send of an account (7.8 ms per call at concurrency 64, and a commit that must flush WAL). The send rate
  -- is the account's bucket in public.rate_limits: one token per request, the next request reserved
  -- p_interval_s after the last; an account without a rate only waits out a 429's Retry-After (read only).
  select * into v_row from public.provider_accounts a
  where a.provider = p_provider and a.account = p_account;
  if not found then
    insert into public.provider_accounts (provider, account, supplier_id)
    values (p_provider, p_account, p_supplier_id)
    on conflict do nothing;
    select * into v_row from public.provider_accounts a
    where a.provider = p_provider and a.account = p_account;
  end if;
  consecutive_failures := v_row.consecutive_failures;
  v_circuit := v_row.circuit;

  if v_circuit <> 'closed' or v_row.probe_until is not null then
    select * into v_row from public.provider_accounts a
    where a.provider = p_provider and a.account = p_account
    for update;
    v_circuit := v_row.circuit;
    consecutive_failures := v_row.consecutive_failures;
    if v_circuit = 'open' then
      if v_row.open_until > v_now then
        decision := 'open';
        circuit := v_circuit;
        wait_s := extract(epoch from v_row.open_until - v_now);
        return;
      end if;
      v_circuit := 'half_open';
    end if;
    if v_circuit = 'half_open' and v_row.probe_until > v_now then
      decision := 'open';
      circuit := v_circuit;
      wait_s := extract(epoch from v_row.probe_until - v_now);
      return;
    end if;
  end if;
  circuit := v_circuit;

  wait_s := case
    when v_limited then public.take_rate_limits(jsonb_build_array(jsonb_build_object(
      'provider', p_provider, 'account', p_account, 'cost', 1, 'per_second', 1 / p_interval_s, 'burst', 1)),
      p_max_wait_s)
    else public.rate_limit_debt_s(p_provider, p_account)
  end;
  if wait_s > p_max_wait_s then
    decision := 'wait';
    return;
  end if;
  decision := 'send';
  if v_circuit <> 'closed' or v_row.probe_until is not null then
    update public.provider_accounts
    set circuit = v_circuit,
        -- The probe may take as long as a provider call; provider_report releases it sooner.
        probe_until = case when v_circuit = 'half_open' then v_now + make_interval(secs => wait_s + 60) end,
        updated_at = v_now
    where provider = p_provider and account = p_account;
  end if;
end
$$;
comment on function public.provider_gate(text, text, uuid, double precision, double precision) is
  'Asks to send one request through a provider account. decision = send: go after wait_s seconds (a token '
  'of the account''s bucket in public.rate_limits is reserved, so concurrent instances space their requests '
  'p_interval_s apart); wait: the bucket cannot pay within p_max_wait_s (nothing is reserved); open: the '
  'circuit is open (or a half-open probe is in flight) for wait_s more seconds. An open circuit whose '
  'cooldown passed lets exactly one probe through.';

create function public.provider_report(
  p_provider text,
  p_account text,
  p_result text,
  p_error jsonb default null,
  p_retry_after_s double precision default null,
  p_failure_threshold integer default 3,
  p_cooldown_s double precision default 30
) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_now timestamptz := clock_timestamp();
  v_row public.provider_accounts;
  v_errors jsonb;
begin
  if p_result not in ('success', 'failure', 'rate_limited') then
    raise exception 'Cannot report on provider %: result must be success, failure or rate_limited, not %',
      p_provider, p_result using errcode = '22023';
  end if;
  select * into v_row from public.provider_accounts
  where provider = p_provider and account = p_account
  for update;
  if not found then
    return null;
  end if;
  -- Newest first, five at most (the list held five before this one).
  v_errors := (jsonb_build_array(coalesce(p_error, '{}') || jsonb_build_object('at', v_now)) || v_row.last_errors) - 5;

  if p_result = 'success' then
    update public.provider_accounts
    set circuit = 'closed', consecutive_failures = 0, opened_count = 0, open_until = null,
        probe_until = null, last_success_at = v_now, updated_at = v_now
    where provider = p_provider and account = p_account;
    return 'closed';
  elsif p_result = 'rate_limited' then
    -- The provider said when: every instance's next request through this account waits for it.
    perform public.report_rate_limited(
      jsonb_build_array(jsonb_build_object('provider', p_provider, 'account', p_account)),
      greatest(coalesce(p_retry_after_s, 1), 0));
    update public.provider_accounts
    set probe_until = null,
        last_errors = v_errors,
        updated_at = v_now
    where provider = p_provider and account = p_account;
    return v_row.circuit;
  end if;

  v_row.consecutive_failures := v_row.consecutive_failures + 1;
  if v_row.circuit = 'open' then
    -- A request already in flight when the circuit opened failed too: it is no new opening. Counting it
    -- as one doubled the cooldown per in-flight failure, up to the ten-minute cap within one outage.
    update public.provider_accounts
    set consecutive_failures = v_row.consecutive_failures, last_failure_at = v_now,
        last_errors = v_errors, updated_at = v_now
    where provider = p_provider and account = p_account;
    return 'open';
  end if;
  if v_row.circuit = 'half_open' or v_row.consecutive_failures >= p_failure_threshold then
    -- Each opening in a row doubles the cooldown, up to ten minutes.
    update public.provider_accounts
    set circuit = 'open', consecutive_failures = v_row.consecutive_failures,
        opened_count = opened_count + 1, opened_at = v_now,
        open_until = v_now + make_interval(secs => least(600, p_cooldown_s * power(2, least(opened_count, 10)))),
        probe_until = null, last_failure_at = v_now,
        last_errors = v_errors,
        updated_at = v_now
    where provider = p_provider and account = p_account;
    return 'open';
  end if;
  update public.provider_accounts
  set consecutive_failures = v_row.consecutive_failures, last_failure_at = v_now,
      last_errors = v_errors,
      updated_at = v_now
  where provider = p_provider and account = p_account;
  return v_row.circuit;
end
$$;
comment on function public.provider_report(text, text, text, jsonb, double precision, integer, double precision) is
  'Reports how a request through a provider account ended: success closes the circuit; failure (5xx, '
  'no answer) counts towards opening it (p_failure_threshold in a row, or any failure of a half-open probe), '
  'for p_cooldown_s doubling per opening in a row; rate_limited puts the account''s bucket in '
  'public.rate_limits in debt for Retry-After. Keeps the last five errors. Returns the circuit state.';

create view public.provider_account_status with (security_invoker = true) as
select provider, account, supplier_id,
  case
    when circuit = 'open' and open_until <= now() then 'half_open'
    else circuit
  end as circuit,
  consecutive_failures, opened_at, open_until, last_success_at, last_failure_at,
  last_errors, updated_at
from public.provider_accounts;
comment on view public.provider_account_status is
  'Circuit breaker state of each provider account, with its last errors (codes and reasons, no message '
  'content). Row Level Security of provider_accounts applies. Send rates: public.rate_limit_status.';

-- Suppressions: one list across providers ------------------------------------------------------------

create function public.unsubscribe_run(p_supplier_id uuid, p_run_id bigint) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_address text;
begin
  -- The address the email went to (the couple may have changed theirs since), else the couple's.
  select lower(coalesce(d.recipient, c.email)) into v_address
  from public.module_runs r
  join public.journey_instances i on i.id = r.journey_instance_id
  join public.clients c on c.id = i.client_id
  left join public.deliveries d on d.run_id = r.id and d.channel = 'email'
  where r.id = p_run_id and r.supplier_id = p_supplier_id
  order by d.id desc nulls last
  limit 1;
  if v_address is null then
    return 'not_found';
  end if;
  insert into public.suppressions (supplier_id, channel, address, reason)
  values (p_supplier_id, 'email', v_address, 'unsubscribed')
  on conflict do nothing;
  return case when found then 'unsubscribed' else 'already_suppressed' end;
end
$$;
comment on function public.unsubscribe_run(uuid, bigint) is
  'One-click unsubscribe (RFC 8058) from the email of a run: suppresses the address it went to for the '
  'supplier''s email. Returns unsubscribed, already_suppressed or not_found.';

create function public.suppress_address(p_supplier_id uuid, p_channel text, p_address text, p_reason text)
returns boolean
language sql security definer
set search_path = ''
as $$
  insert into public.suppressions (supplier_id, channel, address, reason)
  values (p_supplier_id, p_channel, lower(p_address), p_reason)
  on conflict do nothing
  returning true
$$;
comment on function public.suppress_address(uuid, text, text, text) is
  'Adds an address to a supplier''s suppression list (e.g. a provider''s unsubscribe event); an earlier '
  'entry and its reason are kept. True when it was added.';

-- Mailgun webhook tokens ------------------------------------------------------------------------------

create table public.webhook_tokens (
  provider text not null,
  token text not null check (length(token) between 1 and 200),
  signed_at timestamptz not null,
  primary key (provider, token)
);
comment on table public.webhook_tokens is
  'Signature tokens of webhooks already accepted (Mailgun signs timestamp + token): a replayed request '
  'reuses its token and is refused. Pruned once older than the replay window.';
alter table public.webhook_tokens enable row level security;
-- Nobody but the webhook functions (through claim_webhook_token) reads or writes tokens.
create policy webhook_tokens_none on public.webhook_tokens for select to authenticated using (false);
revoke all on public.webhook_tokens from anon, authenticated;

create function public.claim_webhook_token(p_provider text, p_token text, p_signed_at timestamptz)
returns boolean
language sql security definer
set search_path = ''
as $$
  with pruned as (
    -- Tokens older than a day cannot pass the timestamp check any more; keeping them is useless.
    delete from public.webhook_tokens
    where provider = p_provider and signed_at < now() - interval '1 day'
      and random() < 0.01
  )
  insert into public.webhook_tokens (provider, token, signed_at)
  values (p_provider, p_token, p_signed_at)
  on conflict do nothing
  returning true
$$;
comment on function public.claim_webhook_token(text, text, timestamptz) is
  'Remembers a webhook signature token; true the first time, null when it was seen before (a replay).';

-- The email step's send_time options -------------------------------------------------------------------

create or replace function public.step_config_is_valid(p_module public.module_type, p_config jsonb) returns boolean
language sql immutable
set search_path = ''
as $$
  select jsonb_typeof(p_config) = 'object' and case p_module
    when 'email' then jsonb_typeof(p_config -> 'template') = 'string'
      and coalesce(p_config ->> 'send_time', 'immediate') in ('immediate', 'business_hours', 'local_time')
      and (p_config ->> 'send_time' is distinct from 'local_time'
        or coalesce(public.is_local_time(p_config ->> 'local_time'), false))
    else true
  end
$$;

revoke execute on function
  public.provider_gate(text, text, uuid, double precision, double precision),
  public.provider_report(text, text, text, jsonb, double precision, integer, double precision),
  public.unsubscribe_run(uuid, bigint),
  public.suppress_address(uuid, text, text, text),
  public.claim_webhook_token(text, text, timestamptz)
from public, anon, authenticated;

-- What the email module loads for a batch of claimed runs ---------------------------------------------

-- A statement sent by the function with an array parameter was planned again on every execution (about
-- 5 ms for this join, cold): in PL/pgSQL with a generic plan it is planned once per session, also behind
-- the transaction pooler, where the function cannot keep prepared statements.
create function public.email_integrations(p_supplier_id uuid) returns jsonb
language sql stable
set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', si.id, 'provider', si.provider, 'settings', si.settings,
      'secret_id', si.secret_id, 'status', si.status, 'status_code', si.status_code,
      'status_reason', si.status_reason, 'status_since', si.status_since)
    order by si.priority, si.provider), '[]'::jsonb)
  from public.supplier_integrations si
  where si.supplier_id = p_supplier_id and si.provider in ('resend', 'sendgrid', 'mailgun')
$$;
comment on function public.email_integrations(uuid) is
  'A supplier''s email providers in failover order with their health (the email channel skips '
  'disconnected ones and holds the message when no other route is left).';

create function public.email_suppression(p_supplier_id uuid, p_email text) returns jsonb
language sql stable
set search_path = ''
as $$
  select jsonb_build_object('reason', x.reason, 'created_at', x.created_at)
  from public.suppressions x
  where x.supplier_id = p_supplier_id and x.channel = 'email' and x.address = lower(p_email)
$$;
comment on function public.email_suppression(uuid, text) is
  'Why the supplier must not email this address (bounced, complained, unsubscribed, manual), or null.';

create function public.email_run_contexts(p_run_ids bigint[])
returns table (
  run_id integer, supplier_id uuid, pinned_provider text, instance_status text, config jsonb, couple_name text, email text,
  locale text, couple_time_zone text, wedding_date text, venue text, client_custom jsonb, consent jsonb,
  supplier_name text, supplier_time_zone text, business_hours jsonb, brand jsonb, email_from text,
  reply_to text, template_subject text, template_html text, template_text text, email_integrations jsonb,
  suppression jsonb, attempt integer
)
language plpgsql stable
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
begin
  return query
  select r.id::integer, r.supplier_id, r.provider, i.status::text, st.config,
    c.couple_name, c.email, c.locale, c.time_zone, c.wedding_date::text, c.venue, c.custom, c.consent,
    s.name, s.time_zone, s.business_hours, s.brand, s.email_from, s.reply_to,
    t.subject, t.html, t.text,
    public.email_integrations(r.supplier_id),
    public.email_suppression(r.supplier_id, c.email),
    r.attempts
  from public.module_runs r
  join public.journey_instances i on i.id = r.journey_instance_id
  join public.clients c on c.id = i.client_id
  join public.suppliers s on s.id = r.supplier_id
  join public.journey_steps st on st.id = r.step_id
  left join public.email_templates t on t.supplier_id = r.supplier_id and t.key = st.config ->> 'template'
  where r.id = any (p_run_ids);
end
$$;
comment on function public.email_run_contexts(bigint[]) is
  'Everything the email module needs to send each claimed run: the couple, the supplier''s branding and '
  'hours, the template, the email providers in failover order with their health, and a suppression '
  'of the address if any. Called by the module-email function only.';
revoke execute on function public.email_run_contexts(bigint[]), public.email_integrations(uuid),
  public.email_suppression(uuid, text)
from public, anon, authenticated;

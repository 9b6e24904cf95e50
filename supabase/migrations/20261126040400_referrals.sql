-- The referral module: each vendor's programme, an unguessable short code per couple, and referred
-- friends moving clicked -> signed_up -> booked while the couple's reward moves pending -> earned -> redeemed.

create table public.referral_programmes (
  supplier_id uuid primary key references public.suppliers on delete cascade,
  landing_url text not null check (landing_url ~ '^https?://[^\s<>"?#]+$' and length(landing_url) <= 2000),
  reward text not null check (length(reward) between 1 and 500),
  earn_on text not null default 'booked' check (earn_on in ('signed_up', 'booked')),
  active boolean not null default true,
  created_at timestamptz not null default now()
);
comment on table public.referral_programmes is
  'A vendor''s referral programme: where referred friends land, the reward, and the stage that earns it.';

create table public.referral_codes (
  code text primary key check (code ~ '^[0-9A-HJKMNP-TV-Z]{12}$'),
  supplier_id uuid not null references public.suppliers on delete cascade,
  client_id uuid not null references public.clients on delete cascade,
  created_at timestamptz not null default now(),
  unique (supplier_id, client_id)
);
comment on table public.referral_codes is
  'One tracking code per couple and vendor: 12 Crockford base-32 characters (60 random bits).';

create table public.referrals (
  id uuid primary key default gen_random_uuid(),
  supplier_id uuid not null references public.suppliers on delete cascade,
  code text not null references public.referral_codes on delete cascade,
  stage text not null check (stage in ('clicked', 'signed_up', 'booked')),
  reward_status text check (reward_status in ('pending', 'earned', 'redeemed')),
  lead_ref text check (length(lead_ref) between 1 and 200),
  clicked_at timestamptz,
  signed_up_at timestamptz,
  booked_at timestamptz,
  earned_at timestamptz,
  redeemed_at timestamptz,
  created_at timestamptz not null default now(),
  unique (supplier_id, lead_ref),
  check ((stage = 'clicked') = (reward_status is null))
);
comment on table public.referrals is
  'A friend referred through a couple''s code. lead_ref is the vendor''s own id for the friend''s enquiry '
  '(no personal data here). Stages and reward states only move forward.';
create index referrals_code on public.referrals (code);
create index referrals_supplier on public.referrals (supplier_id, created_at);

create function public.referral_stage_rank(p_stage text) returns integer
language sql immutable
set search_path = ''
as $$ select case p_stage when 'clicked' then 1 when 'signed_up' then 2 when 'booked' then 3 end $$;
comment on function public.referral_stage_rank(text) is 'Order of referral stages: a referral only moves to a higher one.';

create function public.ensure_referral_code(p_run_id bigint) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_code text;
begin
  -- Crockford base 32 without I, L, O, U: 32 symbols, so each random byte maps without bias.
  insert into public.referral_codes (code, supplier_id, client_id)
  select (
      select string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', (get_byte(b, n) % 32) + 1, 1), '' order by n)
      from (select extensions.gen_random_bytes(12) as b) x, generate_series(0, 11) n
    ), r.supplier_id, i.client_id
  from public.module_runs r join public.journey_instances i on i.id = r.journey_instance_id
  where r.id = p_run_id
  on conflict (supplier_id, client_id) do nothing;
  select c.code into v_code
  from public.module_runs r
  join public.journey_instances i on i.id = r.journey_instance_id
  join public.referral_codes c on c.supplier_id = r.supplier_id and c.client_id = i.client_id
  where r.id = p_run_id;
  return v_code;
end
$$;
comment on function public.ensure_referral_code(bigint) is
  'The couple''s referral code with the run''s vendor, created the first time (one code per couple).';

create function public.record_referral_click(p_code text) returns uuid
language sql security definer
set search_path = ''
as $$
  insert into public.referrals (supplier_id, code, stage, clicked_at)
  select c.supplier_id, c.code, 'clicked', now() from public.referral_codes c where c.code = p_code
  returning id
$$;
comment on function public.record_referral_click(text) is
  'Records a person''s click on a couple''s referral link as a new referral at stage clicked; null for an unknown code.';

create function public.advance_referral(
  p_supplier_id uuid,
  p_code text,
  p_referral_id uuid,
  p_lead_ref text,
  p_stage text
) returns table (result text, referral_id uuid, stage text, reward_status text)
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_code public.referral_codes;
  v_earn_on text;
  v_ref public.referrals;
  v_reward text;
begin
  if p_stage not in ('signed_up', 'booked') then
    raise exception 'stage must be signed_up or booked, got %', p_stage using errcode = '22023';
  end if;
  select * into v_code from public.referral_codes c
  where c.code = coalesce(p_code, (select r.code from public.referrals r where r.id = p_referral_id))
    and (p_supplier_id is null or c.supplier_id = p_supplier_id);
  if not found then
    return query select 'not_found', null::uuid, null::text, null::text;
    return;
  end if;
  select coalesce(p.earn_on, 'booked') into v_earn_on
  from (select 1) one left join public.referral_programmes p on p.supplier_id = v_code.supplier_id;

  -- The friend's referral: the one the click created, else the one with this lead, else a new one.
  select * into v_ref from public.referrals r
  where r.code = v_code.code and (r.id = p_referral_id or (p_referral_id is null and r.lead_ref = p_lead_ref))
  order by r.id = p_referral_id desc nulls last
  limit 1
  for update;
  if p_referral_id is not null and v_ref.id is null then
    return query select 'not_found', null::uuid, null::text, null::text;
    return;
  end if;
  if v_ref.id is null then
    insert into public.referrals (supplier_id, code, stage, reward_status, lead_ref)
    values (v_code.supplier_id, v_code.code, 'clicked', null, p_lead_ref)
    on conflict (supplier_id, lead_ref) do nothing
    returning * into v_ref;
    if v_ref.id is null then
      -- The lead was already referred through another code: first referrer keeps it.
      return query select 'lead_taken', null::uuid, null::text, null::text;
      return;
    end if;
  elsif p_lead_ref is not null and v_ref.lead_ref is distinct from p_lead_ref and v_ref.lead_ref is not null then
    return query select 'lead_mismatch', v_ref.id, v_ref.stage, v_ref.reward_status;
    return;
  end if;
  if public.referral_stage_rank(p_stage) <= public.referral_stage_rank(v_ref.stage) then
    return query select 'unchanged', v_ref.id, v_ref.stage, v_ref.reward_status;
    return;
  end if;
  v_reward := case
    when v_ref.reward_status in ('earned', 'redeemed') then v_ref.reward_status
    when public.referral_stage_rank(p_stage) >= public.referral_stage_rank(v_earn_on) then 'earned'
    else 'pending' end;
  update public.referrals r
  set stage = p_stage,
      reward_status = v_reward,
      lead_ref = coalesce(r.lead_ref, p_lead_ref),
      signed_up_at = coalesce(r.signed_up_at, now()),
      booked_at = case when p_stage = 'booked' then now() else r.booked_at end,
      earned_at = case when v_reward = 'earned' then coalesce(r.earned_at, now()) else r.earned_at end
  where r.id = v_ref.id
  returning * into v_ref;
  return query select 'advanced', v_ref.id, v_ref.stage, v_ref.reward_status;
end
$$;
comment on function public.advance_referral(uuid, text, uuid, text, text) is
  'Moves a referred friend forward to signed_up or booked (never back); the reward becomes pending, then '
  'earned at the programme''s earn_on stage. Identified by the click''s referral id, or the code and the '
  'vendor''s lead ref. Returns advanced, unchanged, not_found, lead_taken or lead_mismatch.';

create function public.redeem_referral_reward(p_supplier_id uuid, p_referral_id uuid) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_status text;
begin
  select reward_status into v_status from public.referrals
  where id = p_referral_id and supplier_id = p_supplier_id for update;
  if not found then
    return 'not_found';
  elsif v_status = 'redeemed' then
    return 'already_redeemed';
  elsif v_status is distinct from 'earned' then
    return 'not_earned';
  end if;
  update public.referrals set reward_status = 'redeemed', redeemed_at = now() where id = p_referral_id;
  return 'redeemed';
end
$$;
comment on function public.redeem_referral_reward(uuid, uuid) is
  'Marks an earned reward redeemed. Returns redeemed, already_redeemed, not_earned or not_found.';

alter table public.referral_programmes enable row level security;
alter table public.referral_codes enable row level security;
alter table public.referrals enable row level security;
create policy referral_programmes_member on public.referral_programmes for all to authenticated
  using (public.is_supplier_member(supplier_id)) with check (public.is_supplier_member(supplier_id));
create policy referral_codes_member_read on public.referral_codes for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy referrals_member_read on public.referrals for select to authenticated
  using (public.is_supplier_member(supplier_id));
revoke insert, update, delete on public.referral_codes, public.referrals from anon, authenticated;

revoke execute on function
  public.ensure_referral_code(bigint),
  public.record_referral_click(text),
  public.advance_referral(uuid, text, uuid, text, text),
  public.redeem_referral_reward(uuid, uuid)
from public, anon, authenticated;

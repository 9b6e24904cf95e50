-- The review module: each vendor's review platforms, one review request per review run, tracked clicks
-- per platform, and the couple's rating routed to the public platforms (4-5), internal feedback (3) or a
-- direct-contact notification for the vendor (1-2).

create table public.review_platforms (
  supplier_id uuid not null references public.suppliers on delete cascade,
  platform text not null check (platform in ('google', 'facebook', 'weddingwire', 'theknot')),
  place_id text check (place_id ~ '^[A-Za-z0-9_-]{10,255}$'),
  url text check (url ~ '^https://[^\s<>"]+$' and length(url) <= 2000),
  position integer not null default 1 check (position > 0),
  created_at timestamptz not null default now(),
  primary key (supplier_id, platform),
  -- Google's link is generated from the place id; the others are pasted by the vendor.
  check (case when platform = 'google' then place_id is not null and url is null else url is not null and place_id is null end)
);
comment on table public.review_platforms is
  'Where a vendor collects reviews: Google by place id (the writereview link is generated), Facebook, '
  'WeddingWire and The Knot by the URL the vendor pasted.';

create table public.review_requests (
  id uuid primary key default gen_random_uuid(),
  supplier_id uuid not null references public.suppliers on delete cascade,
  client_id uuid not null references public.clients on delete cascade,
  run_id bigint not null unique references public.module_runs on delete cascade,
  platforms text[] not null,
  sent_at timestamptz,
  first_clicked_at timestamptz,
  followed_up_at timestamptz,
  rating integer check (rating between 1 and 5),
  route text check (route in ('public', 'internal_feedback', 'direct_contact')),
  feedback text check (length(feedback) <= 5000),
  rated_at timestamptz,
  created_at timestamptz not null default now(),
  check ((rating is null) = (rated_at is null) and (rating is null) = (route is null))
);
comment on table public.review_requests is
  'A review request sent by a review run: the platforms offered, clicks, the follow-up, and the rating with '
  'where it was routed.';
create index review_requests_supplier on public.review_requests (supplier_id, created_at);

create table public.review_clicks (
  id bigint generated always as identity primary key,
  request_id uuid not null references public.review_requests on delete cascade,
  supplier_id uuid not null references public.suppliers on delete cascade,
  platform text not null,
  clicked_at timestamptz not null default now()
);
comment on table public.review_clicks is
  'Clicks on tracked review links by people (HEAD requests, prefetches and known link scanners are not '
  'recorded). No IP address or user agent is kept.';
create index review_clicks_request on public.review_clicks (request_id);
create index review_clicks_supplier on public.review_clicks (supplier_id, clicked_at);

create function public.open_review_request(p_run_id bigint, p_platforms text[]) returns public.review_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  v_request public.review_requests;
begin
  insert into public.review_requests (supplier_id, client_id, run_id, platforms)
  select r.supplier_id, i.client_id, r.id, p_platforms
  from public.module_runs r join public.journey_instances i on i.id = r.journey_instance_id
  where r.id = p_run_id
  on conflict (run_id) do nothing;
  select * into v_request from public.review_requests where run_id = p_run_id;
  return v_request;
end
$$;
comment on function public.open_review_request(bigint, text[]) is
  'The review request of a run, created on its first attempt and returned unchanged on later ones.';

create function public.record_review_email(
  p_request_id uuid,
  p_follow_up boolean,
  p_provider text,
  p_provider_message_id text,
  p_recipient text
) returns void
language sql security definer
set search_path = ''
as $$
  update public.review_requests
  set sent_at = case when p_follow_up then sent_at else coalesce(sent_at, now()) end,
      followed_up_at = case when p_follow_up then coalesce(followed_up_at, now()) else followed_up_at end
  where id = p_request_id;
  select public.record_run_message(q.run_id, p_provider, p_provider_message_id, 'email', p_recipient)
  from public.review_requests q where q.id = p_request_id;
$$;
comment on function public.record_review_email(uuid, boolean, text, text, text) is
  'Records the review request email (or its follow-up) and its delivery.';

create function public.record_review_click(p_request_id uuid, p_platform text) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_request public.review_requests;
begin
  select * into v_request from public.review_requests where id = p_request_id;
  if not found then
    return 'not_found';
  end if;
  if not p_platform = any (v_request.platforms) then
    return 'platform_not_offered';
  end if;
  insert into public.review_clicks (request_id, supplier_id, platform)
  values (p_request_id, v_request.supplier_id, p_platform);
  update public.review_requests set first_clicked_at = now() where id = p_request_id and first_clicked_at is null;
  return 'recorded';
end
$$;
comment on function public.record_review_click(uuid, text) is
  'Records a person''s click on a tracked review link. Returns recorded, not_found or platform_not_offered.';

create function public.record_review_rating(p_request_id uuid, p_rating integer, p_feedback text)
returns table (result text, route text, platforms text[])
language plpgsql security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_request public.review_requests;
  v_route text := case when p_rating >= 4 then 'public' when p_rating = 3 then 'internal_feedback' else 'direct_contact' end;
begin
  if p_rating is null or p_rating not between 1 and 5 then
    raise exception 'rating must be 1 to 5, got %', p_rating using errcode = '22023';
  end if;
  select * into v_request from public.review_requests where id = p_request_id for update;
  if not found then
    return query select 'not_found', null::text, null::text[];
    return;
  end if;
  if v_request.rating is not null then
    -- The first rating decides the route; later feedback is kept if none was given yet.
    update public.review_requests set feedback = coalesce(feedback, nullif(p_feedback, ''))
    where id = p_request_id;
    return query select 'already_rated', v_request.route, v_request.platforms;
    return;
  end if;
  update public.review_requests
  set rating = p_rating, route = v_route, rated_at = now(), feedback = nullif(p_feedback, '')
  where id = p_request_id;
  if v_route = 'direct_contact' then
    insert into public.supplier_notifications (supplier_id, client_id, kind, details, dedupe_key)
    values (v_request.supplier_id, v_request.client_id, 'review_low_rating',
      jsonb_build_object('review_request_id', p_request_id, 'rating', p_rating),
      'review_rating:' || p_request_id)
    on conflict (supplier_id, dedupe_key) do nothing;
  end if;
  return query select 'rated', v_route, v_request.platforms;
end
$$;
comment on function public.record_review_rating(uuid, integer, text) is
  'Records the couple''s star rating once and routes it: 4-5 to the public platforms, 3 to internal '
  'feedback, 1-2 to a direct-contact notification for the vendor. A repeated rating returns the first route.';

alter table public.review_platforms enable row level security;
alter table public.review_requests enable row level security;
alter table public.review_clicks enable row level security;
create policy review_platforms_member on public.review_platforms for all to authenticated
  using (public.is_supplier_member(supplier_id)) with check (public.is_supplier_member(supplier_id));
create policy review_requests_member_read on public.review_requests for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy review_clicks_member_read on public.review_clicks for select to authenticated
  using (public.is_supplier_member(supplier_id));
revoke insert, update, delete on public.review_requests, public.review_clicks from anon, authenticated;

revoke execute on function
  public.open_review_request(bigint, text[]),
  public.record_review_email(uuid, boolean, text, text, text),
  public.record_review_click(uuid, text),
  public.record_review_rating(uuid, integer, text)
from public, anon, authenticated;

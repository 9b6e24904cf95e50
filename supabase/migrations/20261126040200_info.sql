-- The info module: content shared with a couple, stored for the couple's dashboard in the vendor's app
-- (and/or emailed). The body is stored already rendered and sanitised.

create table public.client_notices (
  id bigint generated always as identity primary key,
  supplier_id uuid not null references public.suppliers on delete cascade,
  client_id uuid not null references public.clients on delete cascade,
  run_id bigint not null unique references public.module_runs on delete cascade,
  title text not null check (length(title) between 1 and 200),
  body_html text not null,
  body_text text not null,
  priority text not null check (priority in ('low', 'normal', 'high')),
  dismissible boolean not null,
  dismissed_at timestamptz,
  created_at timestamptz not null default now(),
  check (dismissed_at is null or dismissible)
);
comment on table public.client_notices is
  'Information shown on a couple''s dashboard, one per info run. body_html is sanitised (markdown and HTML '
  'content alike); a notice can be dismissed only when its step made it dismissible.';
create index client_notices_client on public.client_notices (client_id, created_at);
create index client_notices_supplier on public.client_notices (supplier_id, created_at);

create function public.record_client_notice(
  p_run_id bigint,
  p_title text,
  p_body_html text,
  p_body_text text,
  p_priority text,
  p_dismissible boolean
) returns bigint
language plpgsql security definer
set search_path = ''
as $$
declare
  v_id bigint;
begin
  insert into public.client_notices (supplier_id, client_id, run_id, title, body_html, body_text, priority, dismissible)
  select r.supplier_id, i.client_id, r.id, p_title, p_body_html, p_body_text, p_priority, p_dismissible
  from public.module_runs r join public.journey_instances i on i.id = r.journey_instance_id
  where r.id = p_run_id
  on conflict (run_id) do nothing;
  select id into v_id from public.client_notices where run_id = p_run_id;
  return v_id;
end
$$;
comment on function public.record_client_notice(bigint, text, text, text, text, boolean) is
  'Stores the dashboard notice of an info run once (a retried run returns the same notice).';

alter table public.client_notices enable row level security;
create policy client_notices_member_read on public.client_notices for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy client_notices_member_dismiss on public.client_notices for update to authenticated
  using (public.is_supplier_member(supplier_id)) with check (public.is_supplier_member(supplier_id));
revoke insert, update, delete on public.client_notices from anon, authenticated;
grant update (dismissed_at) on public.client_notices to authenticated;

revoke execute on function public.record_client_notice(bigint, text, text, text, text, boolean)
from public, anon, authenticated;

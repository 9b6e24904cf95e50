-- What the form, info, review and referral modules share: the batch context of a run (couple,
-- supplier, email channel), recording a message sent by a run that keeps waiting, releasing the
-- journey from a step whose run keeps waiting, and notifications for the vendor.

create function public.module_run_context(p_run_ids bigint[])
returns table (
  run_id bigint,
  supplier_id uuid,
  client_id uuid,
  journey_instance_id uuid,
  step_id uuid,
  instance_status text,
  config jsonb,
  couple_name text,
  email text,
  phone text,
  time_zone text,
  locale text,
  wedding_date text,
  venue text,
  consent jsonb,
  client_custom jsonb,
  supplier_name text,
  supplier_time_zone text,
  email_from text,
  reply_to text,
  email_integrations jsonb,
  pinned_provider text,
  suppression jsonb,
  attempt integer
)
language plpgsql stable
set search_path = ''
-- Planned once per session with a generic plan (a statement with an array parameter was planned on every
-- call, as email_run_contexts() and sms_run_contexts() explain).
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  select r.id, r.supplier_id, c.id, r.journey_instance_id, r.step_id, i.status::text, st.config,
    c.couple_name, c.email, c.phone, coalesce(c.time_zone, s.time_zone), c.locale, c.wedding_date::text, c.venue,
    c.consent, c.custom, s.name, s.time_zone, s.email_from, s.reply_to,
    public.email_integrations(r.supplier_id),
    -- A provider without a message id is an attempt with an unknown outcome: the next goes there only.
    case when r.provider_message_id is null and r.provider in ('resend', 'sendgrid', 'mailgun') then r.provider end,
    public.email_suppression(r.supplier_id, c.email),
    r.attempts
  from public.module_runs r
  join public.journey_instances i on i.id = r.journey_instance_id
  join public.clients c on c.id = i.client_id
  join public.suppliers s on s.id = r.supplier_id
  join public.journey_steps st on st.id = r.step_id
  where r.id = any (p_run_ids);
end
$$;
comment on function public.module_run_context(bigint[]) is
  'One row per run with what a module needs to message the couple: the step config, the couple (zone '
  'falling back to the supplier''s), the supplier''s sender, its email providers with their health, the '
  'provider an unknown attempt is pinned to, and the address''s suppression. Loaded once per claimed batch.';

create function public.record_run_message(
  p_run_id bigint,
  p_provider text,
  p_provider_message_id text,
  p_channel text,
  p_recipient text
) returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into public.deliveries (run_id, supplier_id, channel, provider, provider_message_id, recipient)
  select r.id, r.supplier_id, p_channel, p_provider, p_provider_message_id, p_recipient
  from public.module_runs r where r.id = p_run_id
  on conflict (provider, provider_message_id) do nothing;
  -- Webhooks that arrived before the delivery row existed are applied now, oldest first. The lock pairs
  -- with the one apply_webhook_event takes, as in record_outcomes: no event is left waiting.
  perform pg_advisory_xact_lock(hashtextextended(p_provider || ':' || p_provider_message_id, 0));
  perform public.apply_webhook_event(e.id)
  from public.webhook_events e
  where e.provider = p_provider and e.provider_message_id = p_provider_message_id and e.processed_at is null
  order by e.occurred_at, e.id;
end
$$;
comment on function public.record_run_message(bigint, text, text, text, text) is
  'Records a message a run sent while the run itself goes on waiting (a form reminder, a review request '
  'awaiting its follow-up), so delivery webhooks find it. Idempotent on (provider, message id).';

create function public.release_journey_step(p_run_id bigint) returns void
language sql security definer
set search_path = ''
as $$
  select public.advance_instances(jsonb_build_array(
    jsonb_build_object('instance_id', r.journey_instance_id, 'step_id', r.step_id)))
  from public.module_runs r where r.id = p_run_id
$$;
comment on function public.release_journey_step(bigint) is
  'Moves the journey past the run''s step while the run keeps waiting (reminders, follow-ups). Guarded '
  'like every advance: a journey already past the step does not move again when the run completes.';

create table public.supplier_notifications (
  id bigint generated always as identity primary key,
  supplier_id uuid not null references public.suppliers on delete cascade,
  client_id uuid references public.clients on delete cascade,
  kind text not null check (kind ~ '^[a-z][a-z0-9_]*$'),
  details jsonb not null default '{}' check (jsonb_typeof(details) = 'object'),
  dedupe_key text not null,
  read_at timestamptz,
  resolved_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (supplier_id, dedupe_key)
);
comment on table public.supplier_notifications is
  'Things the vendor should act on (a couple who rated 1-2 stars and should be contacted directly, an '
  'integration disconnected with N messages held, dead letters today...), once per incident (dedupe_key); '
  'shown in the vendor''s app. details hold ids, numbers and reasons, never message bodies or secrets. '
  'resolved_at is set when the incident is over (the integration reconnected).';
create index supplier_notifications_unread on public.supplier_notifications (supplier_id, created_at)
  where read_at is null;

alter table public.supplier_notifications enable row level security;
create policy supplier_notifications_member_read on public.supplier_notifications for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy supplier_notifications_member_mark_read on public.supplier_notifications for update to authenticated
  using (public.is_supplier_member(supplier_id)) with check (public.is_supplier_member(supplier_id));
revoke insert, delete on public.supplier_notifications from anon, authenticated;
revoke update on public.supplier_notifications from anon, authenticated;
grant update (read_at) on public.supplier_notifications to authenticated;

revoke execute on function
  public.module_run_context(bigint[]),
  public.record_run_message(bigint, text, text, text, text),
  public.release_journey_step(bigint)
from public, anon, authenticated;

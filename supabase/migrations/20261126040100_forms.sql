-- The form module: one form request per form run (the link's token names it), its reminders, and
-- submissions from the internal endpoint, Typeform or Jotform that complete it. A form run waits
-- (deferred) between reminders; a submission makes it due at once.

create table public.form_requests (
  id uuid primary key default gen_random_uuid(),
  supplier_id uuid not null references public.suppliers on delete cascade,
  client_id uuid not null references public.clients on delete cascade,
  run_id bigint not null unique references public.module_runs on delete cascade,
  form_provider text not null check (form_provider in ('internal', 'typeform', 'jotform')),
  form_id text not null check (length(form_id) between 1 and 200),
  block_progress boolean not null,
  status text not null default 'open' check (status in ('open', 'submitted', 'cancelled')),
  sent_at timestamptz,
  due_at timestamptz,
  overdue_at timestamptz,
  submitted_at timestamptz,
  submission_ref text,
  answers jsonb check (answers is null or jsonb_typeof(answers) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((status = 'submitted') = (submitted_at is not null))
);
comment on table public.form_requests is
  'A form sent to a couple by a form run. The link carries a signed token naming the request, the run and '
  'the couple; answers hold only the fields the step maps.';
comment on column public.form_requests.submission_ref is
  'The provider''s id of the submission (Typeform event id, Jotform submission id): a redelivery is a duplicate.';
create unique index form_requests_submission on public.form_requests (form_provider, submission_ref)
  where submission_ref is not null;
create index form_requests_supplier on public.form_requests (supplier_id, created_at);
create index form_requests_client on public.form_requests (client_id);

create table public.form_reminders (
  request_id uuid not null references public.form_requests on delete cascade,
  position integer not null check (position > 0),
  supplier_id uuid not null references public.suppliers on delete cascade,
  channel text not null check (channel in ('email', 'sms')),
  status text not null check (status in ('sent', 'skipped')),
  reason text,
  provider text,
  provider_message_id text,
  created_at timestamptz not null default now(),
  primary key (request_id, position),
  check ((status = 'skipped') = (reason is not null))
);
comment on table public.form_reminders is
  'Each scheduled reminder of a form request, sent or skipped with the reason (e.g. the sms channel is not available).';
create index form_reminders_supplier on public.form_reminders (supplier_id, created_at);

create function public.open_form_request(
  p_run_id bigint,
  p_form_provider text,
  p_form_id text,
  p_block_progress boolean,
  p_due_at timestamptz
) returns public.form_requests
language plpgsql security definer
set search_path = ''
as $$
declare
  v_request public.form_requests;
begin
  insert into public.form_requests (supplier_id, client_id, run_id, form_provider, form_id, block_progress, due_at)
  select r.supplier_id, i.client_id, r.id, p_form_provider, p_form_id, p_block_progress, p_due_at
  from public.module_runs r join public.journey_instances i on i.id = r.journey_instance_id
  where r.id = p_run_id
  on conflict (run_id) do nothing;
  select * into v_request from public.form_requests where run_id = p_run_id;
  return v_request;
end
$$;
comment on function public.open_form_request(bigint, text, text, boolean, timestamptz) is
  'The form request of a run, created on its first attempt and returned unchanged on later ones, so a '
  'retried send carries the same token.';

create function public.record_form_sent(
  p_request_id uuid,
  p_provider text,
  p_provider_message_id text,
  p_recipient text
) returns void
language sql security definer
set search_path = ''
as $$
  update public.form_requests set sent_at = coalesce(sent_at, now()), updated_at = now() where id = p_request_id;
  select public.record_run_message(f.run_id, p_provider, p_provider_message_id, 'email', p_recipient)
  from public.form_requests f where f.id = p_request_id;
$$;
comment on function public.record_form_sent(uuid, text, text, text) is
  'Marks the form as sent (the reminder schedule counts from here) and records the email''s delivery.';

create function public.record_form_reminder(
  p_request_id uuid,
  p_position integer,
  p_channel text,
  p_reason text,
  p_provider text,
  p_provider_message_id text,
  p_recipient text
) returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  insert into public.form_reminders (request_id, position, supplier_id, channel, status, reason, provider, provider_message_id)
  select f.id, p_position, f.supplier_id, p_channel, case when p_reason is null then 'sent' else 'skipped' end,
    p_reason, p_provider, p_provider_message_id
  from public.form_requests f where f.id = p_request_id
  on conflict (request_id, position) do nothing;
  if p_reason is null and p_provider_message_id is not null then
    perform public.record_run_message(f.run_id, p_provider, p_provider_message_id, p_channel, p_recipient)
    from public.form_requests f where f.id = p_request_id;
  end if;
end
$$;
comment on function public.record_form_reminder(uuid, integer, text, text, text, text, text) is
  'Records reminder number p_position of a form request: sent (with its delivery) or skipped with p_reason.';

create function public.mark_form_overdue(p_request_id uuid) returns void
language sql security definer
set search_path = ''
as $$
  update public.form_requests set overdue_at = now(), updated_at = now()
  where id = p_request_id and status = 'open' and overdue_at is null
$$;
comment on function public.mark_form_overdue(uuid) is 'Marks an open form request overdue once its deadline has passed.';

create function public.close_form_request(p_request_id uuid) returns void
language sql security definer
set search_path = ''
as $$
  update public.form_requests set status = 'cancelled', updated_at = now() where id = p_request_id and status = 'open'
$$;
comment on function public.close_form_request(uuid) is
  'Cancels an open form request (its journey was cancelled): later submissions are refused.';

create function public.submit_form(
  p_request_id uuid,
  p_run_id bigint,
  p_client_id uuid,
  p_form_provider text,
  p_submission_ref text,
  p_answers jsonb
) returns text
language plpgsql security definer
set search_path = ''
as $$
declare
  v_run_status public.run_status;
  v_request public.form_requests;
begin
  -- The run row first: a worker recording that this run waits either commits before us (and the run is
  -- woken here) or runs after us and sees the submission in module_runs_30_form_wake.
  select status into v_run_status from public.module_runs where id = p_run_id for update;
  select * into v_request from public.form_requests where id = p_request_id for update;
  if not found or v_request.run_id <> p_run_id or v_request.client_id <> p_client_id
     or v_request.form_provider <> p_form_provider then
    return 'not_found';
  end if;
  if v_request.status = 'submitted' then
    return case when p_submission_ref is not null and v_request.submission_ref = p_submission_ref
      then 'duplicate' else 'already_submitted' end;
  end if;
  if v_request.status = 'cancelled' then
    return 'closed';
  end if;
  begin
    update public.form_requests
    set status = 'submitted', submitted_at = now(), submission_ref = p_submission_ref,
        answers = coalesce(p_answers, '{}'), updated_at = now()
    where id = p_request_id;
  exception when unique_violation then
    -- This provider submission already completed a form request.
    return 'duplicate';
  end;
  if v_run_status = 'waiting' then
    perform public.wake_runs(array[p_run_id]);
  elsif v_run_status = 'pending' then
    -- Deferred meanwhile (quiet hours, a rate slot): due now, it completes instead of reminding.
    update public.module_runs set run_at = least(run_at, now()), updated_at = now() where id = p_run_id;
    perform public.kick('form');
  end if;
  return 'submitted';
end
$$;
comment on function public.submit_form(uuid, bigint, uuid, text, text, jsonb) is
  'Completes a form request from a verified submission bound to its run and couple: stores the mapped '
  'answers and wakes the waiting run, so reminders stop and a blocking step lets the journey go on. '
  'Returns submitted, duplicate (same provider submission again), already_submitted, closed or not_found.';

create function public.on_form_run_waiting() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if exists (select 1 from public.form_requests f where f.run_id = new.id and f.status <> 'open') then
    new.status := 'pending';
    new.run_at := now();
    perform public.kick('form');
  end if;
  return new;
end
$$;
comment on function public.on_form_run_waiting() is
  'A form run that starts waiting after its form was submitted (or closed) is due now, not at its next '
  'reminder: closes the race between a submission and a worker recording the wait.';

create trigger module_runs_30_form_wake before update of status on public.module_runs
  for each row when (new.module_type = 'form' and old.status = 'running' and new.status = 'waiting')
  execute function public.on_form_run_waiting();

alter table public.form_requests enable row level security;
alter table public.form_reminders enable row level security;
create policy form_requests_member_read on public.form_requests for select to authenticated
  using (public.is_supplier_member(supplier_id));
create policy form_reminders_member_read on public.form_reminders for select to authenticated
  using (public.is_supplier_member(supplier_id));
revoke insert, update, delete on public.form_requests, public.form_reminders from anon, authenticated;

revoke execute on function
  public.open_form_request(bigint, text, text, boolean, timestamptz),
  public.record_form_sent(uuid, text, text, text),
  public.record_form_reminder(uuid, integer, text, text, text, text, text),
  public.mark_form_overdue(uuid),
  public.close_form_request(uuid),
  public.submit_form(uuid, bigint, uuid, text, text, jsonb),
  public.on_form_run_waiting()
from public, anon, authenticated;

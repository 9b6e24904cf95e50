-- Kicks that never wait: a transition no longer queues behind the transaction that is kicking.
--
-- Measured by `npm run bench` (pg_stat_statements, 500 transitions/s): the UPDATE of the single
-- dispatch_state row took 15 ms per transition, nearly all of it waiting for the row lock held by the
-- transaction that had just kicked, until it committed. Every transition in a 250 ms window queued
-- behind it only to find the window taken. Now a plain read skips a recent kick without any lock, and
-- the lock is taken with SKIP LOCKED: if another transaction is kicking right now, its request (sent
-- after it commits) drains our run too, as the function lingers and polls before it stops; the sweep
-- stays the safety net.

create or replace function public.kick(p_module public.module_type, p_force boolean default false) returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_url text;
begin
  if not p_force and exists (
    select 1 from public.dispatch_state
    where module_type = p_module and kicked_at >= clock_timestamp() - interval '250 milliseconds'
  ) then
    return false;
  end if;
  update public.dispatch_state set kicked_at = clock_timestamp()
  where module_type = (
    select d.module_type from public.dispatch_state d
    where d.module_type = p_module
      and (p_force or d.kicked_at < clock_timestamp() - interval '250 milliseconds')
    for update skip locked
  );
  if not found then
    return false;
  end if;
  select decrypted_secret into v_url from vault.decrypted_secrets where name = 'project_url';
  if v_url is null then
    raise warning 'Cannot kick module-%: Vault secret "project_url" is missing', p_module;
    return false;
  end if;
  perform net.http_post(
    url := rtrim(v_url, '/') || '/functions/v1/module-' || p_module,
    body := jsonb_build_object('action', 'drain'),
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || public.invoke_token()),
    timeout_milliseconds := 5000
  );
  return true;
end
$$;
comment on function public.kick(public.module_type, boolean) is
  'Asks module-<type> to drain its due runs, through pg_net (sent after commit). Coalesced: at most one '
  'request per module per 250 ms, whatever the number of transitions; never waits for another '
  'transaction''s kick (a recent kick is seen without a lock, a kick in progress is skipped).';

revoke execute on function public.kick(public.module_type, boolean) from public, anon, authenticated;

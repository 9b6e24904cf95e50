-- Integration health: the status the pipeline keeps true (connected / failing / disconnected), runs held
-- while an integration they need is disconnected and released in order once its credentials are
-- replaced, the vendor's notifications (once per incident) with an optional alert outside the app, and
-- the operator's one view of everything that needs attention.

create index module_runs_held on public.module_runs (supplier_id, run_at) where status = 'held';
create index module_runs_dead on public.module_runs (completed_at) where status = 'dead';

-- Notifications ------------------------------------------------------------------------------------

create function public.notify_supplier(
  p_supplier_id uuid,
  p_kind text,
  p_dedupe_key text,
  p_details jsonb,
  p_client_id uuid default null
) returns bigint
language sql security definer
set search_path = ''
as $$
  -- Once per incident: a second report of the same incident updates its details (a count), it does not
  -- notify again (the alert trigger fires on insert only).
  insert into public.supplier_notifications (supplier_id, client_id, kind, details, dedupe_key)
  values (p_supplier_id, p_client_id, p_kind, coalesce(p_details, '{}'), p_dedupe_key)
  on conflict (supplier_id, dedupe_key) do update
  set details = public.supplier_notifications.details || excluded.details, updated_at = now()
  returning id
$$;
comment on function public.notify_supplier(uuid, text, text, jsonb, uuid) is
  'Tells the vendor about an incident once (keyed by p_dedupe_key); repeated reports merge their details. '
  'Kinds: integration_disconnected, integration_failing, dead_letters, whatsapp_template_rejected, '
  'sending_domain_unverified, review_low_rating.';

create function public.integration_incident_key(p_integration public.supplier_integrations) returns text
language sql immutable
set search_path = ''
as $$
  select format('integration_%s:%s:%s', p_integration.status, p_integration.id,
    extract(epoch from p_integration.status_since)::bigint)
$$;
comment on function public.integration_incident_key(public.supplier_integrations) is
  'The dedupe key of an integration''s current incident: one notification per disconnection or failure.';

-- Health -------------------------------------------------------------------------------------------

create function public.integration_rejected(
  p_integration_id uuid,
  p_code text,
  p_message text,
  p_seen_since timestamptz default null
) returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_row public.supplier_integrations;
begin
  -- p_seen_since: the status_since the caller loaded with the credentials it used. A reconnect since then
  -- (a newer status_since) means those credentials are gone: the rejection is about the old ones.
  update public.supplier_integrations
  set status = 'disconnected', status_code = left(p_code, 100), status_reason = left(p_message, 500),
      status_since = now(), updated_at = now()
  where id = p_integration_id and status <> 'disconnected'
    and (p_seen_since is null or status_since <= p_seen_since)
  returning * into v_row;
  if not found then
    return false;
  end if;
  perform public.notify_supplier(v_row.supplier_id, 'integration_disconnected',
    public.integration_incident_key(v_row),
    jsonb_build_object('integration_id', v_row.id, 'provider', v_row.provider, 'code', v_row.status_code,
      'reason', v_row.status_reason, 'held', 0));
  return true;
end
$$;
comment on function public.integration_rejected(uuid, text, text, timestamptz) is
  'Marks an integration disconnected because the provider rejected its credentials (401/403, Twilio 20003, '
  'Meta 190, Google invalid_grant, Calendly 401) and notifies the vendor once. False when it already was, '
  'or was reconnected after p_seen_since.';

create function public.note_held_runs(p_integration_ids uuid[]) returns void
language sql security definer
set search_path = ''
as $$
  update public.supplier_notifications n
  set details = n.details || jsonb_build_object('held', h.held), updated_at = now()
  from (
    select si.supplier_id, public.integration_incident_key(si) as dedupe_key, (
      select count(*) from public.module_runs r
      where r.supplier_id = si.supplier_id and r.status = 'held' and r.last_error ->> 'integration_id' = si.id::text
    ) as held
    from public.supplier_integrations si
    where si.id = any (p_integration_ids) and si.status = 'disconnected'
  ) h
  where n.supplier_id = h.supplier_id and n.dedupe_key = h.dedupe_key
$$;
comment on function public.note_held_runs(uuid[]) is
  'Keeps the "N messages waiting" count of each disconnected integration''s notification true.';

create function public.release_runs(p_run_ids bigint[], p_code text, p_cause text) returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  v_count integer;
  v_skipped jsonb;
  v_modules public.module_type[];
  v_module public.module_type;
begin
  -- Released runs keep their planned run_at: the claim takes them oldest first, in the order they were due.
  -- A step declaring if_past = skip does not go out more than an hour after its time: it is skipped with why.
  with released as (
    update public.module_runs r
    set status = case when late.skip then 'skipped' else 'pending' end::public.run_status,
        completed_at = case when late.skip then now() end,
        last_error = case
          when late.skip then jsonb_build_object('kind', 'skipped', 'code', 'window_passed',
            'message', format('held from %s %s; the step''s time (%s) passed and its rule is to skip',
              to_char(late.held_at, 'YYYY-MM-DD HH24:MI TZ'), p_cause, to_char(r.run_at, 'YYYY-MM-DD HH24:MI TZ')))
          else jsonb_build_object('kind', 'held', 'code', p_code, 'provider', r.last_error ->> 'provider',
            'message', format('held from %s to %s %s%s',
              to_char(late.held_at, 'YYYY-MM-DD HH24:MI TZ'), to_char(now(), 'YYYY-MM-DD HH24:MI TZ'), p_cause,
              case when r.run_at < now() - interval '1 hour' then '; sent late' else '' end))
        end,
        updated_at = now()
    from (
      select h.id, coalesce((h.last_error ->> 'held_at')::timestamptz, h.updated_at) as held_at,
        coalesce(s.timing ->> 'if_past', 'send_now') = 'skip' and h.run_at < now() - interval '1 hour' as skip
      from public.module_runs h
      left join public.journey_steps s on s.id = h.step_id
      where h.id = any (p_run_ids) and h.status = 'held'
      order by h.run_at
      for update of h
    ) late
    where r.id = late.id
    returning r.journey_instance_id, r.step_id, r.status, r.module_type
  )
  select count(*),
    jsonb_agg(jsonb_build_object('instance_id', journey_instance_id, 'step_id', step_id))
      filter (where status = 'skipped' and step_id is not null),
    array_agg(distinct module_type) filter (where status = 'pending')
  into v_count, v_skipped, v_modules
  from released;
  if v_skipped is not null then
    perform public.advance_instances(v_skipped);
  end if;
  foreach v_module in array coalesce(v_modules, '{}') loop
    perform public.kick(v_module, true);
  end loop;
  return v_count;
end
$$;
comment on function public.release_runs(bigint[], text, text) is
  'Releases held runs (an integration reconnected, a journey resumed): due again at their planned time (so '
  'in order), attempts untouched; a run whose step says if_past = skip and whose time passed more than an '
  'hour ago is skipped with the reason (window_passed). p_code names the release, p_cause says why they '
  'were held. Kicks the modules concerned.';

create function public.release_held_runs(p_integration_id uuid) returns integer
language sql security definer
set search_path = ''
as $$
  select public.release_runs(
    array(
      select h.id from public.module_runs h
      where h.status = 'held'
        and (h.last_error ->> 'integration_id' = p_integration_id::text
             or coalesce(h.last_error -> 'integration_ids', '[]') ? p_integration_id::text)),
    'released',
    format('while %s was disconnected', coalesce(
      (select provider from public.supplier_integrations where id = p_integration_id), 'the integration')))
$$;
comment on function public.release_held_runs(uuid) is
  'Releases the runs held for an integration once its credentials were replaced (public.release_runs).';

create function public.on_supplier_integrations_health() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    -- Disconnected for good: its held runs go again and end with the route's reason (or another route).
    perform public.release_held_runs(old.id);
    update public.supplier_notifications set resolved_at = now(), updated_at = now()
    where supplier_id = old.supplier_id and resolved_at is null
      and dedupe_key like format('integration_%%:%s:%%', old.id);
    return null;
  end if;
  if old.status is distinct from new.status then
    update public.supplier_notifications set resolved_at = now(), updated_at = now()
    where supplier_id = old.supplier_id and resolved_at is null
      and dedupe_key = public.integration_incident_key(old);
    if new.status = 'failing' then
      perform public.notify_supplier(new.supplier_id, 'integration_failing', public.integration_incident_key(new),
        jsonb_build_object('integration_id', new.id, 'provider', new.provider, 'code', new.status_code,
          'reason', new.status_reason));
    end if;
    if old.status = 'disconnected' then
      perform public.release_held_runs(new.id);
    end if;
  end if;
  return null;
end
$$;

create trigger supplier_integrations_30_health after update of status or delete on public.supplier_integrations
  for each row execute function public.on_supplier_integrations_health();

create function public.sweep_integration_health() returns jsonb
language plpgsql security definer
set search_path = ''
as $$
declare
  v_replaced integer;
  v_failing integer;
  v_recovered integer;
begin
  -- Credentials replaced in Vault (vault.update_secret) since the integration was disconnected: connected
  -- again, which releases its held runs (trigger above). A reconnect through connect_integration does the
  -- same at once.
  with replaced as (
    update public.supplier_integrations si
    set status = 'connected', status_code = 'credentials_replaced',
        status_reason = 'the credentials were replaced in Vault', status_since = now(), updated_at = now()
    from vault.secrets v
    where si.status = 'disconnected' and v.id = si.secret_id and v.updated_at > si.status_since
    returning 1
  )
  select count(*) into v_replaced from replaced;

  -- The circuit of the integration's provider account is open: failing, until it closes.
  with failing as (
    update public.supplier_integrations si
    set status = 'failing', status_code = 'circuit_open',
        status_reason = format('%s is paused after %s failures in a row: %s', si.provider, a.consecutive_failures,
          coalesce(a.last_errors -> 0 ->> 'message', 'no answer')),
        status_since = coalesce(a.opened_at, now()), updated_at = now()
    from public.provider_accounts a
    where si.status = 'connected' and a.provider = si.provider
      and a.account in (si.id::text, si.settings ->> 'account') and a.circuit <> 'closed'
    returning 1
  )
  select count(*) into v_failing from failing;
  with recovered as (
    update public.supplier_integrations si
    set status = 'connected', status_code = null, status_reason = null, status_since = now(), updated_at = now()
    where si.status = 'failing' and not exists (
      select 1 from public.provider_accounts a
      where a.provider = si.provider and a.account in (si.id::text, si.settings ->> 'account') and a.circuit <> 'closed'
    )
    returning 1
  )
  select count(*) into v_recovered from recovered;

  -- Dead letters of the vendor's day (in the vendor's zone): one notification a day, its count kept true.
  perform public.notify_supplier(d.supplier_id, 'dead_letters', format('dead_letters:%s', d.day),
    jsonb_build_object('day', d.day, 'count', d.dead, 'reasons', d.reasons))
  from (
    select x.supplier_id, x.day, sum(x.n)::integer as dead, jsonb_object_agg(x.code, x.n) as reasons
    from (
      select r.supplier_id, (r.completed_at at time zone s.time_zone)::date::text as day,
        coalesce(r.last_error ->> 'code', 'unknown') as code, count(*) as n
      from public.module_runs r join public.suppliers s on s.id = r.supplier_id
      where r.status = 'dead' and r.completed_at > now() - interval '1 day'
        and (r.completed_at at time zone s.time_zone)::date = (now() at time zone s.time_zone)::date
      group by 1, 2, 3
    ) x
    group by x.supplier_id, x.day
  ) d
  where not exists (
    select 1 from public.supplier_notifications n
    where n.supplier_id = d.supplier_id and n.dedupe_key = format('dead_letters:%s', d.day)
      and n.details ->> 'count' = d.dead::text
  );
  return jsonb_build_object('credentials_replaced', v_replaced, 'failing', v_failing, 'recovered', v_recovered);
end
$$;
comment on function public.sweep_integration_health() is
  'Run by every sweep: integrations whose Vault credentials were replaced since they were disconnected are '
  'connected again (releasing their held runs); open circuits mark integrations failing and closed ones '
  'connected; today''s dead letters are counted into one notification per vendor and day.';

-- Alerts outside the app ---------------------------------------------------------------------------

create function public.standard_webhook_signature(p_secret text, p_id text, p_timestamp bigint, p_body text)
returns text
language sql immutable
set search_path = ''
as $$
  -- Standard Webhooks: v1,base64(HMAC-SHA256(secret, "<id>.<timestamp>.<body>")); a whsec_ secret is base64.
  select 'v1,' || replace(encode(extensions.hmac(
    convert_to(p_id || '.' || p_timestamp || '.' || p_body, 'utf8'),
    case when p_secret like 'whsec\_%' then decode(substr(p_secret, 7), 'base64') else convert_to(p_secret, 'utf8') end,
    'sha256'), 'base64'), E'\n', '')
$$;
comment on function public.standard_webhook_signature(text, text, bigint, text) is
  'The webhook-signature header value of the Standard Webhooks scheme for one payload.';

create function public.on_supplier_notifications_alert() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  v_supplier public.suppliers;
  v_url text;
  v_secret text;
  v_email jsonb;
  v_body text;
  v_id text := 'notification_' || new.id;
  v_ts bigint := extract(epoch from now())::bigint;
  v_subject text;
begin
  select * into v_supplier from public.suppliers where id = new.supplier_id;
  v_body := jsonb_build_object('type', 'supplier.notification', 'timestamp', now(),
    'data', jsonb_build_object('id', new.id, 'supplier_id', new.supplier_id, 'supplier_name', v_supplier.name,
      'kind', new.kind, 'details', new.details, 'created_at', new.created_at))::text;

  -- A signed webhook to the operator's URL, when configured (Vault: operator_alert_url, operator_alert_secret).
  select decrypted_secret into v_url from vault.decrypted_secrets where name = 'operator_alert_url';
  select decrypted_secret into v_secret from vault.decrypted_secrets where name = 'operator_alert_secret';
  if v_url is not null and v_secret is not null then
    perform net.http_post(url := v_url, body := v_body::jsonb,
      headers := jsonb_build_object('Content-Type', 'application/json', 'webhook-id', v_id,
        'webhook-timestamp', v_ts::text,
        'webhook-signature', public.standard_webhook_signature(v_secret, v_id, v_ts, v_body)),
      timeout_milliseconds := 5000);
  end if;

  -- An email to the vendor's own address through the platform's Resend account (Vault: platform_email, JSON
  -- {"api_key", "from", "base_url"?}), never the vendor's own provider, which may be the broken one.
  select decrypted_secret::jsonb into v_email from vault.decrypted_secrets where name = 'platform_email';
  if v_supplier.alert_email is not null and v_email ->> 'api_key' is not null and v_email ->> 'from' is not null then
    v_subject := case new.kind
      when 'integration_disconnected' then format('Action needed: %s is disconnected', new.details ->> 'provider')
      when 'integration_failing' then format('%s is failing', new.details ->> 'provider')
      when 'dead_letters' then 'Some messages could not be sent today'
      when 'whatsapp_template_rejected' then 'A WhatsApp template was rejected'
      when 'sending_domain_unverified' then 'Your sending domain is not verified'
      else 'A journey needs your attention' end;
    perform net.http_post(
      url := rtrim(coalesce(v_email ->> 'base_url', 'https://api.resend.com'), '/') || '/emails',
      body := jsonb_build_object('from', v_email ->> 'from', 'to', jsonb_build_array(v_supplier.alert_email),
        'subject', v_subject,
        'text', concat_ws(E'

', v_subject || '.',
          coalesce(new.details ->> 'reason', ''),
          case when (new.details ->> 'held') is not null
            then format('%s message(s) are waiting and will go out by themselves, in order, once you reconnect.',
              new.details ->> 'held') end,
          case when new.kind = 'dead_letters' then format('%s message(s) today.', new.details ->> 'count') end,
          'Open the app to see the details and reconnect.')),
      headers := jsonb_build_object('Content-Type', 'application/json',
        'Authorization', 'Bearer ' || (v_email ->> 'api_key'), 'Idempotency-Key', v_id),
      timeout_milliseconds := 5000);
  end if;
  return null;
end
$$;

create trigger supplier_notifications_20_alert after insert on public.supplier_notifications
  for each row execute function public.on_supplier_notifications_alert();

-- The operator's view ------------------------------------------------------------------------------

create view public.operator_attention with (security_invoker = true) as
select 'integration'::text as kind, si.supplier_id, s.name as supplier_name, si.provider, si.id::text as subject,
  si.status, si.status_code as code, si.status_reason as reason, si.status_since as since,
  (select count(*) from public.module_runs r
   where r.supplier_id = si.supplier_id and r.status = 'held' and r.last_error ->> 'integration_id' = si.id::text) as runs
from public.supplier_integrations si join public.suppliers s on s.id = si.supplier_id
where si.status <> 'connected'
union all
select 'held_runs', r.supplier_id, s.name, r.last_error ->> 'provider', r.module_type::text, 'held',
  r.last_error ->> 'code', min(r.last_error ->> 'message'), min(r.updated_at), count(*)
from public.module_runs r join public.suppliers s on s.id = r.supplier_id
where r.status = 'held'
group by r.supplier_id, s.name, r.last_error ->> 'provider', r.module_type, r.last_error ->> 'code'
union all
select 'dead_runs', r.supplier_id, s.name, r.last_error ->> 'provider', r.module_type::text, 'dead',
  r.last_error ->> 'code', min(r.last_error ->> 'message'), min(r.completed_at), count(*)
from public.module_runs r join public.suppliers s on s.id = r.supplier_id
where r.status = 'dead'
group by r.supplier_id, s.name, r.last_error ->> 'provider', r.module_type, r.last_error ->> 'code'
union all
select 'circuit', a.supplier_id, s.name, a.provider, a.account,
  case when a.circuit = 'open' and a.open_until <= now() then 'half_open' else a.circuit end,
  a.last_errors -> 0 ->> 'code', a.last_errors -> 0 ->> 'message', a.opened_at, a.consecutive_failures::bigint
from public.provider_accounts a left join public.suppliers s on s.id = a.supplier_id
where a.circuit <> 'closed';
comment on view public.operator_attention is
  'Everything that needs an operator, for every supplier: unhealthy integrations (with their held runs), held '
  'and dead runs by module and reason, and open circuits. Codes and reasons only, no message bodies or '
  'secrets. Service role only (it reads past row level security; the view runs as the invoker).';
revoke all on public.operator_attention from public, anon, authenticated;
grant select on public.operator_attention to service_role;

revoke execute on function
  public.notify_supplier(uuid, text, text, jsonb, uuid),
  public.integration_incident_key(public.supplier_integrations),
  public.integration_rejected(uuid, text, text, timestamptz),
  public.note_held_runs(uuid[]),
  public.release_runs(bigint[], text, text),
  public.release_held_runs(uuid),
  public.on_supplier_integrations_health(),
  public.sweep_integration_health(),
  public.standard_webhook_signature(text, text, bigint, text),
  public.on_supplier_notifications_alert()
from public, anon, authenticated;

-- Connecting a supplier's scheduling integration from the functions (Calendly token, Google refresh
-- token, Acuity API key): the credential goes to Vault, the row points at it, in one call.

create function public.connect_integration(
  p_supplier_id uuid,
  p_provider text,
  p_secret text,
  p_settings jsonb
) returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
  v_secret_id uuid;
begin
  select secret_id into v_secret_id from public.supplier_integrations
  where supplier_id = p_supplier_id and provider = p_provider
  for update;
  if v_secret_id is not null and exists (select 1 from vault.secrets where id = v_secret_id) then
    perform vault.update_secret(v_secret_id, p_secret);
  else
    v_secret_id := vault.create_secret(p_secret, format('%s:%s:%s', p_provider, p_supplier_id, gen_random_uuid()));
  end if;
  -- Reconnecting a disconnected integration releases its held runs (supplier_integrations_30_health).
  insert into public.supplier_integrations (supplier_id, provider, settings, secret_id, status, status_reason)
  values (p_supplier_id, p_provider, coalesce(p_settings, '{}'), v_secret_id, 'connected', null)
  on conflict (supplier_id, provider) do update
  set settings = public.supplier_integrations.settings || excluded.settings, secret_id = excluded.secret_id,
      status = 'connected', status_code = null, status_reason = null, status_since = now(), updated_at = now();
  return v_secret_id;
end
$$;
comment on function public.connect_integration(uuid, text, text, jsonb) is
  'Stores (or rotates) a supplier integration''s JSON credential in Vault and marks the integration '
  'connected, merging the given non-secret settings. Returns the Vault secret id.';

revoke execute on function public.connect_integration(uuid, text, text, jsonb) from public, anon, authenticated;

-- The vendor app's integrations endpoint: disconnecting removes the integration row (its held runs are
-- released by supplier_integrations_30_health) and its Vault secret in one transaction.

create function public.disconnect_integration(p_supplier_id uuid, p_provider text) returns boolean
language plpgsql security definer
set search_path = ''
as $$
declare
  v_secret_id uuid;
begin
  delete from public.supplier_integrations
  where supplier_id = p_supplier_id and provider = p_provider
  returning secret_id into v_secret_id;
  if not found then
    return false;
  end if;
  if v_secret_id is not null
    and not exists (select 1 from public.supplier_integrations where secret_id = v_secret_id) then
    delete from vault.secrets where id = v_secret_id;
  end if;
  return true;
end
$$;
comment on function public.disconnect_integration(uuid, text) is
  'Deletes a supplier''s integration with a provider and its Vault secret (unless another integration shares '
  'it). The delete trigger releases its held runs, which then end with their route''s reason or another route. '
  'False when there was none.';

revoke execute on function public.disconnect_integration(uuid, text) from public, anon, authenticated;

-- Security hardening: close what Row Level Security alone left reachable. Security definer trigger
-- functions are fired by their triggers only, so nobody needs to execute them directly; the RLS
-- predicate is needed by signed-in users only; the provider status view is read-only and not for anon
-- (as public.crm_delivery_log already is).

revoke execute on function public.on_module_runs_inserted() from public, anon, authenticated;
revoke execute on function public.on_journey_instances_inserted() from public, anon, authenticated;
revoke execute on function public.on_journey_instances_moved() from public, anon, authenticated;
revoke execute on function public.on_client_dates_changed() from public, anon, authenticated;

-- Policies call it as the signed-in user; anon has no policy that could need it.
revoke execute on function public.is_supplier_member(uuid) from public, anon;
grant execute on function public.is_supplier_member(uuid) to authenticated;

revoke all on public.provider_account_status from anon;
revoke insert, update, delete, truncate, references, trigger on public.provider_account_status from authenticated;

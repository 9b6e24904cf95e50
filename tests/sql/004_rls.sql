-- Row Level Security: a supplier's user sees and changes only that supplier's rows; anon sees nothing;
-- Vault is closed to both.
begin;
select plan(12);

\ir seed/two_suppliers.sql
insert into public.clients (id, supplier_id, couple_name, email) values
  ('c0000000-0000-4000-8000-00000000000a', 'a0000000-0000-4000-8000-00000000000a', 'Couple A', 'a@example.com');
select vault.create_secret('{"api_key": "re_canary"}', 'rls-canary');

-- Observations are made under each role and asserted afterwards as the test owner.
create temp table seen (what text primary key, n integer);
grant all on seen to anon, authenticated;

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-0000000000a1", "role": "authenticated"}', true);
insert into seen select 'a_clients', count(*) from public.clients;
insert into seen select 'a_suppliers', count(*) from public.suppliers;
insert into seen select 'a_runs', count(*) from public.module_runs;
update public.clients set couple_name = 'changed by A' where supplier_id = 'a0000000-0000-4000-8000-00000000000b';
do $$
begin
  insert into public.clients (supplier_id, couple_name) values ('a0000000-0000-4000-8000-00000000000b', 'intruder');
  insert into seen values ('a_insert_b', 1);
exception when insufficient_privilege then
  insert into seen values ('a_insert_b', 0);
end $$;
do $$
begin
  insert into public.module_runs (supplier_id, journey_instance_id, step_id, module_type, run_at, idempotency_key)
  values ('a0000000-0000-4000-8000-00000000000b', '11000000-0000-4000-8000-00000000000b',
    '50000000-0000-4000-8000-00000000000b', 'email', now(), 'forged');
  insert into seen values ('a_insert_run', 1);
exception when insufficient_privilege then
  insert into seen values ('a_insert_run', 0);
end $$;
do $$
begin
  perform count(*) from vault.decrypted_secrets;
  insert into seen values ('a_vault', 1);
exception when insufficient_privilege then
  insert into seen values ('a_vault', 0);
end $$;

select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-0000000000b1", "role": "authenticated"}', true);
insert into seen select 'b_runs', count(*) from public.module_runs;

reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
do $$
declare
  t record;
  total bigint := 0;
  n bigint;
begin
  for t in select tablename from pg_tables where schemaname = 'public' loop
    begin
      execute format('select count(*) from public.%I', t.tablename) into n;
      total := total + n;
    exception when insufficient_privilege then
      null;
    end;
  end loop;
  insert into seen values ('anon_rows', total);
end $$;
do $$
begin
  perform count(*) from vault.decrypted_secrets;
  insert into seen values ('anon_vault', 1);
exception when insufficient_privilege then
  insert into seen values ('anon_vault', 0);
end $$;
reset role;

select is((select n from seen where what = 'a_clients'), 1, 'A''s user sees only A''s couple');
select is((select n from seen where what = 'a_suppliers'), 1, 'A''s user sees only supplier A');
select is((select n from seen where what = 'a_runs'), 0, 'A''s user sees none of B''s runs');
select is((select n from seen where what = 'b_runs'), 1, 'B''s user sees B''s run');
select is(
  (select couple_name from public.clients where id = 'c0000000-0000-4000-8000-00000000000b'), 'Couple B',
  'A''s user cannot change B''s couple'
);
select is((select n from seen where what = 'a_insert_b'), 0, 'A''s user cannot add a couple to B');
select is((select n from seen where what = 'a_insert_run'), 0, 'users cannot write module runs');
select is((select n from seen where what = 'a_vault'), 0, 'authenticated cannot read Vault');
select is((select n from seen where what = 'anon_rows')::int, 0, 'anon sees no row of any table');
select is((select n from seen where what = 'anon_vault'), 0, 'anon cannot read Vault');
select ok(
  (select bool_and(rowsecurity) from pg_tables where schemaname = 'public'),
  'every public table has row level security enabled'
);
select is(
  (select count(*)::int from pg_tables where schemaname = 'public'
    and tablename not in (select tablename from pg_policies where schemaname = 'public') and tablename <> 'dispatch_state'),
  0,
  'every public table but dispatch_state has a policy'
);

select * from finish();
rollback;

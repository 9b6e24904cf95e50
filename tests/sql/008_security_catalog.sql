-- Security from the catalog, so a new table, view or function is covered without editing this file: no
-- policy for anon, every member policy scoped to the member's supplier, views as the invoker, writes by
-- anon and by another supplier's user changing nothing in any table, Vault and security definer
-- functions closed.
begin;
select plan(10);

\ir seed/two_suppliers.sql
insert into public.email_templates (supplier_id, key, subject, html) values
  ('a0000000-0000-4000-8000-00000000000b', 't', 'Hello', '<p>Hi</p>');
insert into public.suppressions (supplier_id, channel, address, reason) values
  ('a0000000-0000-4000-8000-00000000000b', 'email', 'gone@example.com', 'bounced');
insert into public.supplier_integrations (supplier_id, provider, settings, secret_id) values
  ('a0000000-0000-4000-8000-00000000000b', 'resend', '{}',
    vault.create_secret('{"api_key": "re_catalog_canary"}', 'catalog-canary'));

create temp table seen (what text, n bigint);
grant all on seen to anon, authenticated;

-- Every table with a supplier_id, as anon and as A's user: B's rows are invisible, and updates and
-- deletes of them change nothing (a refused statement counts as nothing changed).
create function pg_temp.probe(p_who text) returns void language plpgsql as $$
declare
  t record;
  n bigint;
begin
  for t in
    select c.table_name
    from information_schema.columns c join information_schema.tables s using (table_schema, table_name)
    where c.table_schema = 'public' and c.column_name = 'supplier_id' and s.table_type = 'BASE TABLE'
  loop
    begin
      execute format('select count(*) from public.%I where supplier_id = %L', t.table_name,
        'a0000000-0000-4000-8000-00000000000b') into n;
      insert into seen values (p_who || ' sees ' || t.table_name, n);
    exception when insufficient_privilege then null;
    end;
    begin
      execute format('update public.%I set supplier_id = supplier_id where supplier_id = %L', t.table_name,
        'a0000000-0000-4000-8000-00000000000b');
      get diagnostics n = row_count;
      insert into seen values (p_who || ' updates ' || t.table_name, n);
    exception when insufficient_privilege then null;
    end;
    begin
      execute format('delete from public.%I where supplier_id = %L', t.table_name,
        'a0000000-0000-4000-8000-00000000000b');
      get diagnostics n = row_count;
      insert into seen values (p_who || ' deletes ' || t.table_name, n);
    exception when insufficient_privilege then null;
    end;
    begin
      execute format('insert into public.%I (supplier_id) values (%L)', t.table_name,
        'a0000000-0000-4000-8000-00000000000b');
      insert into seen values (p_who || ' inserts into ' || t.table_name, 1);
    exception when others then null;
    end;
  end loop;
end $$;
grant execute on function pg_temp.probe(text) to anon, authenticated;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select pg_temp.probe('anon');
reset role;
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-0000000000a1", "role": "authenticated"}', true);
select pg_temp.probe('A''s user');
reset role;

select is(
  (select array_agg(what order by what) from seen where n > 0), null,
  'anon and another supplier''s user see, change, delete and add no row of B in any table'
);
select ok(
  (select count(*) from seen where what like 'A''s user sees %') >= 20,
  'the probe reached every supplier table as a signed-in user'
);
select is(
  (select array_agg(tablename || '.' || policyname) from pg_policies
    where schemaname = 'public' and roles && array['anon', 'public']::name[]),
  null,
  'no policy applies to anon or to every role'
);
select is(
  (select array_agg(p.tablename || '.' || p.policyname) from pg_policies p
    where p.schemaname = 'public' and exists (select 1 from information_schema.columns c
      where c.table_schema = 'public' and c.table_name = p.tablename and c.column_name = 'supplier_id')
      -- A membership row is the user's own: the one policy scoped by user, not by supplier.
      and (coalesce(p.qual, 'false') not in ('is_supplier_member(supplier_id)', 'false',
          '(user_id = ( SELECT auth.uid() AS uid))')
        or coalesce(p.with_check, 'false') not in ('is_supplier_member(supplier_id)', 'false'))),
  null,
  'every policy of a supplier table is scoped to the member''s supplier (or closed)'
);
select is(
  (select array_agg(c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'v'
      and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
      and not coalesce('security_invoker=true' = any (c.reloptions), false)),
  null,
  'every view runs as the invoker, so the tables'' row level security applies'
);
select is(
  (select array_agg(c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'v' and has_table_privilege('anon', c.oid, 'select')
      and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')),
  null,
  'anon has no grant on any view'
);
select is(
  (select array_agg(c.relname || ':' || r) from pg_class c join pg_namespace n on n.oid = c.relnamespace,
    unnest(array['anon', 'authenticated']) r
    where n.nspname = 'vault' and c.relkind in ('r', 'v') and has_table_privilege(r, c.oid, 'select')),
  null,
  'anon and authenticated cannot read vault.secrets or vault.decrypted_secrets'
);
select is(
  (select array_agg(p.proname || ':' || r) from pg_proc p join pg_namespace n on n.oid = p.pronamespace,
    unnest(array['anon', 'authenticated']) r
    where n.nspname = 'vault' and has_function_privilege(r, p.oid, 'execute')),
  null,
  'anon and authenticated cannot call any Vault function'
);
select is(
  (select array_agg(p.proname || ':' || r order by p.proname, r) from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace, unnest(array['anon', 'authenticated']) r
    where n.nspname = 'public' and p.prosecdef and has_function_privilege(r, p.oid, 'execute')),
  array['is_supplier_member:authenticated'],
  'the only security definer function anon or authenticated may call is the RLS predicate, signed in'
);
select is(
  (select array_agg(c.table_name || '.' || c.column_name) from information_schema.columns c
    join pg_class k on k.relname = c.table_name join pg_namespace n on n.oid = k.relnamespace and n.nspname = 'public'
    where c.table_schema = 'public' and c.column_name ~* '(secret|token|password|api_key|credential)'
      and has_column_privilege('authenticated', k.oid, c.column_name, 'select')),
  array['supplier_integrations.secret_id'],
  'no secret-bearing column is readable when signed in but the Vault id of an integration''s secret'
);

select * from finish();
rollback;

-- public.activity_timeline(): a supplier's member sees their couple's timeline, another supplier's member
-- gets "not found", anon cannot call it, and a bad limit is refused.
begin;
select plan(6);

\ir seed/two_suppliers.sql

create temp table seen (what text primary key, n integer);
grant all on seen to anon, authenticated;

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-0000000000b1", "role": "authenticated"}', true);
insert into seen select 'b_entries', count(*) from public.activity_timeline('c0000000-0000-4000-8000-00000000000b');
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-0000000000a1", "role": "authenticated"}', true);
do $$
begin
  perform * from public.activity_timeline('c0000000-0000-4000-8000-00000000000b');
  insert into seen values ('a_sees_b', 1);
exception when no_data_found then
  insert into seen values ('a_sees_b', 0);
end $$;
reset role;

select is((select n from seen where what = 'b_entries') > 0, true, 'the member sees the couple''s runs');
select is((select n from seen where what = 'a_sees_b'), 0, 'another supplier''s member gets not found');
select ok(not has_function_privilege('anon', 'public.activity_timeline(uuid, uuid, timestamptz, integer, text)', 'execute'),
  'anon cannot call it');
select throws_ok($$select * from public.activity_timeline('c0000000-0000-4000-8000-00000000000b', null, null, 0)$$,
  '22023', null, 'a limit below 1 is refused');
select throws_ok($$select * from public.activity_timeline('c0000000-0000-4000-8000-00000000000b', '11000000-0000-4000-8000-0000000000ff')$$,
  'P0002', null, 'an instance of another couple is not found');
select is((select count(*)::int from public.activity_timeline('c0000000-0000-4000-8000-00000000000b', null, now() - interval '1 day')),
  0, 'the cursor pages to older entries only');

select * from finish();
rollback;

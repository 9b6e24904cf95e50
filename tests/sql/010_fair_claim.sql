-- Fair share between suppliers: one supplier's pile of due runs (a bulk import, a shared anchor) does not
-- hold back another supplier's run, and never leaves a claim slot idle.
begin;
select plan(7);

insert into public.suppliers (id, name) values
  ('a0000000-0000-4000-8000-0000000000f1', 'Big'), ('a0000000-0000-4000-8000-0000000000f2', 'Small');
insert into public.clients (id, supplier_id, couple_name, email) values
  ('c0000000-0000-4000-8000-0000000000f1', 'a0000000-0000-4000-8000-0000000000f1', 'A', 'a@example.com'),
  ('c0000000-0000-4000-8000-0000000000f2', 'a0000000-0000-4000-8000-0000000000f2', 'B', 'b@example.com');
insert into public.journeys (id, supplier_id, name) values
  ('10000000-0000-4000-8000-0000000000f1', 'a0000000-0000-4000-8000-0000000000f1', 'J'),
  ('10000000-0000-4000-8000-0000000000f2', 'a0000000-0000-4000-8000-0000000000f2', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config) values
  ('50000000-0000-4000-8000-0000000000f1', '10000000-0000-4000-8000-0000000000f1', 'a0000000-0000-4000-8000-0000000000f1', 1, 'email', '{"template": "t"}'),
  ('50000000-0000-4000-8000-0000000000f2', '10000000-0000-4000-8000-0000000000f2', 'a0000000-0000-4000-8000-0000000000f2', 1, 'email', '{"template": "t"}');

-- The big supplier imports 300 couples in one statement, then the small one books one couple.
insert into public.journey_instances (journey_id, supplier_id, client_id)
select '10000000-0000-4000-8000-0000000000f1', 'a0000000-0000-4000-8000-0000000000f1', 'c0000000-0000-4000-8000-0000000000f1'
from generate_series(1, 300);
insert into public.journey_instances (id, journey_id, supplier_id, client_id)
values ('11000000-0000-4000-8000-0000000000f2', '10000000-0000-4000-8000-0000000000f2', 'a0000000-0000-4000-8000-0000000000f2', 'c0000000-0000-4000-8000-0000000000f2');

select is(
  (select array_agg(fair_offset_ms order by fair_offset_ms) from (
    select fair_offset_ms from public.module_runs where supplier_id = 'a0000000-0000-4000-8000-0000000000f1'
    order by fair_offset_ms limit 3) x),
  array[0, 10, 20],
  'one statement''s runs of a supplier are spread 10 ms apart in the fair order'
);
select is(
  (select fair_offset_ms from public.module_runs where supplier_id = 'a0000000-0000-4000-8000-0000000000f2'),
  0,
  'the other supplier''s run keeps its own place'
);

create temporary table claimed as select * from public.claim_runs('email', 5);
select ok(
  exists (select 1 from claimed where supplier_id = 'a0000000-0000-4000-8000-0000000000f2'),
  'a claim of 5 takes the small supplier''s run although 300 of the big one were due first'
);
select is((select count(*)::int from claimed), 5, 'the spare of the claim goes to the big supplier''s pile');
select is(
  (select count(*)::int from public.claim_runs('email', 400)),
  296,
  'the rest of the pile is claimed at once when there is room: fairness never leaves a slot idle'
);

-- A 09:00 anchor shared by many couples, each planned on its own: the sweep spreads the coming pile.
insert into public.module_runs (supplier_id, journey_instance_id, step_id, module_type, run_at, idempotency_key)
select 'a0000000-0000-4000-8000-0000000000f1', (select id from public.journey_instances
  where supplier_id = 'a0000000-0000-4000-8000-0000000000f1' limit 1),
  '50000000-0000-4000-8000-0000000000f1', 'email', now() + interval '1 minute', 'anchor:' || g
from generate_series(1, 20) g;
insert into public.module_runs (supplier_id, journey_instance_id, step_id, module_type, run_at, idempotency_key)
values ('a0000000-0000-4000-8000-0000000000f2', '11000000-0000-4000-8000-0000000000f2',
  '50000000-0000-4000-8000-0000000000f2', 'email', now() + interval '1 minute', 'anchor:small');
select is(public.sweep_fair_order(), 19, 'the sweep spreads the big supplier''s coming pile but its first run');
select is(
  (select count(*)::int from public.module_runs
   where supplier_id = 'a0000000-0000-4000-8000-0000000000f1' and idempotency_key like 'anchor:%'
     and fair_at <= (select fair_at from public.module_runs where idempotency_key = 'anchor:small')),
  1,
  'at 09:00 the small supplier''s run comes second, not 21st'
);

select * from finish();
rollback;

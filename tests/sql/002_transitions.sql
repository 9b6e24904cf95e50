-- Step transitions plan runs in the same transaction; re-planning follows wedding-date changes.
begin;
select plan(9);

insert into public.suppliers (id, name, time_zone) values ('a0000000-0000-4000-8000-000000000001', 'S', 'Europe/London');
insert into public.clients (id, supplier_id, couple_name, email, wedding_date)
values ('c0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 'A & B', 'ab@example.com', '2027-06-12');
insert into public.journeys (id, supplier_id, name) values ('10000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config, timing) values
  ('50000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 1, 'email', '{"template": "welcome"}', '{}'),
  ('50000000-0000-4000-8000-000000000002', '10000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 2, 'email', '{"template": "reminder"}', '{"anchor": "wedding_date", "offset_days": -2, "at": "10:00"}');

insert into public.journey_instances (id, journey_id, supplier_id, client_id)
values ('11000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001');

select is(
  (select current_step_id from public.journey_instances where id = '11000000-0000-4000-8000-000000000001'),
  '50000000-0000-4000-8000-000000000001'::uuid,
  'a started journey begins at its first step'
);
select is(
  (select count(*)::int from public.module_runs where step_id = '50000000-0000-4000-8000-000000000001' and status = 'pending'),
  1,
  'the transition inserts the step''s run in the same transaction'
);

update public.journey_instances set current_step_id = '50000000-0000-4000-8000-000000000002'
where id = '11000000-0000-4000-8000-000000000001';
select is(
  (select run_at from public.module_runs where step_id = '50000000-0000-4000-8000-000000000002'),
  '2027-06-10 09:00+00'::timestamptz,
  'moving to an anchored step plans it two days before the wedding at 10:00 local'
);

update public.clients set wedding_date = '2027-09-04' where id = 'c0000000-0000-4000-8000-000000000001';
select is(
  (select run_at from public.module_runs where step_id = '50000000-0000-4000-8000-000000000002'),
  '2027-09-02 09:00+00'::timestamptz,
  'a new wedding date re-plans the pending anchored run'
);

-- Run keys are instance:step:visit: a start is the first visit (no count), a step entered again the next.
update public.journey_instances set current_step_id = '50000000-0000-4000-8000-000000000001'
where id = '11000000-0000-4000-8000-000000000001';
select is(
  (select array_agg(idempotency_key order by id) from public.module_runs
   where step_id = '50000000-0000-4000-8000-000000000001'),
  array['11000000-0000-4000-8000-000000000001:50000000-0000-4000-8000-000000000001:1',
        '11000000-0000-4000-8000-000000000001:50000000-0000-4000-8000-000000000001:2'],
  'a started journey''s run is the step''s first visit, and entering the step again plans its second'
);
insert into public.journey_instances (journey_id, supplier_id, client_id)
select '10000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001'
from generate_series(1, 3);
select is(
  (select array_agg(distinct split_part(idempotency_key, ':', 3)) from public.module_runs
   where journey_instance_id <> '11000000-0000-4000-8000-000000000001'),
  array['1'],
  'journeys started together in one statement each plan the first visit of their first step'
);

select is(public.kick('email'), false, 'a kick inside the coalescing window sends nothing');
select is(
  (select count(*)::int from public.dispatch_state where module_type = 'email' and kicked_at > now() - interval '1 minute'),
  1,
  'the transition kicked the email module'
);

select throws_ok(
  $$insert into public.journey_steps (journey_id, supplier_id, position, module_type, config)
    values ('10000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000001', 3, 'email', '{"template": 5}')$$,
  '23514', null, 'an email step without a template key is refused by the database'
);

select * from finish();
rollback;

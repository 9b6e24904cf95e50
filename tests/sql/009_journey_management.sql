-- Journey management in SQL: the send-window twins across DST, membership (another supplier's user sees
-- "not found"), pause holding in place, resume releasing with the if_past rule, cancel with the reason,
-- and the API roles unable to call the functions directly.
begin;
select plan(14);

\ir seed/two_suppliers.sql

-- Send windows: London business hours and quiet hours on the night the clocks go forward (28 March 2027).
select is(
  public.next_business_time('2027-03-26 18:00Z', 'Europe/London', '{"days": [1,2,3,4,5], "start": "09:00", "end": "17:00"}'),
  '2027-03-29 08:00Z'::timestamptz,
  'Friday evening waits for Monday 09:00 local, which is 08:00Z after the change'
);
select is(
  public.next_business_time('2027-03-29 10:00Z', 'Europe/London', '{"days": [1,2,3,4,5], "start": "09:00", "end": "17:00"}'),
  '2027-03-29 10:00Z'::timestamptz,
  'inside business hours: now'
);
select is(
  public.next_outside_quiet_hours('2027-03-27 23:30Z', 'Europe/London', '{"start": "21:00", "end": "08:00"}'),
  '2027-03-28 07:00Z'::timestamptz,
  'quiet hours end at 08:00 on the wall clock (07:00Z) on the morning of the change'
);
select is(
  public.next_outside_quiet_hours('2027-03-27 12:00Z', 'Europe/London', '{"start": "21:00", "end": "08:00"}'),
  '2027-03-27 12:00Z'::timestamptz,
  'outside quiet hours: now'
);

-- B's couple is on a one-step journey with a run planned; make it due tomorrow.
update public.module_runs set run_at = now() + interval '1 day'
where journey_instance_id = '11000000-0000-4000-8000-00000000000b';

-- A's user cannot reach B's journey.
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-0000000000a1", "role": "authenticated"}', true);
select throws_ok(
  $$ select public.pause_journey_instance('11000000-0000-4000-8000-00000000000b', null) $$,
  'P0002', null, 'another supplier''s user: the instance is not found'
);
select throws_ok(
  $$ select public.delete_journey_step('50000000-0000-4000-8000-00000000000b', null) $$,
  'P0002', null, 'another supplier''s user: the step is not found'
);

select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-0000000000b1", "role": "authenticated"}', true);
select is(
  public.pause_journey_instance('11000000-0000-4000-8000-00000000000b', 'holiday') ->> 'held_runs',
  '1',
  'pausing holds the pending run'
);
select is(
  (select array[status::text, last_error ->> 'code', last_error ->> 'message', attempts::text]
   from public.module_runs where journey_instance_id = '11000000-0000-4000-8000-00000000000b'),
  array['held', 'journey_paused', 'holiday', '0'],
  'held with journey_paused and the reason, attempts untouched'
);
select throws_ok(
  $$ select public.pause_journey_instance('11000000-0000-4000-8000-00000000000b', null) $$,
  '55000', null, 'a paused journey cannot be paused again'
);

-- The run's time passed long ago and its step says skip: resume skips it and the journey completes.
update public.journey_steps set timing = '{"if_past": "skip"}' where id = '50000000-0000-4000-8000-00000000000b';
update public.module_runs set run_at = now() - interval '2 hours'
where journey_instance_id = '11000000-0000-4000-8000-00000000000b';
select is(
  public.resume_journey_instance('11000000-0000-4000-8000-00000000000b') - 'instance_id',
  '{"status": "completed", "released_runs": 1, "skipped_runs": 1}'::jsonb,
  'resume releases the hold; a step whose time passed with if_past skip is skipped and the journey moves on'
);
select is(
  (select last_error ->> 'code' from public.module_runs where journey_instance_id = '11000000-0000-4000-8000-00000000000b'),
  'window_passed',
  'the skipped run says why'
);
select throws_ok(
  $$ select public.cancel_journey_instance('11000000-0000-4000-8000-00000000000b', null) $$,
  '55000', null, 'a completed journey cannot be cancelled'
);

select is(
  (select array_agg(p.proname::text || ':' || r order by p.proname, r) from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace, unnest(array['anon', 'authenticated']) r
    where n.nspname = 'public' and has_function_privilege(r, p.oid, 'execute')
      and p.proname in ('update_journey_step', 'delete_journey_step', 'reorder_journey_steps',
        'pause_journey_instance', 'resume_journey_instance', 'cancel_journey_instance',
        'cancel_couple_journeys', 'journey_dry_run', 'cancel_instances', 'cancel_client_journeys')),
  null,
  'the API roles cannot call the journey management functions directly'
);

-- The dry run writes nothing.
select is(
  (select jsonb_array_length(public.journey_dry_run('10000000-0000-4000-8000-00000000000b',
     'c0000000-0000-4000-8000-00000000000b', '2027-01-01Z') -> 'steps')),
  1,
  'the dry run lists the journey''s step'
);

select * from finish();
rollback;

-- Resume catches up with what happened while a journey was paused: a run in flight that finished advances
-- the journey, one that found the journey paused is planned again, a step reached while paused (its step
-- was deleted) is planned; deleting a step cancels its waiting run too; cancelling leaves the calendar sync.
begin;
select plan(10);

\ir seed/two_suppliers.sql
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config) values
  ('50000000-0000-4000-8000-0000000000b2', '10000000-0000-4000-8000-00000000000b', 'a0000000-0000-4000-8000-00000000000b', 2, 'email', '{"template": "t"}'),
  ('50000000-0000-4000-8000-0000000000b3', '10000000-0000-4000-8000-00000000000b', 'a0000000-0000-4000-8000-00000000000b', 3, 'email', '{"template": "t"}');
select set_config('request.jwt.claims', '{"sub": "00000000-0000-4000-8000-0000000000b1", "role": "authenticated"}', true);

-- Step 1's run is in flight when the journey is paused, and succeeds during the pause.
update public.module_runs set status = 'running', attempts = 1
where journey_instance_id = '11000000-0000-4000-8000-00000000000b';
select is(public.pause_journey_instance('11000000-0000-4000-8000-00000000000b', null) ->> 'held_runs', '0',
  'a run in flight is not held');
update public.module_runs set status = 'succeeded', completed_at = now()
where journey_instance_id = '11000000-0000-4000-8000-00000000000b';
select public.advance_instances(jsonb_build_array(jsonb_build_object(
  'instance_id', '11000000-0000-4000-8000-00000000000b', 'step_id', '50000000-0000-4000-8000-00000000000b')));
select is((select current_step_id from public.journey_instances where id = '11000000-0000-4000-8000-00000000000b'),
  '50000000-0000-4000-8000-00000000000b'::uuid, 'a paused journey does not move on');

select public.resume_journey_instance('11000000-0000-4000-8000-00000000000b');
select is((select current_step_id from public.journey_instances where id = '11000000-0000-4000-8000-00000000000b'),
  '50000000-0000-4000-8000-0000000000b2'::uuid, 'resume advances from the step that finished during the pause');
select is((select count(*)::int from public.module_runs
  where step_id = '50000000-0000-4000-8000-0000000000b2' and status = 'pending'), 1, 'and plans the next step');

-- Step 2's run is claimed during a pause and skipped by its module (the journey is not active).
update public.module_runs set status = 'running', attempts = 1 where step_id = '50000000-0000-4000-8000-0000000000b2';
select public.pause_journey_instance('11000000-0000-4000-8000-00000000000b', null);
update public.module_runs set status = 'skipped', completed_at = now(),
  last_error = '{"kind": "skipped", "code": "journey_inactive", "message": "The journey is paused"}'
where step_id = '50000000-0000-4000-8000-0000000000b2';
select public.resume_journey_instance('11000000-0000-4000-8000-00000000000b');
select is((select array_agg(status::text order by id) from public.module_runs
  where step_id = '50000000-0000-4000-8000-0000000000b2'), array['skipped', 'pending'],
  'a run skipped because of the pause is planned again at resume (a new visit)');

-- Step 2 waits for an outside event; the journey is paused and step 2 is deleted.
update public.module_runs set status = 'waiting' where step_id = '50000000-0000-4000-8000-0000000000b2' and status = 'pending';
select public.pause_journey_instance('11000000-0000-4000-8000-00000000000b', null);
select is(public.delete_journey_step('50000000-0000-4000-8000-0000000000b2', 'gone') - 'deleted_step_id',
  '{"cancelled_runs": 1, "moved_instances": 1}'::jsonb, 'deleting the step cancels its waiting run and moves the journey');
select is((select count(*)::int from public.module_runs where step_id = '50000000-0000-4000-8000-0000000000b3'), 0,
  'a paused journey moved to the next step has nothing planned yet');
select public.resume_journey_instance('11000000-0000-4000-8000-00000000000b');
select is((select count(*)::int from public.module_runs
  where step_id = '50000000-0000-4000-8000-0000000000b3' and status = 'pending'), 1,
  'resume plans the step the journey reached while paused');

-- The wedding-timeline sync to the vendor's calendar is bookkeeping, not a send: a cancel leaves it to run.
with r as (
  insert into public.module_runs (supplier_id, journey_instance_id, module_type, run_at, idempotency_key)
  values ('a0000000-0000-4000-8000-00000000000b', '11000000-0000-4000-8000-00000000000b', 'meeting',
    now() + interval '1 hour', 'timeline:test')
  returning id
)
insert into public.timeline_syncs (run_id, supplier_id, journey_instance_id)
select id, 'a0000000-0000-4000-8000-00000000000b', '11000000-0000-4000-8000-00000000000b' from r;
select is(public.cancel_journey_instance('11000000-0000-4000-8000-00000000000b', 'called off') ->> 'cancelled_runs', '1',
  'cancel ends the pending send');
select is((select status::text from public.module_runs where idempotency_key = 'timeline:test'), 'pending',
  'and leaves the calendar sync');

select * from finish();
rollback;

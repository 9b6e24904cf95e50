-- Meeting events out of order: a reschedule's booking that arrives before the booking it replaces keeps
-- the meeting on the new slot; the late original is stale and plans no reminders for the old slot.
begin;
select plan(5);

insert into public.suppliers (id, name) values ('a0000000-0000-4000-8000-000000000007', 'S');
insert into public.clients (id, supplier_id, couple_name, email)
values ('c0000000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 'A & B', 'ab7@example.com');
insert into public.journeys (id, supplier_id, name)
values ('10000000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config) values
  ('50000000-0000-4000-8000-000000000007', '10000000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007',
   1, 'meeting', '{"provider": "calendly", "meeting_type": "Call", "on_cancel": "keep"}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id)
values ('11000000-0000-4000-8000-000000000007', '10000000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 'c0000000-0000-4000-8000-000000000007');
update public.module_runs set status = 'waiting' where step_id = '50000000-0000-4000-8000-000000000007';
select public.meeting_for_run((select id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000007'), 'calendly');
create temporary table ref as select id::text as meeting_id from public.meetings where supplier_id = 'a0000000-0000-4000-8000-000000000007';

select is(
  public.receive_meeting_event('calendly', 'invitee.created:inv-new', 'invitee.created', 'a0000000-0000-4000-8000-000000000007',
    jsonb_build_object('kind', 'booked', 'external_id', 'inv-new', 'previous_external_id', 'inv-old',
      'meeting_ref', (select meeting_id from ref), 'start_at', '2031-05-20T10:00:00Z', 'end_at', '2031-05-20T10:30:00Z',
      'occurred_at', '2031-01-01T12:05:00Z')),
  'booked', 'the reschedule''s booking, arriving first, books the meeting on the new slot');
select is(
  public.receive_meeting_event('calendly', 'invitee.created:inv-old', 'invitee.created', 'a0000000-0000-4000-8000-000000000007',
    jsonb_build_object('kind', 'booked', 'external_id', 'inv-old',
      'meeting_ref', (select meeting_id from ref), 'start_at', '2031-05-10T10:00:00Z', 'end_at', '2031-05-10T10:30:00Z',
      'occurred_at', '2031-01-01T12:00:00Z')),
  'stale', 'the original booking, arriving late, is stale');
select results_eq(
  $$select status, external_id, start_at from public.meetings where supplier_id = 'a0000000-0000-4000-8000-000000000007'$$,
  $$values ('scheduled', 'inv-new', '2031-05-20T10:00:00Z'::timestamptz)$$,
  'the meeting stays on the new slot');
select is(
  (select array_agg(r.run_at order by r.run_at) from public.meeting_reminders mr join public.module_runs r on r.id = mr.run_id
   where mr.supplier_id = 'a0000000-0000-4000-8000-000000000007' and r.status = 'pending'),
  array['2031-05-19T10:00:00Z', '2031-05-20T08:00:00Z']::timestamptz[],
  'only the new slot''s reminders are pending');
select is(
  public.receive_meeting_event('calendly', 'invitee.canceled:inv-new', 'invitee.canceled', 'a0000000-0000-4000-8000-000000000007',
    jsonb_build_object('kind', 'canceled', 'external_id', 'inv-new', 'occurred_at', '2031-01-01T12:10:00Z')),
  'canceled', 'a later cancellation still applies');

select * from finish();
rollback;

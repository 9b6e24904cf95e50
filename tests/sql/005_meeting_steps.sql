-- Meeting steps: a waiting run completes on the booking and advances the journey once; a cancellation of
-- a meeting on the journey's last step reopens it with a new visit; reminders follow the meeting.
begin;
select plan(11);

insert into public.suppliers (id, name) values ('a0000000-0000-4000-8000-000000000005', 'S');
insert into public.clients (id, supplier_id, couple_name, email)
values ('c0000000-0000-4000-8000-000000000005', 'a0000000-0000-4000-8000-000000000005', 'A & B', 'ab@example.com');
insert into public.journeys (id, supplier_id, name)
values ('10000000-0000-4000-8000-000000000005', 'a0000000-0000-4000-8000-000000000005', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config) values
  ('50000000-0000-4000-8000-000000000005', '10000000-0000-4000-8000-000000000005', 'a0000000-0000-4000-8000-000000000005',
   1, 'meeting', '{"provider": "calendly", "meeting_type": "Call", "calendly_event_type": "https://api.calendly.com/event_types/x"}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id)
values ('11000000-0000-4000-8000-000000000005', '10000000-0000-4000-8000-000000000005', 'a0000000-0000-4000-8000-000000000005', 'c0000000-0000-4000-8000-000000000005');

select public.claim_runs('meeting', 1);
select public.record_outcomes(jsonb_build_array(jsonb_build_object(
  'run_id', (select id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000005'),
  'attempt', 1, 'kind', 'waiting', 'provider', 'resend', 'provider_message_id', 'm-5',
  'channel', 'email', 'recipient', 'ab@example.com')));
select is((select status::text from public.module_runs where step_id = '50000000-0000-4000-8000-000000000005'),
  'waiting', 'a sent link leaves the run waiting');
select is((select status::text from public.journey_instances where id = '11000000-0000-4000-8000-000000000005'),
  'active', 'a waiting run does not advance the journey');
select is((select count(*)::int from public.deliveries where provider_message_id = 'm-5'), 1,
  'the link email is recorded as a delivery, so its webhooks apply');

select ok(
  (public.meeting_for_run((select id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000005'), 'calendly')).id is not null,
  'the run gets its meeting');
select is(
  public.receive_meeting_event('calendly', 'created:inv-1', 'invitee.created', 'a0000000-0000-4000-8000-000000000005',
    jsonb_build_object('kind', 'booked', 'external_id', 'inv-1', 'invitee_email', 'AB@example.com',
      'start_at', now() + interval '3 days', 'end_at', now() + interval '3 days 30 minutes')),
  'booked', 'a booking matches the couple''s waiting meeting by email');
select is((select status::text from public.journey_instances where id = '11000000-0000-4000-8000-000000000005'),
  'completed', 'the booking completes the step and the one-step journey');
select is((select count(*)::int from public.meeting_reminders where supplier_id = 'a0000000-0000-4000-8000-000000000005'), 2, 'reminders 24 h and 2 h ahead are planned');
select is(
  public.receive_meeting_event('calendly', 'created:inv-1', 'invitee.created', 'a0000000-0000-4000-8000-000000000005', '{}'),
  'duplicate', 'the same event is applied once');
select is(
  public.complete_waiting_run((select id from public.module_runs
    where idempotency_key = '11000000-0000-4000-8000-000000000005:50000000-0000-4000-8000-000000000005:1'), '{}'),
  false, 'a completed run cannot complete again');

select is(
  public.receive_meeting_event('calendly', 'canceled:inv-1', 'invitee.canceled', 'a0000000-0000-4000-8000-000000000005',
    '{"kind": "canceled", "external_id": "inv-1"}'),
  'canceled', 'a cancellation finds the meeting by its booking');
select results_eq(
  $$select status::text, idempotency_key like '%:1' from public.module_runs
    where journey_instance_id = '11000000-0000-4000-8000-000000000005'
      and id not in (select run_id from public.meeting_reminders) order by id$$,
  $$values ('succeeded', true), ('pending', false)$$,
  'the completed journey is reopened at the meeting step with a new visit (a new run key)');

select * from finish();
rollback;

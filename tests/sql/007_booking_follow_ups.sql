-- Booking follow-ups: a link run that starts waiting gets its nudge and overdue runs (10:00 in the couple's
-- zone, no step, so succeeding never advances the journey); overdue keeps waiting or skips the step; a
-- booking cancels them.
begin;
select plan(9);

insert into public.suppliers (id, name) values ('a0000000-0000-4000-8000-000000000007', 'S');
insert into public.clients (id, supplier_id, couple_name, email, time_zone) values
  ('c0000000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 'A & B', 'ab@example.com', 'America/New_York'),
  ('c1000000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 'C & D', 'cd@example.com', null);
insert into public.journeys (id, supplier_id, name) values
  ('10000000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 'Wait'),
  ('10100000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 'Skip');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config, timing) values
  ('50000000-0000-4000-8000-000000000007', '10000000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 1, 'meeting',
   '{"provider": "calendly", "meeting_type": "Call", "calendly_event_type": "https://api.calendly.com/event_types/x",
     "awaiting_booking": {"nudge_after_days": 3, "overdue_after_days": 7}}', '{}'),
  ('51000000-0000-4000-8000-000000000007', '10000000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 2, 'email',
   '{"template": "t"}', '{"offset_days": 30}'),
  ('52000000-0000-4000-8000-000000000007', '10100000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 1, 'meeting',
   '{"provider": "calendly", "meeting_type": "Call", "calendly_event_type": "https://api.calendly.com/event_types/x",
     "awaiting_booking": {"overdue_after_days": 4, "on_overdue": "skip"}}', '{}'),
  ('53000000-0000-4000-8000-000000000007', '10100000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 2, 'email',
   '{"template": "t"}', '{"offset_days": 30}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id) values
  ('11000000-0000-4000-8000-000000000007', '10000000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 'c0000000-0000-4000-8000-000000000007'),
  ('11100000-0000-4000-8000-000000000007', '10100000-0000-4000-8000-000000000007', 'a0000000-0000-4000-8000-000000000007', 'c1000000-0000-4000-8000-000000000007');

-- Both link runs are claimed, get their meeting and send their link.
create temporary table links on commit drop as
select r.id, r.step_id from public.module_runs r
where r.step_id in ('50000000-0000-4000-8000-000000000007', '52000000-0000-4000-8000-000000000007');
select public.claim_runs('meeting', 10);
select public.meeting_for_run(id, 'calendly') from links;
select public.record_outcomes((select jsonb_agg(jsonb_build_object('run_id', id, 'attempt', 1, 'kind', 'waiting',
  'provider', 'resend', 'provider_message_id', 'm-7-' || id, 'channel', 'email', 'recipient', 'x@example.com')) from links));

select results_eq(
  $$select mr.lead, r.step_id is null, (r.run_at at time zone 'America/New_York')::time,
      (r.run_at at time zone 'America/New_York')::date - (now() at time zone 'America/New_York')::date
    from public.meeting_reminders mr join public.module_runs r on r.id = mr.run_id
    join public.meetings m on m.id = mr.meeting_id
    where m.journey_instance_id = '11000000-0000-4000-8000-000000000007' order by r.run_at$$,
  $$values ('nudge', true, time '10:00', 3), ('overdue', true, time '10:00', 7)$$,
  'the nudge and the overdue check are planned N days on at 10:00 in the couple''s zone, without a step');
select is(
  (select count(*)::int from public.meeting_reminders mr join public.meetings m on m.id = mr.meeting_id
   where m.journey_instance_id = '11100000-0000-4000-8000-000000000007'),
  1, 'a step without nudge_after_days gets only the overdue check');

-- A follow-up that succeeds does not complete the meeting step.
update public.module_runs set status = 'running', attempts = 1
where id = (select run_id from public.meeting_reminders where supplier_id = 'a0000000-0000-4000-8000-000000000007' and lead = 'nudge');
select public.record_outcomes(jsonb_build_array(jsonb_build_object(
  'run_id', (select run_id from public.meeting_reminders where supplier_id = 'a0000000-0000-4000-8000-000000000007' and lead = 'nudge'), 'attempt', 1, 'kind', 'succeeded',
  'provider', 'resend', 'provider_message_id', 'm-7-nudge', 'channel', 'email', 'recipient', 'ab@example.com')));
select is(
  (select current_step_id from public.journey_instances where id = '11000000-0000-4000-8000-000000000007'),
  '50000000-0000-4000-8000-000000000007'::uuid, 'a sent nudge leaves the journey at the meeting step');

select is(
  public.meeting_booking_overdue((select id from public.meetings where journey_instance_id = '11000000-0000-4000-8000-000000000007')),
  'overdue', 'on_overdue wait: the meeting is overdue');
select results_eq(
  $$select r.status::text, r.last_error ->> 'code', m.overdue_at is not null
    from public.meetings m join public.module_runs r on r.id = m.run_id
    where m.journey_instance_id = '11000000-0000-4000-8000-000000000007'$$,
  $$values ('waiting', 'booking_overdue', true)$$,
  'the link run keeps waiting, with the reason');

select is(
  public.receive_meeting_event('calendly', 'created:inv-7', 'invitee.created', 'a0000000-0000-4000-8000-000000000007',
    jsonb_build_object('kind', 'booked', 'external_id', 'inv-7', 'invitee_email', 'ab@example.com',
      'start_at', now() + interval '3 days', 'end_at', now() + interval '3 days 30 minutes')),
  'booked', 'a late booking is still taken');
select results_eq(
  $$select mr.lead, r.status::text from public.meeting_reminders mr join public.module_runs r on r.id = mr.run_id
    join public.meetings m on m.id = mr.meeting_id
    where m.journey_instance_id = '11000000-0000-4000-8000-000000000007' order by mr.lead$$,
  $$values ('24h', 'pending'), ('2h', 'pending'), ('nudge', 'succeeded'), ('overdue', 'cancelled')$$,
  'the booking cancels the follow-ups still pending and plans the reminders');

select is(
  public.meeting_booking_overdue((select id from public.meetings where journey_instance_id = '11100000-0000-4000-8000-000000000007')),
  'skipped', 'on_overdue skip: the step is skipped');
select results_eq(
  $$select r.status::text, i.current_step_id from public.module_runs r
    join public.journey_instances i on i.id = r.journey_instance_id
    where r.step_id = '52000000-0000-4000-8000-000000000007'$$,
  $$values ('skipped', '53000000-0000-4000-8000-000000000007'::uuid)$$,
  'and the journey moves on to the next step');

select * from finish();
rollback;

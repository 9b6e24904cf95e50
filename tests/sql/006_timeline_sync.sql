-- Wedding-timeline sync: what the calendar should show, and when a sync run is enqueued (journey start,
-- date changes, milestone edits, coalesced while one is pending, not for suppliers without it); sync runs have no step, so
-- re-planning and reopening leave them alone.
begin;
select plan(13);

insert into public.suppliers (id, name, time_zone) values
  ('a0000000-0000-4000-8000-000000000006', 'S', 'Europe/London'),
  ('a1000000-0000-4000-8000-000000000006', 'Off', 'Europe/London');
insert into public.supplier_integrations (supplier_id, provider, settings) values
  ('a0000000-0000-4000-8000-000000000006', 'google_calendar', '{"timeline_sync": true}'),
  ('a1000000-0000-4000-8000-000000000006', 'google_calendar', '{}');
insert into public.clients (id, supplier_id, couple_name, wedding_date, venue) values
  ('c0000000-0000-4000-8000-000000000006', 'a0000000-0000-4000-8000-000000000006', 'A & B', '2027-06-12', 'Barn'),
  ('c1000000-0000-4000-8000-000000000006', 'a1000000-0000-4000-8000-000000000006', 'C & D', '2027-06-12', null);
insert into public.journeys (id, supplier_id, name) values
  ('10000000-0000-4000-8000-000000000006', 'a0000000-0000-4000-8000-000000000006', 'J'),
  ('10100000-0000-4000-8000-000000000006', 'a1000000-0000-4000-8000-000000000006', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config, timing) values
  ('50000000-0000-4000-8000-000000000006', '10000000-0000-4000-8000-000000000006', 'a0000000-0000-4000-8000-000000000006',
   1, 'email', '{"template": "t"}', '{"anchor": "wedding_date", "offset_days": -14, "milestone": "Final details"}'),
  ('51000000-0000-4000-8000-000000000006', '10000000-0000-4000-8000-000000000006', 'a0000000-0000-4000-8000-000000000006',
   2, 'email', '{"template": "t"}', '{"offset_days": 1, "milestone": "Not dated"}'),
  ('52000000-0000-4000-8000-000000000006', '10000000-0000-4000-8000-000000000006', 'a0000000-0000-4000-8000-000000000006',
   3, 'review', '{}', '{"anchor": "wedding_date", "milestone": "Reviews"}'),
  ('53000000-0000-4000-8000-000000000006', '10100000-0000-4000-8000-000000000006', 'a1000000-0000-4000-8000-000000000006',
   1, 'email', '{"template": "t"}', '{"anchor": "wedding_date", "offset_days": -14, "milestone": "Final details"}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id) values
  ('11000000-0000-4000-8000-000000000006', '10000000-0000-4000-8000-000000000006', 'a0000000-0000-4000-8000-000000000006', 'c0000000-0000-4000-8000-000000000006'),
  ('11100000-0000-4000-8000-000000000006', '10100000-0000-4000-8000-000000000006', 'a1000000-0000-4000-8000-000000000006', 'c1000000-0000-4000-8000-000000000006');

select results_eq(
  $$select kind, title, event_date, location from public.timeline_of('11000000-0000-4000-8000-000000000006') order by event_date$$,
  $$values ('milestone', 'A & B: Final details', date '2027-05-29', null::text),
           ('wedding', 'Wedding: A & B', date '2027-06-12', 'Barn'),
           ('milestone', 'A & B: Reviews', date '2027-06-13', null)$$,
  'the wedding day and the dated milestones, on their local dates (no review on the wedding day itself)');

select results_eq(
  $$select r.status::text, r.step_id is null, r.run_at <= now() from public.timeline_syncs t
    join public.module_runs r on r.id = t.run_id where t.journey_instance_id = '11000000-0000-4000-8000-000000000006'$$,
  $$values ('pending', true, true)$$,
  'starting the journey enqueues one sync run, due now and without a step');
select is(
  (select count(*)::int from public.timeline_syncs where journey_instance_id = '11100000-0000-4000-8000-000000000006'),
  0, 'nothing is enqueued for a supplier whose timeline sync is off');

update public.clients set wedding_date = '2027-07-03' where id = 'c0000000-0000-4000-8000-000000000006';
select is(
  (select count(*)::int from public.timeline_syncs where journey_instance_id = '11000000-0000-4000-8000-000000000006'),
  1, 'a date change while a sync is pending adds none: the pending one reads the new date');
select ok(
  (select r.run_at <= now() from public.timeline_syncs t join public.module_runs r on r.id = t.run_id
   where t.journey_instance_id = '11000000-0000-4000-8000-000000000006'),
  'the re-planning of wedding-anchored runs leaves the sync run due now');
select is(
  (select run_at from public.module_runs where step_id = '50000000-0000-4000-8000-000000000006'),
  timestamptz '2027-06-19 10:00 Europe/London', 'while the step run moved with the wedding');

-- Once the sync has been claimed (it may have read the old date), a change enqueues another.
update public.module_runs set status = 'running'
where id = (select run_id from public.timeline_syncs where journey_instance_id = '11000000-0000-4000-8000-000000000006');
update public.clients set couple_name = 'A & B Lee' where id = 'c0000000-0000-4000-8000-000000000006';
select is(
  (select count(*)::int from public.timeline_syncs where journey_instance_id = '11000000-0000-4000-8000-000000000006'),
  2, 'a change after the sync was claimed enqueues another');
update public.clients set custom = '{"x": 1}' where id = 'c0000000-0000-4000-8000-000000000006';
select is(
  (select count(*)::int from public.timeline_syncs where journey_instance_id = '11000000-0000-4000-8000-000000000006'),
  2, 'a change to nothing the calendar shows enqueues nothing');

select public.reopen_step('11000000-0000-4000-8000-000000000006', '50000000-0000-4000-8000-000000000006');
select is(
  (select r.status::text from public.timeline_syncs t join public.module_runs r on r.id = t.run_id
   where t.journey_instance_id = '11000000-0000-4000-8000-000000000006' order by r.id desc limit 1),
  'pending', 'reopening a step cancels later step runs, not the pending sync');

update public.module_runs set status = 'succeeded'
where id in (select run_id from public.timeline_syncs where journey_instance_id = '11000000-0000-4000-8000-000000000006');
update public.journey_steps set timing = timing || '{"milestone": "Final details due"}'
where id = '50000000-0000-4000-8000-000000000006';
select is(
  (select count(*)::int from public.timeline_syncs where journey_instance_id = '11000000-0000-4000-8000-000000000006'),
  3, 'renaming a milestone in the journey builder enqueues a sync of the journey');

select public.record_timeline_sync('a0000000-0000-4000-8000-000000000006', '11000000-0000-4000-8000-000000000006',
  'primary', '[{"event_id": "jw", "kind": "wedding", "title": "Wedding: A & B", "event_date": "2027-07-03"},
               {"event_id": "jm", "kind": "milestone", "step_id": "50000000-0000-4000-8000-000000000006",
                "title": "A & B: Final details", "event_date": "2027-06-19"}]', '{}');
select public.record_timeline_sync('a0000000-0000-4000-8000-000000000006', '11000000-0000-4000-8000-000000000006',
  'primary', '[{"event_id": "jw", "kind": "wedding", "title": "Wedding: A & B", "event_date": "2027-07-10"}]', '{jm}');
select results_eq(
  $$select event_id, kind, journey_instance_id is null, event_date from public.timeline_events
    where supplier_id = 'a0000000-0000-4000-8000-000000000006'$$,
  $$values ('jw', 'wedding', true, date '2027-07-10')$$,
  'record_timeline_sync keeps what the calendar holds: the wedding per couple, deleted milestones gone');

update public.journey_instances set status = 'cancelled' where id = '11000000-0000-4000-8000-000000000006';
select results_eq(
  $$select kind from public.timeline_of('11000000-0000-4000-8000-000000000006')$$,
  $$values ('wedding')$$,
  'a cancelled journey keeps only the wedding day');

select throws_ok(
  $$select public.set_timeline_sync('a0000000-0000-4000-8000-0000000000ff', true)$$,
  'P0002', null, 'turning the sync on without Google Calendar is refused');

select * from finish();
rollback;

-- CRM events fan out to one crm run per connected target; echo suppression and field maps filter them.
begin;
select plan(9);

insert into public.suppliers (id, name, time_zone) values
  ('a0000000-0000-4000-8000-0000000000c1', 'With CRMs', 'Europe/London'),
  ('a0000000-0000-4000-8000-0000000000c2', 'Without CRMs', 'Europe/London');
insert into public.supplier_integrations (supplier_id, provider, settings) values
  ('a0000000-0000-4000-8000-0000000000c1', 'tave',
   '{"job_type": "Wedding", "field_map": {"couple_name": "FirstName", "wedding_date": "EventDate"}}'),
  ('a0000000-0000-4000-8000-0000000000c1', 'crm_webhooks',
   '{"crm": "honeybook", "url": "https://hooks.example/catch", "field_map": {"wedding_date": "event_date"},
     "events": ["journey.started", "couple.updated"]}');
insert into public.clients (id, supplier_id, couple_name, email, wedding_date, venue) values
  ('c0000000-0000-4000-8000-0000000000c1', 'a0000000-0000-4000-8000-0000000000c1', 'A & B', 'ab@example.com', '2027-06-12', 'Barn'),
  ('c0000000-0000-4000-8000-0000000000c2', 'a0000000-0000-4000-8000-0000000000c2', 'C & D', 'cd@example.com', '2027-06-12', 'Barn');
insert into public.journeys (id, supplier_id, name) values
  ('10000000-0000-4000-8000-0000000000c1', 'a0000000-0000-4000-8000-0000000000c1', 'J'),
  ('10000000-0000-4000-8000-0000000000c2', 'a0000000-0000-4000-8000-0000000000c2', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config) values
  ('50000000-0000-4000-8000-0000000000c1', '10000000-0000-4000-8000-0000000000c1', 'a0000000-0000-4000-8000-0000000000c1', 1, 'form', '{}'),
  ('50000000-0000-4000-8000-0000000000c2', '10000000-0000-4000-8000-0000000000c2', 'a0000000-0000-4000-8000-0000000000c2', 1, 'form', '{}');

insert into public.journey_instances (id, journey_id, supplier_id, client_id) values
  ('11000000-0000-4000-8000-0000000000c1', '10000000-0000-4000-8000-0000000000c1', 'a0000000-0000-4000-8000-0000000000c1', 'c0000000-0000-4000-8000-0000000000c1'),
  ('11000000-0000-4000-8000-0000000000c2', '10000000-0000-4000-8000-0000000000c2', 'a0000000-0000-4000-8000-0000000000c2', 'c0000000-0000-4000-8000-0000000000c2');

select results_eq(
  $$select r.provider, r.step_id is null, r.status::text from public.module_runs r
    join public.crm_events e on e.id = r.crm_event_id
    where e.client_id = 'c0000000-0000-4000-8000-0000000000c1' and e.event_type = 'journey.started' order by r.provider$$,
  $$values ('crm_webhooks', true, 'pending'), ('tave', true, 'pending')$$,
  'a journey start queues one pending crm run per connected target, with no step'
);
select is(
  (select count(*)::int from public.crm_events where supplier_id = 'a0000000-0000-4000-8000-0000000000c2'),
  0,
  'a supplier without CRM integrations records no CRM events'
);

update public.clients set venue = 'Castle' where id = 'c0000000-0000-4000-8000-0000000000c1';
select is(
  (select count(*)::int from public.module_runs r join public.crm_events e on e.id = r.crm_event_id
   where e.event_type = 'couple.updated'),
  0,
  'a change of a field no target maps is sent nowhere'
);

update public.clients set wedding_date = '2027-07-03' where id = 'c0000000-0000-4000-8000-0000000000c1';
select results_eq(
  $$select r.provider, e.changes from public.module_runs r join public.crm_events e on e.id = r.crm_event_id
    where e.event_type = 'couple.updated' and 'wedding_date' = any (e.changes) order by r.provider$$,
  $$values ('crm_webhooks', array['wedding_date']), ('tave', array['wedding_date'])$$,
  'a platform change of a mapped field goes to every target, naming the field'
);

select is(
  public.apply_crm_change('a0000000-0000-4000-8000-0000000000c1', 'honeybook', 'evt-1', 'wedding_date.changed',
    'c0000000-0000-4000-8000-0000000000c1', null, '{"wedding_date": "2027-08-14"}') ->> 'result',
  'updated',
  'a CRM change is applied'
);
select results_eq(
  $$select r.provider, e.origin from public.module_runs r join public.crm_events e on e.id = r.crm_event_id
    where e.event_type = 'couple.updated' and e.origin is not null$$,
  $$values ('tave'::text, 'honeybook'::text)$$,
  'a change that came from HoneyBook is synced to Tave but not back to HoneyBook'
);
select is(
  public.apply_crm_change('a0000000-0000-4000-8000-0000000000c1', 'honeybook', 'evt-1', 'wedding_date.changed',
    'c0000000-0000-4000-8000-0000000000c1', null, '{"wedding_date": "2027-01-01"}') ->> 'result',
  'duplicate',
  'the same CRM event id is applied once'
);
select is(
  (select wedding_date from public.clients where id = 'c0000000-0000-4000-8000-0000000000c1'),
  '2027-08-14'::date,
  'the duplicate changed nothing'
);
select is(
  current_setting('journeys.crm_origin', true),
  '',
  'the origin does not outlive the change (later updates in the transaction are the platform''s)'
);

select * from finish();
rollback;

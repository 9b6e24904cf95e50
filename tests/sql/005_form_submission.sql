-- Form submissions: bound to the request's run, couple and source; a submission wakes a waiting run,
-- even when a worker records its wait concurrently; redelivery is a duplicate.
begin;
select plan(9);

insert into public.suppliers (id, name) values ('a0000000-0000-4000-8000-000000000051', 'S');
insert into public.clients (id, supplier_id, couple_name) values ('c0000000-0000-4000-8000-000000000051', 'a0000000-0000-4000-8000-000000000051', 'A');
insert into public.journeys (id, supplier_id, name) values ('10000000-0000-4000-8000-000000000051', 'a0000000-0000-4000-8000-000000000051', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config)
values ('50000000-0000-4000-8000-000000000051', '10000000-0000-4000-8000-000000000051', 'a0000000-0000-4000-8000-000000000051', 1, 'form', '{}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id)
values ('11000000-0000-4000-8000-000000000051', '10000000-0000-4000-8000-000000000051', 'a0000000-0000-4000-8000-000000000051', 'c0000000-0000-4000-8000-000000000051');
create temp table r as select id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000051';
create temp table f as select (public.open_form_request((select id from r), 'typeform', 'Ab12Cd34', true, null)).id;

select is((select count(*)::int from public.form_requests where run_id = (select id from r)), 1, 'one request per run');
select is(((public.open_form_request((select id from r), 'typeform', 'other', false, null))).form_id, 'Ab12Cd34',
  'opening again returns the first request unchanged');

-- A worker claimed the run and is about to record its wait until the next reminder.
select public.claim_runs('form', 1);
select is(public.submit_form((select id from f), (select id from r) + 1, 'c0000000-0000-4000-8000-000000000051', 'typeform', 'e1', '{}'),
  'not_found', 'a token for another run does not complete the request');
select is(public.submit_form((select id from f), (select id from r), 'c0000000-0000-4000-8000-000000000051', 'jotform', 'e1', '{}'),
  'not_found', 'a submission from another source does not complete the request');
select is(public.submit_form((select id from f), (select id from r), 'c0000000-0000-4000-8000-000000000051', 'typeform', 'e1', '{"dietary": "vegan"}'),
  'submitted', 'a bound submission completes the request');
select is(public.submit_form((select id from f), (select id from r), 'c0000000-0000-4000-8000-000000000051', 'typeform', 'e1', '{}'),
  'duplicate', 'the same provider submission again is a duplicate');
select is(public.submit_form((select id from f), (select id from r), 'c0000000-0000-4000-8000-000000000051', 'typeform', 'e2', '{}'),
  'already_submitted', 'another submission does not overwrite the first');

select public.record_outcomes(jsonb_build_array(jsonb_build_object(
  'run_id', (select id from r), 'attempt', 1, 'kind', 'waiting', 'provider', 'form', 'wake_at', now() + interval '7 days')));
select ok((select run_at <= now() and status = 'pending' from public.module_runs where id = (select id from r)),
  'a run that starts waiting after its form was submitted is due at once');
select is((select answers from public.form_requests where id = (select id from f)), '{"dietary": "vegan"}'::jsonb,
  'the first submission''s answers are kept');

select * from finish();
rollback;

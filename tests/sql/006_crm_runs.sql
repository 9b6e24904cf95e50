-- CRM runs ride the module-run pipeline without touching journeys: kicks reach crm-sync, outcomes never
-- advance a journey, and the CRM sync is not a journey step.
begin;
select plan(5);

insert into public.suppliers (id, name) values ('a0000000-0000-4000-8000-0000000000d1', 'S');
insert into public.supplier_integrations (supplier_id, provider, settings) values
  ('a0000000-0000-4000-8000-0000000000d1', 'crm_webhooks', '{"url": "https://hooks.example/catch"}');
insert into public.clients (id, supplier_id, couple_name) values
  ('c0000000-0000-4000-8000-0000000000d1', 'a0000000-0000-4000-8000-0000000000d1', 'A & B');
insert into public.journeys (id, supplier_id, name) values
  ('10000000-0000-4000-8000-0000000000d1', 'a0000000-0000-4000-8000-0000000000d1', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config) values
  ('50000000-0000-4000-8000-0000000000d1', '10000000-0000-4000-8000-0000000000d1', 'a0000000-0000-4000-8000-0000000000d1', 1, 'form', '{}'),
  ('50000000-0000-4000-8000-0000000000d2', '10000000-0000-4000-8000-0000000000d1', 'a0000000-0000-4000-8000-0000000000d1', 2, 'form', '{}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id) values
  ('11000000-0000-4000-8000-0000000000d1', '10000000-0000-4000-8000-0000000000d1', 'a0000000-0000-4000-8000-0000000000d1', 'c0000000-0000-4000-8000-0000000000d1');

select is(public.module_function_name('crm'), 'crm-sync', 'crm kicks go to the crm-sync function');
select is(public.module_function_name('email'), 'module-email', 'module kicks still go to module-<type>');

select is(
  (select count(*)::int from public.claim_runs('crm', 10)),
  1,
  'crm runs are claimed like any module''s'
);
select public.record_outcomes(jsonb_build_array(jsonb_build_object(
  'run_id', id, 'attempt', attempts, 'kind', 'succeeded', 'provider', 'crm_webhooks')))
from public.module_runs where module_type = 'crm';
select is(
  (select current_step_id from public.journey_instances where id = '11000000-0000-4000-8000-0000000000d1'),
  '50000000-0000-4000-8000-0000000000d1'::uuid,
  'a succeeded crm run does not advance the journey'
);

select throws_ok(
  $$insert into public.journey_steps (journey_id, supplier_id, position, module_type, config)
    values ('10000000-0000-4000-8000-0000000000d1', 'a0000000-0000-4000-8000-0000000000d1', 3, 'crm', '{}')$$,
  '23514', null, 'the CRM sync cannot be added as a journey step'
);

select * from finish();
rollback;

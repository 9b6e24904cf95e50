-- SMS/WhatsApp status callbacks: an unknown send reconciled from its run key; segments on the delivery.
begin;
select plan(7);

insert into public.suppliers (id, name) values
  ('a0000000-0000-4000-8000-000000000071', 'S'), ('a0000000-0000-4000-8000-000000000072', 'Other');
insert into public.clients (id, supplier_id, couple_name, phone)
values ('c0000000-0000-4000-8000-000000000071', 'a0000000-0000-4000-8000-000000000071', 'A', '07912 000071');
insert into public.journeys (id, supplier_id, name) values ('10000000-0000-4000-8000-000000000071', 'a0000000-0000-4000-8000-000000000071', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config)
values ('50000000-0000-4000-8000-000000000071', '10000000-0000-4000-8000-000000000071', 'a0000000-0000-4000-8000-000000000071', 1, 'sms', '{"text": "Hi"}'),
       ('50000000-0000-4000-8000-000000000072', '10000000-0000-4000-8000-000000000071', 'a0000000-0000-4000-8000-000000000071', 2, 'sms', '{"text": "Bye"}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id)
values ('11000000-0000-4000-8000-000000000071', '10000000-0000-4000-8000-000000000071', 'a0000000-0000-4000-8000-000000000071', 'c0000000-0000-4000-8000-000000000071');

-- The send timed out: the run is held as unknown.
select public.claim_runs('sms', 1);
select public.record_outcomes(jsonb_build_array(jsonb_build_object(
  'run_id', (select id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000071'),
  'attempt', 1, 'kind', 'unknown', 'replay_safe', false,
  'error', jsonb_build_object('code', 'no_response', 'message', 'no answer'))));
select is(
  (select status::text from public.module_runs where step_id = '50000000-0000-4000-8000-000000000071'),
  'unknown', 'a lost answer holds the run'
);

select is(
  public.receive_message_status('twilio', 'SMx:delivered', 'delivered', 'a0000000-0000-4000-8000-000000000072', 'SMx',
    'delivered', now(), '{}', (select idempotency_key from public.module_runs where step_id = '50000000-0000-4000-8000-000000000071'),
    'sms', '+447912000071'),
  'pending', 'another supplier''s callback cannot claim the run'
);
select is(
  public.receive_message_status('twilio', 'SMy:delivered', 'delivered', 'a0000000-0000-4000-8000-000000000071', 'SMy',
    'delivered', now(), '{}', (select idempotency_key from public.module_runs where step_id = '50000000-0000-4000-8000-000000000071'),
    'sms', '+447912000071'),
  'applied', 'the callback naming the run reconciles it and applies the status'
);
select is(
  (select status::text || ' ' || provider_message_id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000071'),
  'succeeded SMy', 'the run succeeded with the callback''s message id'
);
select is(
  (select current_step_id from public.journey_instances where id = '11000000-0000-4000-8000-000000000071'),
  '50000000-0000-4000-8000-000000000072'::uuid, 'and the journey moved on'
);

-- A succeeded SMS carries its segments onto the delivery.
select public.claim_runs('sms', 1);
select public.record_outcomes(jsonb_build_array(jsonb_build_object(
  'run_id', (select id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000072'),
  'attempt', 1, 'kind', 'succeeded', 'provider', 'twilio', 'provider_message_id', 'SMz', 'channel', 'sms',
  'recipient', '+447912000071', 'result', jsonb_build_object('segments', 3, 'encoding', 'UCS-2'))));
select is(
  (select segments || ' ' || encoding from public.deliveries where provider_message_id = 'SMz'),
  '3 UCS-2', 'segments and encoding are stored on the delivery'
);
select is(
  (select segments from public.deliveries where provider_message_id = 'SMy'),
  null, 'a reconciled delivery has no segment count it was never told'
);

select * from finish();
rollback;

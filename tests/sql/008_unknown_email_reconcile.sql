-- Unknown email outcomes: a SendGrid event carrying the run key reconciles the run; without evidence the
-- deadline makes it dead with the reason; a killed worker's SMS run is held as unknown, not resent, and
-- so is a killed worker's email run that was in a batch request, while one that was not runs again.
begin;
select plan(8);

insert into public.suppliers (id, name) values ('a0000000-0000-4000-8000-000000000081', 'S');
insert into public.clients (id, supplier_id, couple_name, email, phone)
values ('c0000000-0000-4000-8000-000000000081', 'a0000000-0000-4000-8000-000000000081', 'A', 'a@example.com', '07912 000081');
insert into public.journeys (id, supplier_id, name) values ('10000000-0000-4000-8000-000000000081', 'a0000000-0000-4000-8000-000000000081', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config)
values ('50000000-0000-4000-8000-000000000081', '10000000-0000-4000-8000-000000000081', 'a0000000-0000-4000-8000-000000000081', 1, 'email', '{"template": "t"}'),
       ('50000000-0000-4000-8000-000000000082', '10000000-0000-4000-8000-000000000081', 'a0000000-0000-4000-8000-000000000081', 2, 'sms', '{"text": "Hi"}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id)
values ('11000000-0000-4000-8000-000000000081', '10000000-0000-4000-8000-000000000081', 'a0000000-0000-4000-8000-000000000081', 'c0000000-0000-4000-8000-000000000081');

-- SendGrid timed out: the email run is held as unknown.
select public.claim_runs('email', 1);
select public.record_outcomes(jsonb_build_array(jsonb_build_object(
  'run_id', (select id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000081'),
  'attempt', 1, 'kind', 'unknown', 'replay_safe', false, 'provider', 'sendgrid',
  'error', jsonb_build_object('code', 'no_response', 'message', 'no answer'))));
select is(
  public.receive_delivery_event('sendgrid', 'ev81', 'delivered', 'a0000000-0000-4000-8000-000000000081', 'SG81',
    'delivered', now(), jsonb_build_object('run_key',
      (select idempotency_key from public.module_runs where step_id = '50000000-0000-4000-8000-000000000081'))),
  'applied', 'the event naming the run is applied'
);
select is(
  (select status::text || ' ' || provider_message_id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000081'),
  'succeeded SG81', 'the unknown email run succeeded with the event''s message id'
);
select is(
  (select recipient from public.deliveries where provider_message_id = 'SG81'),
  'a@example.com', 'the delivery takes the couple''s address'
);

-- The SMS step's worker is killed mid-send: its lease expires.
select public.claim_runs('sms', 1);
update public.module_runs set lease_expires_at = now() - interval '1 second'
where step_id = '50000000-0000-4000-8000-000000000082';
select public.sweep();
select is(
  (select status::text || ' ' || (last_error ->> 'code') from public.module_runs where step_id = '50000000-0000-4000-8000-000000000082'),
  'unknown lease_expired', 'a killed worker''s SMS run is held as unknown, not resent'
);

-- Two email runs, each a first attempt, whose worker is killed: one was marked as in a batch request
-- (another attempt would be another batch, under another key), the other was not.
insert into public.clients (id, supplier_id, couple_name, email)
values ('c0000000-0000-4000-8000-000000000083', 'a0000000-0000-4000-8000-000000000081', 'B', 'b@example.com'),
       ('c0000000-0000-4000-8000-000000000084', 'a0000000-0000-4000-8000-000000000081', 'C', 'c@example.com');
insert into public.journey_instances (id, journey_id, supplier_id, client_id)
values ('11000000-0000-4000-8000-000000000083', '10000000-0000-4000-8000-000000000081', 'a0000000-0000-4000-8000-000000000081', 'c0000000-0000-4000-8000-000000000083'),
       ('11000000-0000-4000-8000-000000000084', '10000000-0000-4000-8000-000000000081', 'a0000000-0000-4000-8000-000000000081', 'c0000000-0000-4000-8000-000000000084');
select public.claim_runs('email', 2);
select public.mark_provider_batch(array[(select id from public.module_runs
  where journey_instance_id = '11000000-0000-4000-8000-000000000083')], 'batch-83');
update public.module_runs set lease_expires_at = now() - interval '1 second'
where journey_instance_id in ('11000000-0000-4000-8000-000000000083', '11000000-0000-4000-8000-000000000084');
select public.sweep();
select is(
  (select status::text || ' ' || (last_error ->> 'code')
   from public.module_runs where journey_instance_id = '11000000-0000-4000-8000-000000000083'),
  'unknown lease_expired', 'a killed worker''s email run that was in a batch request is held as unknown'
);
select is(
  (select status::text from public.module_runs where journey_instance_id = '11000000-0000-4000-8000-000000000084'),
  'pending', 'one that was not in a batch runs again (Resend deduplicates on its run key)'
);

-- No evidence by the deadline: dead with the reason, redrivable.
update public.module_runs set updated_at = now() - interval '3 hours'
where step_id = '50000000-0000-4000-8000-000000000082';
select public.sweep();
select is(
  (select status::text || ' ' || (last_error ->> 'code') from public.module_runs where step_id = '50000000-0000-4000-8000-000000000082'),
  'dead outcome_unknown', 'an unknown run without evidence is dead after the deadline'
);
select ok(
  public.redrive_run((select id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000082')),
  'and it can be redriven'
);

select * from finish();
rollback;

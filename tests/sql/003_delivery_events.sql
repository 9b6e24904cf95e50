-- Delivery statuses from webhooks: deduplicated, never regressing, suppressing bounces and complaints.
begin;
select plan(8);

insert into public.suppliers (id, name) values ('a0000000-0000-4000-8000-000000000002', 'S'), ('a0000000-0000-4000-8000-000000000003', 'Other');
insert into public.clients (id, supplier_id, couple_name, email) values ('c0000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000002', 'A', 'Bounce@Example.com');
insert into public.journeys (id, supplier_id, name) values ('10000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000002', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config)
values ('50000000-0000-4000-8000-000000000003', '10000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000002', 1, 'email', '{"template": "t"}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id)
values ('11000000-0000-4000-8000-000000000002', '10000000-0000-4000-8000-000000000002', 'a0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000002');

-- A webhook that arrives before the send's outcome is recorded waits in the inbox.
select is(
  public.receive_delivery_event('resend', 'evt-early', 'email.sent', 'a0000000-0000-4000-8000-000000000002', 'm-1', 'sent', now(), '{}'),
  'pending', 'an event for an unknown message waits in the inbox'
);
select public.claim_runs('email', 1);
select public.record_outcomes(jsonb_build_array(jsonb_build_object(
  'run_id', (select id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000003'),
  'attempt', 1, 'kind', 'succeeded', 'provider', 'resend', 'provider_message_id', 'm-1',
  'channel', 'email', 'recipient', 'Bounce@Example.com')));
select ok(
  (select processed_at is not null from public.webhook_events where event_id = 'evt-early'),
  'recording the send applies the waiting event'
);

select is(
  public.receive_delivery_event('resend', 'evt-delivered', 'email.delivered', 'a0000000-0000-4000-8000-000000000002', 'm-1', 'delivered', now(), '{}'),
  'applied', 'delivered moves the status forward'
);
select is(
  public.receive_delivery_event('resend', 'evt-delivered', 'email.delivered', 'a0000000-0000-4000-8000-000000000002', 'm-1', 'delivered', now(), '{}'),
  'duplicate', 'the same event id is processed once'
);
select is(
  public.receive_delivery_event('resend', 'evt-delayed', 'email.delivery_delayed', 'a0000000-0000-4000-8000-000000000002', 'm-1', 'delivery_delayed', now(), '{}'),
  'stale', 'an out-of-order earlier status does not regress the delivery'
);
select is(
  public.receive_delivery_event('resend', 'evt-foreign', 'email.bounced', 'a0000000-0000-4000-8000-000000000003', 'm-1', 'bounced', now(), '{}'),
  'foreign', 'another supplier''s webhook cannot touch this delivery'
);
select is(
  public.receive_delivery_event('resend', 'evt-bounce', 'email.bounced', 'a0000000-0000-4000-8000-000000000002', 'm-1', 'bounced', now(), '{"bounce_type": "Permanent"}'),
  'applied', 'a permanent bounce is applied'
);
select is(
  (select reason from public.suppressions where supplier_id = 'a0000000-0000-4000-8000-000000000002' and address = 'bounce@example.com'),
  'bounced', 'the bounced address is suppressed, lower-cased'
);

select * from finish();
rollback;

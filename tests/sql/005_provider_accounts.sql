-- Provider accounts: the circuit breaker (closed → open → half-open probe → closed), rate slots spaced
-- across callers, Retry-After pushing every caller back, and the status view.
begin;
select plan(14);

select is((select decision from public.provider_gate('resend', 'acct-1', null, 0.5, 5)), 'send', 'a fresh account sends');
select ok(
  (select decision = 'send' and wait_s between 0.4 and 0.5 from public.provider_gate('resend', 'acct-1', null, 0.5, 5)),
  'the next caller gets the following slot, half a second later'
);
select is((select decision from public.provider_gate('resend', 'acct-1', null, 10, 0.1)), 'wait',
  'a slot further away than the caller may wait is not reserved');

select is(public.provider_report('resend', 'acct-1', 'failure', '{"code": "application_error"}', null, 3, 30), 'closed',
  'one failure leaves the circuit closed');
select public.provider_report('resend', 'acct-1', 'failure', '{"code": "application_error"}', null, 3, 30);
select is(public.provider_report('resend', 'acct-1', 'failure', '{"code": "bad_gateway"}', null, 3, 30), 'open',
  'the third failure in a row opens it');
select ok(
  (select decision = 'open' and wait_s > 29 from public.provider_gate('resend', 'acct-1', null, 0, 5)),
  'an open circuit refuses for its cooldown'
);
select is(
  (select jsonb_agg(e ->> 'code') from public.provider_account_status, jsonb_array_elements(last_errors) e
   where account = 'acct-1'),
  '["bad_gateway", "application_error", "application_error"]'::jsonb,
  'the status view shows the circuit''s last errors, newest first'
);

update public.provider_accounts set open_until = now() - interval '1 second' where account = 'acct-1';
select is((select circuit from public.provider_account_status where account = 'acct-1'), 'half_open',
  'after the cooldown the view shows half-open');
select is((select decision || '/' || circuit from public.provider_gate('resend', 'acct-1', null, 0, 5)), 'send/half_open',
  'one probe goes through');
select is((select decision from public.provider_gate('resend', 'acct-1', null, 0, 5)), 'open',
  'nobody else goes while the probe is in flight');
select is(public.provider_report('resend', 'acct-1', 'failure', '{"code": "application_error"}', null, 3, 30), 'open',
  'a failed probe opens the circuit again');
select ok((select open_until > now() + interval '59 seconds' from public.provider_accounts where account = 'acct-1'),
  'for twice the cooldown');

select public.provider_report('resend', 'acct-1', 'success');
select is((select circuit || '/' || consecutive_failures from public.provider_accounts where account = 'acct-1'), 'closed/0',
  'a success closes it');

select public.provider_report('resend', 'acct-1', 'rate_limited', '{"code": "rate_limit_exceeded"}', 30);
select ok(
  (select decision = 'wait' and wait_s > 29 from public.provider_gate('resend', 'acct-1', null, 0, 5)),
  'a 429''s Retry-After holds back every caller of the account'
);

select * from finish();
rollback;

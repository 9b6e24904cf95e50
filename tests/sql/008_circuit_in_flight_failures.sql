-- provider_report(): failures of requests already in flight when the circuit opened keep it open without
-- reopening it (the cooldown doubles per failed probe, not per in-flight failure).
begin;
select plan(3);

select public.provider_gate('resend', 'acct-inflight', null, 0, 5);
select public.provider_report('resend', 'acct-inflight', 'failure', '{"code": "server_error"}', null, 3, 30)
from generate_series(1, 3);
select is(
  (select circuit || '/' || opened_count from public.provider_accounts where account = 'acct-inflight'),
  'open/1', 'the third failure in a row opens the circuit once'
);
select is(
  public.provider_report('resend', 'acct-inflight', 'failure', '{"code": "server_error"}', null, 3, 30),
  'open', 'a failure that was in flight keeps it open'
);
select public.provider_report('resend', 'acct-inflight', 'failure', '{"code": "server_error"}', null, 3, 30)
from generate_series(1, 20);
select ok(
  (select opened_count = 1 and open_until < now() + interval '31 seconds' and consecutive_failures = 24
   from public.provider_accounts where account = 'acct-inflight'),
  'twenty more in-flight failures neither reopen it nor double its 30 s cooldown (they are counted)'
);

select * from finish();
rollback;

-- retry_delay(): the backoff base is 5 s unless the setting journeys.retry_base_s lowers it (the local chaos
-- suite sets it for the whole database); Retry-After still wins.
begin;
select plan(4);

select ok(
  public.retry_delay(3) between interval '15 seconds' and interval '25 seconds',
  'unset, the third attempt waits 20 s (± 25 % jitter)'
);
select set_config('journeys.retry_base_s', '0.5', true);
select ok(
  public.retry_delay(3) between interval '1.5 seconds' and interval '2.5 seconds',
  'with a base of 0.5 s, the third attempt waits 2 s (± 25 % jitter)'
);
select ok(public.retry_delay(1, 30) >= interval '30 seconds', 'Retry-After still sets the minimum');
select set_config('journeys.retry_base_s', '', true);
select ok(
  public.retry_delay(1) between interval '3.75 seconds' and interval '6.25 seconds',
  'an empty setting falls back to the 5 s base'
);

select * from finish();
rollback;

-- Token buckets shared by function instances: all-or-nothing takes, waits when empty, debt for large costs
-- and for a provider's 429.
begin;
select plan(12);

select is(
  public.take_rate_limits('[{"provider": "t", "account": "a", "cost": 1, "per_second": 1, "burst": 1}]'),
  0::double precision, 'a full bucket pays at once'
);
select ok(
  public.take_rate_limits('[{"provider": "t", "account": "a", "cost": 1, "per_second": 1, "burst": 1}]') between 0.5 and 1,
  'an empty bucket answers the seconds until it refills'
);
select is(
  public.take_rate_limits('[{"provider": "t", "account": "b", "cost": 1, "per_second": 80, "burst": 80}, {"provider": "t", "account": "a", "cost": 1, "per_second": 1, "burst": 1}]') > 0,
  true, 'a take across buckets waits for the slowest'
);
select ok(
  (select tokens from public.rate_limits where provider = 't' and account = 'b') = 80,
  'and takes nothing from the others'
);
select public.take_rate_limits('[{"provider": "t", "account": "c", "cost": 4, "per_second": 1, "burst": 1}]');
select ok(
  public.take_rate_limits('[{"provider": "t", "account": "c", "cost": 1, "per_second": 1, "burst": 1}]') > 3,
  'a cost above the burst goes through once and leaves a debt later senders wait out'
);

select public.report_rate_limited('[{"provider": "t", "account": "d", "per_second": 2, "burst": 10}]', 30);
select ok(
  public.take_rate_limits('[{"provider": "t", "account": "d", "cost": 1, "per_second": 2, "burst": 10}]') >= 30,
  'a 429 on a bucket never used makes the next caller wait its Retry-After'
);
select public.take_rate_limits('[{"provider": "t", "account": "e", "cost": 1, "per_second": 2, "burst": 10}]');
select public.report_rate_limited('[{"provider": "t", "account": "e", "per_second": 2, "burst": 10}]', 5);
select ok(
  public.take_rate_limits('[{"provider": "t", "account": "e", "cost": 1, "per_second": 2, "burst": 10}]') between 5 and 6,
  'a 429 on a full bucket puts it in debt for Retry-After'
);
select public.report_rate_limited('[{"provider": "t", "account": "e", "per_second": 2, "burst": 10}]', 1);
select ok(
  public.take_rate_limits('[{"provider": "t", "account": "e", "cost": 1, "per_second": 2, "burst": 10}]') > 4,
  'a shorter Retry-After never lessens a debt already owed'
);
select throws_ok(
  $$select public.report_rate_limited('[{"provider": "t", "account": "e", "per_second": 2, "burst": 10}]', -1)$$,
  '22023', null, 'a negative Retry-After is refused with a reason'
);

select is(
  public.take_rate_limits('[{"provider": "t", "account": "r", "cost": 1, "per_second": 1, "burst": 1}]', 5),
  0::float8, 'a reserving caller on a full bucket goes at once'
);
select ok(
  (select w between 0.9 and 1 from (select public.take_rate_limits(
    '[{"provider": "t", "account": "r", "cost": 1, "per_second": 1, "burst": 1}]', 5) as w) t),
  'the next reserves the following token and waits for it'
);
select ok(
  (select w between 1.9 and 2 from (select public.take_rate_limits(
    '[{"provider": "t", "account": "r", "cost": 1, "per_second": 1, "burst": 1}]', 5) as w) t),
  'and the one after queues behind it: reservations space callers one interval apart'
);

select * from finish();
rollback;

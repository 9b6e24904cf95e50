-- Token buckets shared by function instances: all-or-nothing takes, waits when empty, debt for large costs.
begin;
select plan(5);

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

select * from finish();
rollback;

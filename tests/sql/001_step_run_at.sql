-- public.step_run_at(): anchors, local times in the couple's zone across DST, wedding-week cap, if_past.
begin;
select plan(9);

insert into public.suppliers (id, name) values ('a0000000-0000-4000-8000-0000000000f1', 'S');
insert into public.clients (id, supplier_id, couple_name, time_zone, wedding_date, booking_date)
values ('c0000000-0000-4000-8000-0000000000f1', 'a0000000-0000-4000-8000-0000000000f1', 'A & B', 'Europe/London',
  '2027-06-12', '2027-01-10');
create function pg_temp.couple() returns public.clients language sql as
  $$ select c from public.clients c where c.id = 'c0000000-0000-4000-8000-0000000000f1' $$;

select is(
  (select run_at from public.step_run_at('{"anchor": "wedding_date", "offset_days": -7, "at": "10:00"}',
    'email', pg_temp.couple(), 'UTC', '2027-01-01 00:00+00')),
  '2027-06-05 09:00+00'::timestamptz,
  'wedding-anchored step runs at 10:00 London summer time (09:00 UTC)'
);
select is(
  (select run_at from public.step_run_at('{"anchor": "booking_date", "offset_days": 10, "at": "10:00"}',
    'email', pg_temp.couple(), 'UTC', '2027-01-01 00:00+00')),
  '2027-01-20 10:00+00'::timestamptz,
  'booking-anchored step runs at 10:00 London winter time (10:00 UTC)'
);
-- London springs forward on 2027-03-28: 09:00 local is 09:00 UTC before and 08:00 UTC after.
select is(
  (select run_at from public.step_run_at('{"anchor": "previous", "offset_days": 1, "at": "09:00"}',
    'email', pg_temp.couple(), 'UTC', '2027-03-27 12:00+00')),
  '2027-03-28 08:00+00'::timestamptz,
  'a 09:00 send the day after stays 09:00 local across the DST change'
);
update public.clients set time_zone = null where id = 'c0000000-0000-4000-8000-0000000000f1';
select is(
  (select run_at from public.step_run_at('{"anchor": "wedding_date", "offset_days": 0, "at": "10:00"}',
    'email', pg_temp.couple(), 'America/New_York', '2027-01-01 00:00+00')),
  '2027-06-12 14:00+00'::timestamptz,
  'without a couple zone the supplier''s zone is used'
);
update public.clients set time_zone = 'Europe/London' where id = 'c0000000-0000-4000-8000-0000000000f1';
select is(
  (select run_at from public.step_run_at('{"offset_days": 3}', 'email', pg_temp.couple(), 'UTC', '2027-06-08 12:00+00')),
  '2027-06-08 12:30+00'::timestamptz,
  'in wedding week a non-urgent delay is capped at 30 minutes'
);
select is(
  (select run_at from public.step_run_at('{"offset_days": 3, "urgent": true}', 'email', pg_temp.couple(), 'UTC', '2027-06-08 12:00+00')),
  '2027-06-11 12:00+00'::timestamptz,
  'an urgent step keeps its delay in wedding week'
);
select is(
  (select skip_reason is not null from public.step_run_at(
    '{"anchor": "booking_date", "offset_days": 1, "if_past": "skip"}', 'email', pg_temp.couple(), 'UTC', '2027-03-01 00:00+00')),
  true,
  'a passed anchored time is skipped when the step says so'
);
select is(
  (select run_at from public.step_run_at('{"anchor": "booking_date", "offset_days": 1}', 'email', pg_temp.couple(), 'UTC',
    '2027-03-01 00:00+00')),
  '2027-03-01 00:00+00'::timestamptz,
  'a passed anchored time is sent now by default'
);
select is(
  (select run_at from public.step_run_at('{"anchor": "wedding_date", "offset_days": 0, "at": "20:00"}', 'review', pg_temp.couple(),
    'UTC', '2027-01-01 00:00+00')),
  '2027-06-13 19:00+00'::timestamptz,
  'nothing marketing-like on the wedding day: a review request moves to the next day'
);

select * from finish();
rollback;

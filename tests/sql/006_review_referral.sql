-- Review ratings route by stars (and notify the vendor for 1-2); referral stages and rewards only move forward.
begin;
select plan(10);

insert into public.suppliers (id, name) values ('a0000000-0000-4000-8000-000000000061', 'S');
insert into public.clients (id, supplier_id, couple_name) values ('c0000000-0000-4000-8000-000000000061', 'a0000000-0000-4000-8000-000000000061', 'A');
insert into public.journeys (id, supplier_id, name) values ('10000000-0000-4000-8000-000000000061', 'a0000000-0000-4000-8000-000000000061', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config) values
  ('50000000-0000-4000-8000-000000000061', '10000000-0000-4000-8000-000000000061', 'a0000000-0000-4000-8000-000000000061', 1, 'review', '{}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id) values
  ('11000000-0000-4000-8000-000000000061', '10000000-0000-4000-8000-000000000061', 'a0000000-0000-4000-8000-000000000061', 'c0000000-0000-4000-8000-000000000061');
create temp table run as select id from public.module_runs where step_id = '50000000-0000-4000-8000-000000000061';
create temp table q as select (public.open_review_request((select id from run), array['google'])).id;

select is((select route from public.record_review_rating((select id from q), 2, null)), 'direct_contact', '2 stars: direct contact');
select is((select count(*)::int from public.supplier_notifications where kind = 'review_low_rating' and supplier_id = 'a0000000-0000-4000-8000-000000000061'), 1, 'the vendor is notified');
select is((select result || ':' || route from public.record_review_rating((select id from q), 5, 'great')), 'already_rated:direct_contact',
  'the first rating decides the route');
select is(public.record_review_click((select id from q), 'facebook'), 'platform_not_offered', 'clicks only on offered platforms');
select throws_ok($$ select * from public.record_review_rating((select id from q), 6, null) $$, '22023', null, 'ratings are 1 to 5');

insert into public.referral_programmes (supplier_id, landing_url, reward, earn_on)
values ('a0000000-0000-4000-8000-000000000061', 'https://studio.example/r', 'A print', 'booked');
create temp table code as select public.ensure_referral_code((select id from run)) as c;
select matches((select c from code), '^[0-9A-HJKMNP-TV-Z]{12}$', 'an unguessable 12-character code');
select is(public.ensure_referral_code((select id from run)), (select c from code), 'one code per couple');
select is((select reward_status from public.advance_referral(null, (select c from code), null, 'lead-9', 'signed_up')), 'pending',
  'a sign-up makes the reward pending');
select is((select stage || ':' || reward_status from public.advance_referral(null, (select c from code), null, 'lead-9', 'booked')),
  'booked:earned', 'booking earns it');
select is((select result || ':' || stage from public.advance_referral(null, (select c from code), null, 'lead-9', 'signed_up')),
  'unchanged:booked', 'a late sign-up does not move a booked referral back');

select * from finish();
rollback;

-- Opt-outs and opt-ins per number: the latest choice wins, an opt-out suppresses, an opt-in lifts only that.
begin;
select plan(7);

insert into public.suppliers (id, name) values ('a0000000-0000-4000-8000-000000000051', 'S');

select ok(
  public.record_messaging_consent('a0000000-0000-4000-8000-000000000051', 'sms', '+447912000001', false, '2027-01-01 10:00+00'),
  'a STOP is recorded'
);
select is(
  (select reason from public.suppressions where supplier_id = 'a0000000-0000-4000-8000-000000000051' and address = '+447912000001'),
  'opted_out', 'the number is suppressed on the channel'
);
select ok(
  not public.record_messaging_consent('a0000000-0000-4000-8000-000000000051', 'sms', '+447912000001', true, '2027-01-01 09:00+00'),
  'an older START arriving late is ignored'
);
select ok(
  exists (select 1 from public.suppressions where supplier_id = 'a0000000-0000-4000-8000-000000000051' and address = '+447912000001'),
  'so the number stays suppressed'
);
select ok(
  public.record_messaging_consent('a0000000-0000-4000-8000-000000000051', 'sms', '+447912000001', true, '2027-01-01 11:00+00'),
  'a later START is recorded'
);
select ok(
  not exists (select 1 from public.suppressions where supplier_id = 'a0000000-0000-4000-8000-000000000051' and address = '+447912000001'),
  'and lifts the opt-out suppression'
);

insert into public.suppressions (supplier_id, channel, address, reason)
values ('a0000000-0000-4000-8000-000000000051', 'sms', '+447912000002', 'manual');
select public.record_messaging_consent('a0000000-0000-4000-8000-000000000051', 'sms', '+447912000002', true, now());
select is(
  (select reason from public.suppressions where supplier_id = 'a0000000-0000-4000-8000-000000000051' and address = '+447912000002'),
  'manual', 'a START does not lift a suppression the supplier set by hand'
);

select * from finish();
rollback;

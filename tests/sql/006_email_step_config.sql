-- The database's own check of email step configs accepts the send_time options, local_time as HH:MM.
begin;
select plan(4);
select ok(public.step_config_is_valid('email', '{"template": "t", "send_time": "local_time", "local_time": "09:30"}'),
  'local_time with a time of day');
select ok(not public.step_config_is_valid('email', '{"template": "t", "send_time": "local_time"}'),
  'local_time without a time of day is refused');
select ok(not public.step_config_is_valid('email', '{"template": "t", "send_time": "local_time", "local_time": "25:00"}'),
  'an impossible time is refused');
select ok(not public.step_config_is_valid('email', '{"template": "t", "send_time": "at night"}'),
  'an unknown send_time is refused');
select * from finish();
rollback;

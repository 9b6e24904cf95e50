-- Demo data for a local stack: one vendor with templates and a journey. No credentials: the demo
-- stores its (simulator) Resend key in Vault itself.
insert into public.suppliers (id, name, time_zone, email_from, reply_to, brand)
values ('5eed0000-0000-4000-8000-000000000001', 'Golden Hour Photography', 'Europe/London',
  'Golden Hour Photography <hello@goldenhour.example>', 'studio@goldenhour.example',
  '{"primary_color": "#b8860b"}')
on conflict (id) do nothing;

insert into public.email_templates (supplier_id, key, subject, html, text)
values
  ('5eed0000-0000-4000-8000-000000000001', 'welcome',
   'Welcome, {{couple_name}}!',
   '<p>Dear {{couple_name}},</p><p>Thank you for booking {{supplier_name}} for {{wedding_date}} at {{venue}}.</p>',
   null),
  ('5eed0000-0000-4000-8000-000000000001', 'questionnaire',
   'Your wedding questionnaire',
   '<p>Hi {{couple_name}}, please tell us about your day at {{venue}}.</p>',
   null)
on conflict (supplier_id, key) do nothing;

insert into public.journeys (id, supplier_id, name)
values ('5eed0000-0000-4000-8000-0000000000a1', '5eed0000-0000-4000-8000-000000000001', 'Booked couples')
on conflict (id) do nothing;

insert into public.journey_steps (journey_id, supplier_id, position, module_type, config, timing)
values
  ('5eed0000-0000-4000-8000-0000000000a1', '5eed0000-0000-4000-8000-000000000001', 1, 'email',
   '{"template": "welcome"}', '{}'),
  ('5eed0000-0000-4000-8000-0000000000a1', '5eed0000-0000-4000-8000-000000000001', 2, 'email',
   '{"template": "questionnaire"}', '{"anchor": "booking_date", "offset_days": 10, "at": "10:00"}')
on conflict (journey_id, position) do nothing;

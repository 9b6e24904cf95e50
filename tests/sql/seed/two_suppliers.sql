-- Two suppliers, A and B, each with one signed-in member (a1, b1), and B's couple on a one-step journey:
-- the cast of the RLS tests.
insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000a1', 'a@studio-a.example'),
  ('00000000-0000-4000-8000-0000000000b1', 'b@studio-b.example');
insert into public.suppliers (id, name) values
  ('a0000000-0000-4000-8000-00000000000a', 'Studio A'),
  ('a0000000-0000-4000-8000-00000000000b', 'Studio B');
insert into public.supplier_members (supplier_id, user_id) values
  ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1'),
  ('a0000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-0000000000b1');
insert into public.clients (id, supplier_id, couple_name, email) values
  ('c0000000-0000-4000-8000-00000000000b', 'a0000000-0000-4000-8000-00000000000b', 'Couple B', 'b@example.com');
insert into public.journeys (id, supplier_id, name) values
  ('10000000-0000-4000-8000-00000000000b', 'a0000000-0000-4000-8000-00000000000b', 'J');
insert into public.journey_steps (id, journey_id, supplier_id, position, module_type, config) values
  ('50000000-0000-4000-8000-00000000000b', '10000000-0000-4000-8000-00000000000b', 'a0000000-0000-4000-8000-00000000000b', 1, 'email', '{"template": "t"}');
insert into public.journey_instances (id, journey_id, supplier_id, client_id) values
  ('11000000-0000-4000-8000-00000000000b', '10000000-0000-4000-8000-00000000000b', 'a0000000-0000-4000-8000-00000000000b', 'c0000000-0000-4000-8000-00000000000b');

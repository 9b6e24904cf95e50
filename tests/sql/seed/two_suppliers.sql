-- Two suppliers, A and B, each with one signed-in member (a1, b1): the cast of the RLS tests.
insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000a1', 'a@studio-a.example'),
  ('00000000-0000-4000-8000-0000000000b1', 'b@studio-b.example');
insert into public.suppliers (id, name) values
  ('a0000000-0000-4000-8000-00000000000a', 'Studio A'),
  ('a0000000-0000-4000-8000-00000000000b', 'Studio B');
insert into public.supplier_members (supplier_id, user_id) values
  ('a0000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-0000000000a1'),
  ('a0000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-0000000000b1');

-- Local stand-in for what every Supabase database has before its first migration: the API roles and
-- their grants, the `extensions` schema (pgcrypto, uuid-ossp) and an `auth` schema whose users table and
-- uid()/role()/email()/jwt() behave as Supabase's, so RLS policies written for Supabase work unchanged.
-- Installed by stack/standins.ts only where the real ones are missing; never part of supabase/migrations.

-- Roles are cluster-wide: create each once.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit password 'postgres';
  end if;
end
$$;

grant anon, authenticated, service_role to authenticator;

do $$
begin
  alter role anon set statement_timeout = '3s';
  alter role authenticated set statement_timeout = '8s';
  alter role authenticator set statement_timeout = '8s';
  -- Supabase puts `extensions` on the search path, so unqualified uuid_generate_v4() and friends resolve.
  alter role postgres set search_path = "$user", public, extensions;
exception when insufficient_privilege or undefined_object then
  raise notice 'stand-in: role settings left unchanged (%)', sqlerrm;
end
$$;

-- What the API roles may do in public, for objects that postgres (the migration runner) creates.
grant usage on schema public to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;

-- Extensions live in their own schema on Supabase.
create schema if not exists extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;

do $$
begin
  if not exists (select 1 from pg_catalog.pg_extension where extname = 'pgcrypto') then
    create extension pgcrypto with schema extensions;
  end if;
  if not exists (select 1 from pg_catalog.pg_extension where extname = 'uuid-ossp') then
    create extension "uuid-ossp" with schema extensions;
  end if;
end
$$;

-- auth: only what the database side of GoTrue gives to policies and foreign keys.
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  id uuid primary key default gen_random_uuid(),
  email text,
  phone text,
  raw_app_meta_data jsonb default '{}'::jsonb,
  raw_user_meta_data jsonb default '{}'::jsonb,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
comment on table auth.users is 'Local stand-in for GoTrue''s auth.users (the columns policies and foreign keys use).';

create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;
comment on function auth.uid() is 'The signed-in user''s id: the JWT''s sub claim (request.jwt.claims), as on Supabase.';

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;
comment on function auth.role() is 'The JWT''s role claim (request.jwt.claims), as on Supabase.';

create or replace function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;
comment on function auth.email() is 'The JWT''s email claim (request.jwt.claims), as on Supabase.';

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;
comment on function auth.jwt() is 'All claims of the request''s JWT (request.jwt.claims) as jsonb, as on Supabase.';

grant execute on function auth.uid(), auth.role(), auth.email(), auth.jwt() to anon, authenticated, service_role;

-- Extensions the pipeline needs: pgcrypto (invoke tokens), pg_net (kicks), pg_cron (sweeps).
-- pg_net and pg_cron are created only where they exist and are allowed (pg_cron lives in one
-- database per cluster, `cron.database_name`); hosted Supabase has both.
create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;

do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_net;
  end if;
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron')
     and current_database() = coalesce(current_setting('cron.database_name', true), 'postgres') then
    create extension if not exists pg_cron;
  end if;
end
$$;

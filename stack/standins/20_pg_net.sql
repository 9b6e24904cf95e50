-- Local stand-in for pg_net: net.http_get/http_post/http_delete with pg_net's signatures queue requests in
-- net.http_request_queue; stack/net_worker.ts performs them after commit (woken by NOTIFY net_http_request)
-- and writes net._http_response. Both tables are unlogged, as in pg_net.
-- Installed by stack/standins.ts only where pg_net is missing; never part of supabase/migrations.

create schema if not exists net;

create unlogged table if not exists net.http_request_queue (
  id bigserial primary key,
  method text not null check (method in ('GET', 'POST', 'DELETE')),
  url text not null,
  headers jsonb not null default '{}'::jsonb,
  body bytea,
  timeout_milliseconds integer not null default 5000
);

create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);

-- One notification per inserting transaction (Postgres folds identical ones), delivered at commit:
-- the worker never sees a request whose transaction rolled back.
create or replace function net._notify_worker() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_catalog.pg_notify('net_http_request', '');
  return null;
end
$$;

create or replace trigger http_request_queue_notify
  after insert on net.http_request_queue
  for each statement execute function net._notify_worker();

create or replace function net._urlencode_string(string varchar) returns text
language sql immutable strict
set search_path = ''
as $$
  select coalesce(pg_catalog.string_agg(
    case
      when b between 48 and 57 or b between 65 and 90 or b between 97 and 122 or b in (45, 46, 95, 126)
        then pg_catalog.chr(b)
      else '%' || pg_catalog.upper(pg_catalog.lpad(pg_catalog.to_hex(b), 2, '0'))
    end, '' order by i), '')
  from (
    select i, pg_catalog.get_byte(pg_catalog.convert_to(string, 'utf8'), i) as b
    from pg_catalog.generate_series(0, pg_catalog.octet_length(pg_catalog.convert_to(string, 'utf8')) - 1) as i
  ) bytes
$$;

create or replace function net._url_with_params(url text, params jsonb) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when params is null or params = '{}'::jsonb then url
    else url || case when pg_catalog.strpos(url, '?') > 0 then '&' else '?' end || (
      select pg_catalog.string_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value), '&')
      from pg_catalog.jsonb_each_text(params)
    )
  end
$$;

create or replace function net._enqueue(
  method text,
  url text,
  headers jsonb,
  body bytea,
  timeout_milliseconds integer
) returns bigint
language sql volatile security definer
set search_path = ''
as $$
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (method, url, coalesce(headers, '{}'::jsonb), body, timeout_milliseconds)
  returning id
$$;
comment on function net._enqueue(text, text, jsonb, bytea, integer) is
  'Queues one request for the worker (the shared body of http_get/http_post/http_delete).';

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  return net._enqueue('GET', net._url_with_params(url, params), headers, null, timeout_milliseconds);
end
$$;
comment on function net.http_get(text, jsonb, jsonb, integer) is
  'Queues a GET (params become the query string); performed after commit. Returns the request id.';

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  content_type text;
begin
  select value into content_type
  from pg_catalog.jsonb_each_text(coalesce(headers, '{}'::jsonb))
  where pg_catalog.lower(key) = 'content-type'
  limit 1;
  if content_type is null then
    headers := coalesce(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
  elsif content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;
  return net._enqueue(
    'POST', net._url_with_params(url, params), headers, pg_catalog.convert_to(body::text, 'UTF8'), timeout_milliseconds
  );
end
$$;
comment on function net.http_post(text, jsonb, jsonb, jsonb, integer) is
  'Queues a JSON POST; performed after commit. Returns the request id.';

create or replace function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  return net._enqueue('DELETE', net._url_with_params(url, params), headers, null, timeout_milliseconds);
end
$$;
comment on function net.http_delete(text, jsonb, jsonb, integer) is
  'Queues a DELETE; performed after commit. Returns the request id.';

-- Privileges as on Supabase: the API roles may call the request functions; the tables stay with postgres.
grant usage on schema net to postgres, anon, authenticated, service_role;
revoke all on all functions in schema net from public;
grant execute on function
  net.http_get(text, jsonb, jsonb, integer),
  net.http_post(text, jsonb, jsonb, jsonb, integer),
  net.http_delete(text, jsonb, jsonb, integer)
  to postgres, anon, authenticated, service_role;
grant execute on function net._urlencode_string(varchar), net._url_with_params(text, jsonb) to postgres, anon, authenticated, service_role;
revoke all on all tables in schema net from public, anon, authenticated;
grant select, delete on net._http_response to service_role;

-- Local stand-in for supabase_vault: vault.secrets holds ciphertext only, vault.decrypted_secrets decrypts
-- for the roles allowed to read it, vault.create_secret()/update_secret() have Supabase's signatures.
-- Encryption: pgcrypto's pgp_sym_encrypt (AES-256 with an integrity check) under a per-secret key,
-- HMAC-SHA256(root key, id || nonce), so a ciphertext is bound to its row like Supabase's AEAD with the id.
-- The root key is a file outside the database ({{vault_key_path}}), read by a security definer function.
-- Installed by stack/standins.ts only where supabase_vault is missing; never part of supabase/migrations.

create schema if not exists vault;

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text unique,
  description text not null default '',
  secret text not null,
  key_id uuid,
  nonce bytea,
  created_at timestamptz not null default current_timestamp,
  updated_at timestamptz not null default current_timestamp
);
comment on table vault.secrets is 'Secrets, encrypted (secret is base64 ciphertext). Read them through vault.decrypted_secrets.';

create or replace function vault._root_key() returns bytea
language sql stable security definer
set search_path = ''
as $$ select pg_catalog.decode(pg_catalog.btrim(pg_catalog.pg_read_file('{{vault_key_path}}'), E' \t\r\n'), 'hex') $$;
comment on function vault._root_key() is 'The Vault root key, read from a file outside the database. Executable by its owner only.';

create or replace function vault._secret_key(p_id uuid, p_nonce bytea) returns text
language sql stable security definer
set search_path = ''
as $$
  select pg_catalog.encode(
    extensions.hmac(pg_catalog.convert_to(p_id::text, 'utf8') || p_nonce, vault._root_key(), 'sha256'), 'hex')
$$;

create or replace function vault._encrypt(p_secret text, p_id uuid, p_nonce bytea) returns text
language sql volatile security definer
set search_path = ''
as $$
  select pg_catalog.encode(
    extensions.pgp_sym_encrypt(p_secret, vault._secret_key(p_id, p_nonce), 'cipher-algo=aes256, s2k-mode=1'), 'base64')
$$;

create or replace function vault._decrypt(p_secret text, p_id uuid, p_nonce bytea) returns text
language sql stable security definer
set search_path = ''
as $$
  select extensions.pgp_sym_decrypt(pg_catalog.decode(p_secret, 'base64'), vault._secret_key(p_id, p_nonce))
$$;
comment on function vault._decrypt(text, uuid, bytea) is 'Decrypts one secret; used by vault.decrypted_secrets.';

create or replace function vault.create_secret(
  new_secret text,
  new_name text default null,
  new_description text default '',
  new_key_id uuid default null
) returns uuid
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_id uuid := pg_catalog.gen_random_uuid();
  v_nonce bytea := extensions.gen_random_bytes(16);
begin
  insert into vault.secrets (id, name, description, secret, key_id, nonce)
  values (v_id, new_name, coalesce(new_description, ''), vault._encrypt(new_secret, v_id, v_nonce), new_key_id, v_nonce);
  return v_id;
end
$$;
comment on function vault.create_secret(text, text, text, uuid) is 'Stores a new encrypted secret and returns its id.';

create or replace function vault.update_secret(
  secret_id uuid,
  new_secret text default null,
  new_name text default null,
  new_description text default null,
  new_key_id uuid default null
) returns void
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  v_nonce bytea := extensions.gen_random_bytes(16);
begin
  update vault.secrets s set
    secret = case when new_secret is null then s.secret else vault._encrypt(new_secret, s.id, v_nonce) end,
    nonce = case when new_secret is null then s.nonce else v_nonce end,
    name = coalesce(new_name, s.name),
    description = coalesce(new_description, s.description),
    key_id = coalesce(new_key_id, s.key_id),
    updated_at = current_timestamp
  where s.id = secret_id;
end
$$;
comment on function vault.update_secret(uuid, text, text, text, uuid) is
  'Changes a secret''s value (re-encrypted with a new nonce), name, description or key id; null leaves it as is.';

create or replace view vault.decrypted_secrets as
select
  s.id,
  s.name,
  s.description,
  s.secret,
  case when s.secret is null then null else vault._decrypt(s.secret, s.id, s.nonce) end as decrypted_secret,
  s.key_id,
  s.nonce,
  s.created_at,
  s.updated_at
from vault.secrets s;
comment on view vault.decrypted_secrets is 'vault.secrets with decrypted_secret; readable by postgres and service_role only.';

-- Privileges as on Supabase: nothing for public, anon or authenticated; postgres and service_role may
-- read, delete, create and update secrets. The root key function stays with its owner.
revoke all on schema vault from public, anon, authenticated;
revoke all on all tables in schema vault from public, anon, authenticated;
revoke all on all functions in schema vault from public, anon, authenticated;
grant usage on schema vault to postgres, service_role;
grant select, delete on vault.secrets, vault.decrypted_secrets to postgres, service_role;
grant execute on function
  vault.create_secret(text, text, text, uuid),
  vault.update_secret(uuid, text, text, text, uuid),
  vault._decrypt(text, uuid, bytea)
  to postgres, service_role;

-- Local-only set-up run by `npm run stack -- up` after migrations: the Vault secrets the pipeline
-- reads (on hosted Supabase an operator creates them once, see docs/deploy.md).
do $$
begin
  if not exists (select 1 from vault.secrets where name = 'project_url') then
    perform vault.create_secret('__GATEWAY_URL__', 'project_url', 'Base URL of the functions (local gateway)');
  else
    perform vault.update_secret(id, '__GATEWAY_URL__') from vault.secrets where name = 'project_url';
  end if;
  if not exists (select 1 from vault.secrets where name = 'functions_invoke_secret') then
    perform vault.create_secret(encode(extensions.gen_random_bytes(32), 'hex'), 'functions_invoke_secret',
      'Signs the tokens pg_net kicks carry to module functions');
  end if;
  if not exists (select 1 from vault.secrets where name = 'links_signing_secret') then
    perform vault.create_secret(encode(extensions.gen_random_bytes(32), 'hex'), 'links_signing_secret',
      'Signs the links in couples'' messages (forms, reviews, referrals)');
  end if;
end
$$;
-- The meeting module's Google OAuth: the state signing key, and the simulator's OAuth client.
do $$
begin
  if not exists (select 1 from vault.secrets where name = 'oauth_state_secret') then
    perform vault.create_secret(encode(extensions.gen_random_bytes(32), 'hex'), 'oauth_state_secret',
      'Signs the state of the Google Calendar OAuth flow');
  end if;
  if not exists (select 1 from vault.secrets where name = 'google_oauth_client') then
    perform vault.create_secret('{"client_id": "local-client.apps.googleusercontent.com", "client_secret": "local-client-secret"}',
      'google_oauth_client', 'Google OAuth client (the simulator''s locally)');
  end if;
end
$$;

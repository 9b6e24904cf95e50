-- The CRM sync runs through the module-run pipeline as a run type of its own. This statement stands alone
-- in its migration: Postgres refuses to use an enum value in the transaction that added it.
alter type public.module_type add value if not exists 'crm';

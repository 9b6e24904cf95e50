-- A run that has done its part and waits for an outside event before its step completes (a meeting
-- link was sent; the couple's booking completes the step). Its own migration: a new enum value can
-- only be used once the transaction that adds it has committed.
alter type public.run_status add value if not exists 'waiting' after 'running';

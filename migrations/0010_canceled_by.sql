-- Who stopped a send: the status page says "Canceled at 07:40 by Joni
-- Vance". A name as the canceller gave it (a person in the web UI, "the
-- command line" for `herald cancel`); null for sends canceled before it
-- was recorded, and for any that were not canceled.
alter table notifications add column canceled_by text;

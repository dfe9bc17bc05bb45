-- Delivery reports: read receipts, a per-second activity timeline for the
-- status page's chart, and what the per-recipient table pages and searches by.

-- When the person first read the card (a Teams read receipt); null is
-- "unknown", never "not read": people can turn receipts off.
alter table deliveries add column read_at timestamptz;
-- The newest message a person has read in their chat with Herald: a
-- receipt can arrive before the send-worker has recorded the card it
-- covers, which then reads it as it records it.
alter table recipients add column last_read_message bigint;
-- Reads per notification, counted as they happen. Kept apart from
-- notifications so that counting a read never locks the row the send
-- path updates (the two would deadlock).
create table notification_reads (
    notification_id uuid primary key references notifications (id) on delete cascade,
    reads bigint not null default 0
);

-- The recipient's name as it was when the delivery was made, lowercased:
-- the per-recipient table pages by (sort_name, recipient_id), which only
-- an index on deliveries itself keeps fast on 100,000 rows.
alter table deliveries add column sort_name text not null default '';
update deliveries d set sort_name = lower(coalesce(r.display_name, r.user_principal_name, ''))
from recipients r where r.id = d.recipient_id;
create index deliveries_by_name on deliveries (notification_id, sort_name, recipient_id);
create index deliveries_by_status on deliveries (notification_id, status, sort_name, recipient_id);

-- A receipt names a chat: the person's delivered, not yet read cards.
create index deliveries_unread on deliveries (recipient_id) where status = 'delivered' and read_at is null;

-- Finding a person by any part of their name or UPN (trusted since
-- PostgreSQL 13, so the database owner may create it).
create extension if not exists pg_trgm;
create index recipients_search on recipients
    using gin ((lower(coalesce(display_name, '') || ' ' || coalesce(user_principal_name, ''))) gin_trgm_ops);

-- Deliveries, reads and acknowledgements per notification and second, kept
-- by the statements that record them, so the chart never scans deliveries.
create table notification_timeline (
    notification_id uuid not null references notifications (id) on delete cascade,
    second timestamptz not null,
    delivered bigint not null default 0,
    read bigint not null default 0,
    acknowledged bigint not null default 0,
    primary key (notification_id, second)
);
-- The overview's "right now" and its days read across notifications.
create index notification_timeline_second on notification_timeline (second);

create function deliveries_timeline_updated() returns trigger language plpgsql as $$
begin
    with changes as (
        select n.notification_id,
               count(*) filter (where n.delivered_at is not null and o.delivered_at is null) as delivered,
               count(*) filter (where n.read_at is not null and o.read_at is null) as read
        from new_rows n join old_rows o
          on o.notification_id = n.notification_id and o.recipient_id = n.recipient_id
        group by n.notification_id
    ), timeline as (
        insert into notification_timeline (notification_id, second, delivered, read)
        select notification_id, date_trunc('second', now()), delivered, read from changes
        where delivered + read > 0
        -- A fixed lock order keeps concurrent batches from deadlocking.
        order by notification_id
        on conflict (notification_id, second) do update
        set delivered = notification_timeline.delivered + excluded.delivered,
            read = notification_timeline.read + excluded.read
    )
    insert into notification_reads (notification_id, reads)
    select notification_id, read from changes where read > 0 order by notification_id
    on conflict (notification_id) do update set reads = notification_reads.reads + excluded.reads;
    return null;
end $$;

create trigger deliveries_timeline_update after update on deliveries
    referencing old table as old_rows new table as new_rows
    for each statement execute function deliveries_timeline_updated();

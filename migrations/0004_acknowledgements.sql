-- Acknowledgements (once per person and announcement, counted as they come)
-- and reactions to delivered cards. A reminder is a notification of its
-- own whose acknowledgements count for the one it reminds of.
alter table notifications add column reminder_of uuid references notifications (id) on delete cascade;
alter table notifications add column acknowledged_count bigint not null default 0;

create table acknowledgements (
    notification_id uuid not null references notifications (id) on delete cascade,
    recipient_id uuid not null references recipients (id),
    acknowledged_at timestamptz not null default now(),
    primary key (notification_id, recipient_id)
);

create table reactions (
    notification_id uuid not null references notifications (id) on delete cascade,
    recipient_id uuid not null references recipients (id),
    reaction text not null,
    added boolean not null,
    at timestamptz not null default now()
);
create index reactions_notification on reactions (notification_id);
create index deliveries_activity on deliveries (activity_id) where activity_id is not null;

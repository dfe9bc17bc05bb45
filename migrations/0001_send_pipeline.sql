-- Herald's core tables: notifications, the recipient directory cache,
-- one delivery row per notification and recipient, and the counts that
-- move with every delivery status change.

create table notifications (
    id uuid primary key,
    title text not null,
    summary text,
    image_url text,
    author text,
    buttons jsonb not null default '[]',
    feed_text text,
    critical boolean not null default false,
    acknowledgement_required boolean not null default false,
    audience jsonb not null,
    status text not null default 'draft'
        check (status in ('draft', 'scheduled', 'preparing', 'sending', 'sent', 'canceled', 'failed')),
    -- True once every delivery row exists: only then can the notification complete.
    prepared boolean not null default false,
    created_by text not null,
    created_at timestamptz not null default now(),
    send_started_at timestamptz,
    first_delivery_at timestamptz,
    last_delivery_at timestamptz,
    completed_at timestamptz,
    error text
);
create index notifications_created_at on notifications (created_at desc);

-- People (and, later, team channels) Herald can post to.
create table recipients (
    id uuid primary key,
    kind text not null default 'person' check (kind in ('person', 'channel')),
    aad_object_id uuid unique,
    user_principal_name text,
    display_name text,
    user_type text,
    teams_user_id text,
    conversation_id text,
    service_url text,
    tenant_id text not null,
    team_id text,
    channel_id text,
    installed boolean not null default false,
    blocked boolean not null default false,
    blocked_at timestamptz,
    opted_out boolean not null default false,
    opted_out_at timestamptz,
    gone boolean not null default false,
    gone_at timestamptz,
    status_reason text,
    updated_at timestamptz not null default now()
);
create index recipients_upn on recipients (lower(user_principal_name));

create table deliveries (
    notification_id uuid not null references notifications (id) on delete cascade,
    recipient_id uuid not null references recipients (id),
    status text not null
        check (status in ('pending', 'queued', 'retrying', 'delivered', 'blocked', 'gone', 'failed', 'canceled', 'skipped')),
    -- Send attempts with a recorded outcome; a queue message carries the
    -- count it was published at, so stale copies can be told apart.
    attempts integer not null default 0,
    throttles integer not null default 0,
    last_http_status smallint,
    error_code text,
    error_message text,
    activity_id text,
    delivered_at timestamptz,
    enqueued boolean not null default false,
    updated_at timestamptz not null default now(),
    primary key (notification_id, recipient_id)
);
-- The prepare stage re-publishes what it had not enqueued after a crash.
create index deliveries_not_enqueued on deliveries (notification_id) where not enqueued and status = 'queued';

-- Per-notification counts by delivery status, kept current by statement
-- triggers so that progress never needs a scan of the deliveries.
create table notification_counts (
    notification_id uuid not null references notifications (id) on delete cascade,
    status text not null,
    count bigint not null default 0,
    primary key (notification_id, status)
);

create function deliveries_count_inserted() returns trigger language plpgsql as $$
begin
    insert into notification_counts (notification_id, status, count)
    select notification_id, status, count(*) from new_rows
    group by notification_id, status
    order by notification_id, status
    on conflict (notification_id, status)
    do update set count = notification_counts.count + excluded.count;
    return null;
end $$;

create function deliveries_count_updated() returns trigger language plpgsql as $$
begin
    insert into notification_counts (notification_id, status, count)
    select notification_id, status, sum(change) from (
        select notification_id, status, 1 as change from new_rows
        union all
        select notification_id, status, -1 from old_rows
    ) changes
    group by notification_id, status
    having sum(change) <> 0
    -- A fixed lock order keeps concurrent batches from deadlocking.
    order by notification_id, status
    on conflict (notification_id, status)
    do update set count = notification_counts.count + excluded.count;
    return null;
end $$;

create function deliveries_count_deleted() returns trigger language plpgsql as $$
begin
    update notification_counts c set count = c.count - d.n
    from (select notification_id, status, count(*) as n from old_rows group by 1, 2 order by 1, 2) d
    where c.notification_id = d.notification_id and c.status = d.status;
    return null;
end $$;

create trigger deliveries_counts_insert after insert on deliveries
    referencing new table as new_rows for each statement execute function deliveries_count_inserted();
create trigger deliveries_counts_update after update on deliveries
    referencing old table as old_rows new table as new_rows for each statement execute function deliveries_count_updated();
create trigger deliveries_counts_delete after delete on deliveries
    referencing old table as old_rows for each statement execute function deliveries_count_deleted();

-- The adaptive per-tenant send rate, shared by every send-worker.
create table tenants (
    id text primary key,
    rate_per_second double precision not null,
    throttled_until timestamptz,
    updated_at timestamptz not null default now()
);

-- Live send-workers; a tenant's rate is split between them.
create table send_workers (
    id uuid primary key,
    started_at timestamptz not null default now(),
    last_seen timestamptz not null default now()
);

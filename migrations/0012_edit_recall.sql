-- Edits and recalls of what was sent. Each is a change of its own, numbered
-- as the announcement's next version (2, 3, ...); the announcement's
-- columns always hold its current content. Every delivery remembers the
-- version its person now has and how the latest change went for them.
alter table notifications add column version integer not null default 1;

create table notification_changes (
    notification_id uuid not null references notifications (id) on delete cascade,
    version integer not null check (version > 1),
    -- edit: every card is replaced; recall: every card is deleted;
    -- withdraw: every card is replaced by a short notice.
    kind text not null check (kind in ('edit', 'recall', 'withdraw')),
    -- The content before the change, for the report's "what changed".
    previous jsonb not null,
    -- An edit's card says "Edited" with its time.
    mark_edited boolean not null default false,
    -- An edit also tells each person in their chat that it changed.
    notify boolean not null default false,
    by_name text not null,
    created_at timestamptz not null default now(),
    completed_at timestamptz,
    primary key (notification_id, version)
);

alter table deliveries add column version integer not null default 1;
alter table deliveries add column change_status text
    check (change_status in ('queued', 'updated', 'recalled', 'failed'));
alter table deliveries add column change_reason text;
alter table deliveries add column change_attempts integer not null default 0;
alter table deliveries add column change_at timestamptz;
-- The change's message was published (a crash between the commit and the
-- publish leaves it false, and the sweep publishes it).
alter table deliveries add column change_enqueued boolean not null default false;
-- Changes not yet applied, which completion and the sweep look for.
create index deliveries_change_queued on deliveries (notification_id) where change_status = 'queued';

-- Everyone-audiences: the directory cache keeps account state, and the
-- Graph delta link so the next broadcast fetches only what changed.
alter table recipients add column account_enabled boolean not null default true;
create index recipients_people on recipients (tenant_id) where kind = 'person' and not gone;

create table directory_sync (
    tenant_id text primary key,
    delta_link text not null,
    synced_at timestamptz not null default now()
);

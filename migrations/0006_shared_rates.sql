-- Adaptive rates toward Microsoft, shared by every process of a role: one
-- row per limit (a tenant's Bot Connector sends, a kind of Graph call),
-- keyed by the throttle's key. What they remember of the last congestion
-- lets them hold just under a limit that is lower than configured and find
-- it again when it is lifted (herald-domain's rate.rs).
drop table tenants;
create table rates (
    id text primary key,
    rate_per_second double precision not null,
    congested_at double precision,
    step double precision not null default 0,
    -- No calls before this (Retry-After).
    throttled_until timestamptz,
    -- 429s before this belong to the congestion event that set it.
    congestion_until timestamptz,
    updated_at timestamptz not null default now()
);

-- Live workers of every role that shares rates; each takes its share.
alter table send_workers rename to workers;
alter table workers add column role text not null default 'send';
create index workers_role_seen on workers (role, last_seen);

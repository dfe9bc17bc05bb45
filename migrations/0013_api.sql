-- The API for programs (/api/v1): the keys admins hand out, and the
-- answers kept for Idempotency-Key so a retried create or send is not
-- done twice.

-- A key is shown once when it is made; only the SHA-256 of it is kept.
-- `scope` is what it may do: `read` reports, or `send` (create, send and
-- change its own announcements, and read them). A revoked or expired key
-- is kept so its announcements still name it.
create table api_keys (
    id uuid primary key,
    name text not null check (length(btrim(name)) between 1 and 80),
    scope text not null check (scope in ('read', 'send')),
    token_hash bytea not null unique check (length(token_hash) = 32),
    -- The first characters of the key, so an admin can tell keys apart.
    prefix text not null,
    created_by text not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    revoked_at timestamptz,
    revoked_by text,
    last_used_at timestamptz,
    check (expires_at > created_at)
);

-- One row per (caller, key): inserted before the work starts, so a second
-- request with the same key, from any Herald process, finds it and waits
-- for the first answer instead of doing the work again. `request_hash` is
-- the SHA-256 of the method, path and body: the same key with another
-- request is refused. Rows are forgotten after a day.
create table idempotency_keys (
    caller text not null,
    key text not null check (length(key) between 1 and 255),
    request_hash bytea not null,
    created_at timestamptz not null default now(),
    -- Null while the first request is still being served.
    status smallint,
    body bytea,
    location text,
    primary key (caller, key)
);

create index idempotency_keys_created_at on idempotency_keys (created_at);

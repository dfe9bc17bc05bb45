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

-- Webhooks: an https URL per API key that hears when an announcement the
-- key created finishes sending, is canceled or fails. The secret signs
-- each POST (HMAC-SHA256), so it is kept as it is, not hashed.
create table webhooks (
    id uuid primary key,
    api_key_id uuid not null references api_keys (id),
    url text not null check (url ~ '^https?://'),
    secret text not null,
    created_by text not null,
    created_at timestamptz not null default now(),
    revoked_at timestamptz
);

create unique index webhooks_one_live_per_key on webhooks (api_key_id) where revoked_at is null;

-- One row per event and webhook, written by the trigger below in the same
-- transaction as the status change, so no event is lost or told twice;
-- the dispatcher posts it, retrying with backoff for a day.
create table webhook_deliveries (
    id bigserial primary key,
    webhook_id uuid not null references webhooks (id),
    notification_id uuid not null references notifications (id) on delete cascade,
    event text not null check (event in ('announcement.sent', 'announcement.canceled', 'announcement.failed')),
    created_at timestamptz not null default now(),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_attempt_at timestamptz,
    last_status smallint,
    last_error text,
    delivered_at timestamptz,
    gave_up_at timestamptz,
    unique (webhook_id, notification_id, event)
);

create index webhook_deliveries_due on webhook_deliveries (next_attempt_at)
    where delivered_at is null and gave_up_at is null;

-- Every attempt, for the admin page: when, and what the receiver said.
create table webhook_attempts (
    delivery_id bigint not null references webhook_deliveries (id) on delete cascade,
    at timestamptz not null default now(),
    status smallint,
    error text
);

create index webhook_attempts_delivery on webhook_attempts (delivery_id, at);

create function queue_webhook_deliveries() returns trigger language plpgsql as $$
begin
    if new.status is distinct from old.status and new.status in ('sent', 'canceled', 'failed') then
        insert into webhook_deliveries (webhook_id, notification_id, event)
        select w.id, new.id, 'announcement.' || new.status
        from webhooks w
        where w.api_key_id = new.owner_id and w.revoked_at is null
        on conflict do nothing;
    end if;
    return new;
end;
$$;

create trigger notifications_webhooks after update of status on notifications
    for each row execute function queue_webhook_deliveries();

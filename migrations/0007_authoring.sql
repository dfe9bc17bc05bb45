-- The authoring web UI: drafts and schedules live in `notifications`
-- (status 'draft' and 'scheduled'), owned by the person who composed them;
-- staff sign in with OpenID Connect and keep a server-side session.

alter table notifications
    -- Entra object id and name of the author who composed it in the web UI;
    -- null for notifications from the CLI, which only admins see.
    add column owner_id uuid,
    add column owner_name text,
    add column updated_at timestamptz not null default now(),
    -- When a scheduled notification is due (UTC), and the author's time zone
    -- (an IANA name) it was picked in, to show it back the way it was typed.
    add column scheduled_at timestamptz,
    add column time_zone text;
create index notifications_owner on notifications (owner_id, updated_at desc);
-- The scheduler's scan: only scheduled rows, by due time.
create index notifications_due on notifications (scheduled_at) where status = 'scheduled';

-- A signed-in person. The cookie holds a random token; only its SHA-256 is
-- kept, so reading this table does not let anyone sign in.
create table web_sessions (
    token_hash bytea primary key,
    user_id uuid not null,
    user_name text not null,
    user_principal_name text not null,
    roles text[] not null,
    csrf_token text not null,
    created_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now()
);
create index web_sessions_last_seen on web_sessions (last_seen_at);

-- A sign-in under way: what the callback needs to finish it (PKCE verifier,
-- nonce, where to go back to), keyed by the OAuth state.
create table web_sign_ins (
    state text primary key,
    pkce_verifier text not null,
    nonce text not null,
    return_to text not null,
    created_at timestamptz not null default now()
);

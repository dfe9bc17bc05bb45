-- Images authors upload for their cards (branch `images`). The version is
-- a timestamp to the minute, not a date, so that it never equals another
-- branch's migration of the same day: sqlx keys migrations by the number
-- before the first underscore.

-- One row per distinct image: the key is the SHA-256 of the bytes, so the
-- same image uploaded twice is stored once and keeps its URL. Who uploaded
-- it first, and when, is kept for admins' questions ("where did this come
-- from?"); later uploads of the same bytes change nothing.
create table images (
    sha256 bytea primary key check (length(sha256) = 32),
    kind text not null check (kind in ('png', 'jpg', 'gif')),
    bytes bytea not null,
    width integer not null check (width > 0),
    height integer not null check (height > 0),
    uploaded_by uuid not null,
    uploaded_by_upn text not null,
    uploaded_at timestamptz not null default now()
);

-- Herald inside Teams. A session started in the Teams tab lives in a
-- cross-site frame: its cookie is SameSite=None, Secure and Partitioned,
-- and signing out must remove that cookie, so the session says where it
-- was started.
alter table web_sessions add column in_teams boolean not null default false;

-- A sign-in started from the tab's pop-up (teams-js
-- authentication.authenticate) ends in the pop-up, a first-party window
-- whose cookies the tab's frame never sees. The callback leaves the signed-in
-- person here under a one-time code instead; the pop-up hands the code to
-- the tab, which trades it for its own session within two minutes.
alter table web_sign_ins add column for_teams boolean not null default false;

create table web_sign_in_handoffs (
    code_hash bytea primary key,
    user_id uuid not null,
    user_name text not null,
    user_principal_name text not null,
    roles text[] not null,
    created_at timestamptz not null default now()
);

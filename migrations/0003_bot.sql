-- What the bot endpoint learns: when a person's or team's membership last
-- changed (so repeated and out-of-order activities settle the same way),
-- and when Herald itself installed the app (no welcome message then).
alter table recipients add column membership_at timestamptz;
alter table recipients add column herald_installed_at timestamptz;
create index recipients_conversation on recipients (conversation_id);

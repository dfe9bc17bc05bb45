-- Acknowledgements come from people Herald may have no recipient row for:
-- every member of a channel an announcement is posted in sees its button.
-- The person's Entra object id is kept without a reference to recipients,
-- because recipients is the directory cache Graph fills: a row made from an
-- activity would have no user type or account state, and would join
-- "everyone" (a guest who pressed a button in a channel, say).
alter table acknowledgements drop constraint acknowledgements_recipient_id_fkey;

-- Only acknowledgements by the audience count: a person whose own card was
-- delivered, or anyone in a channel the announcement was delivered to.
-- Others (a press naming an announcement the person never received) are
-- kept, but not counted.
alter table acknowledgements add column counted boolean not null default true;

-- Test sends ("Save and send me a test") are not announcements: lists,
-- the overview and the API leave them out, and the draft they were sent
-- from shows them. `is_test` is set when the test is created and stays
-- when its draft is deleted (then `test_of` becomes null).
alter table notifications add column is_test boolean not null default false;
alter table notifications add column test_of uuid references notifications (id) on delete set null;
create index notifications_tests on notifications (test_of, created_at) where test_of is not null;

-- Tests sent before this migration are known by the audience send_test
-- gave them (their draft is not recorded, so they stay unlinked).
update notifications set is_test = true
where audience -> 'targets' @> '[{"kind": "users", "source": "a test sent to yourself"}]'::jsonb;

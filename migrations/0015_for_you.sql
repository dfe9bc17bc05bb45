-- A person's own page lists what was delivered to them, newest first: one
-- index on deliveries keeps it a short read however many they all hold.
create index deliveries_to_person on deliveries (recipient_id, delivered_at desc) where status = 'delivered';

-- What became of each gateway event taken: `applied`, or `ignored` with a reason (it names an
-- order or subscription this deployment did not create, it is older than the bound, or its
-- payment does not match its order; ferrocast_domain::billing::NotApplied lists them) and a
-- line for the operator. Recorded so that a redelivery is a duplicate, not a retry.
-- A payment reported for an order and refused as not matching it marks the order: nothing is
-- granted from that order afterwards. Portable SQL, so one file serves SQLite and PostgreSQL.
ALTER TABLE webhook_events ADD COLUMN outcome TEXT NOT NULL DEFAULT 'applied';
ALTER TABLE webhook_events ADD COLUMN reason TEXT;
ALTER TABLE webhook_events ADD COLUMN detail TEXT;
ALTER TABLE payment_orders ADD COLUMN refused_reason TEXT;

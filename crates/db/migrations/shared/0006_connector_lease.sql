-- Chat connectors run on one runner at a time, across nodes (SPEC 4: scale out): the runner
-- holding a connector's lease runs it and renews it; a lease not renewed in time can be taken
-- by another runner. `generation` grows each time the creator connects again, so a runner of an
-- older configuration can neither take the lease nor write the connector's state or tokens.
-- Portable SQL, so one file serves SQLite and PostgreSQL.
ALTER TABLE chat_connectors ADD COLUMN lease_node TEXT;
ALTER TABLE chat_connectors ADD COLUMN lease_until BIGINT;
ALTER TABLE chat_connectors ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

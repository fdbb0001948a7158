-- Chat connectors run on one node at a time (SPEC 4: scale out): a node holds a connector's
-- lease while it runs it and renews it; a lease not renewed in time can be taken by another
-- node. Portable SQL, so one file serves SQLite and PostgreSQL.
ALTER TABLE chat_connectors ADD COLUMN lease_node TEXT;
ALTER TABLE chat_connectors ADD COLUMN lease_until BIGINT;

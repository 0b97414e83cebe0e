-- How far a connector's write-back (edge -> MongoDB) has taken the edge store's change feed
-- (issue 6): saved after each commit to MongoDB, only by the connector's owner at the current
-- epoch, so a restart or a move resumes after what was written (a change written twice is
-- harmless: the write-back writes the document's current state).
create table connector_write_back (
    connector_id uuid primary key references connectors (connector_id) on delete cascade,
    -- The epoch that wrote it (for the record; any later owner reads it).
    epoch bigint not null,
    cursor text,
    updated_at timestamptz not null default now()
);

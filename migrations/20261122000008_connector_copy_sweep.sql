-- A copy of a collection (initial sync or resync) ends with a sweep (issue 6): edge documents the
-- copy did not see and nobody else changed since it began are ones MongoDB no longer has (deleted
-- while the stream's history was lost, or before a resync), and are removed from the edge.

-- The edge documents a running copy has seen among those that existed when it began (the ones
-- it creates need no note: they were in MongoDB), per connector and collection (cleared when a
-- copy starts and after its sweep).
create table connector_copy_seen (
    connector_id uuid not null references connectors (connector_id) on delete cascade,
    collection text collate "C" not null,
    doc_key text collate "C" not null,
    primary key (connector_id, collection, doc_key)
);

-- Where the connector's write-back stood in the edge feed when the copy began: a document changed
-- by anyone else after that may not have reached MongoDB yet, so the sweep keeps it.
-- And when the copy began: documents created since are not the sweep's business.
alter table connector_checkpoints add column copy_cursor text,
    add column copy_started_at timestamptz;

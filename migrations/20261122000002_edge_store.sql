-- The edge store (issue 3): per-app collections of CRDT documents and an ordered change feed.
--
-- No foreign keys to apps here: a foreign key checks the app once per row, which cost a fifth of
-- the bulk-insert throughput. Instead every write statement takes a key-share lock on its app row
-- once (so a concurrent app deletion waits), and deleting an app deletes its store rows in the
-- same transaction.

-- Names and keys compare byte by byte (collation "C"): the order is the same on every server
-- whatever its locale, and index maintenance skips locale-aware comparison.
create table store_documents (
    app_id uuid not null,
    collection text collate "C" not null,
    -- Canonical JSON of the document's `_id` ({"a":1,"b":2} and {"b":2,"a":1} are one key).
    doc_key text collate "C" not null,
    -- The replicated CRDT state (JSON bytes; the api merges it, Postgres never parses it).
    state bytea not null,
    -- The visible document with its `_id` (JSON bytes); null while deleted (a tombstone).
    value bytea,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (app_id, collection, doc_key)
);

-- One row per document change. Readers order by (tx_id, change_id) and only read rows whose
-- transaction is older than every transaction still running (pg_snapshot_xmin), so a row that
-- commits late is never skipped by a reader that already moved past its change_id.
create table store_changes (
    app_id uuid not null,
    tx_id xid8 not null default pg_current_xact_id(),
    change_id bigint generated always as identity,
    collection text collate "C" not null,
    doc_key text collate "C" not null,
    -- The resulting document (JSON bytes), or null for a deletion.
    value bytea,
    -- The writer's origin tag (so a consumer can skip its own writes) and actor.
    origin text,
    actor text not null,
    committed_at timestamptz not null default now(),
    primary key (app_id, tx_id, change_id)
);

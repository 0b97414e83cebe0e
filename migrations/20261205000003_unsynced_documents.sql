-- Unsynced documents, first class (issue 18): a mirror of the records a connector's write-back
-- keeps in the customer's `__edgebridge_unsynced_documents` collection (edge documents MongoDB
-- refused, or that could not be mapped). The worker reports every record it writes or removes
-- there (fenced by its epoch), and reconciles the mirror with the whole collection when a run
-- starts, so the mirror is right after an outage too. Users list, read, retry and discard them.
create table unsynced_documents (
    unsynced_document_id uuid primary key,
    org_id uuid not null,
    connector_id uuid not null references connectors (connector_id) on delete cascade,
    -- The record's `_id` in `__edgebridge_unsynced_documents` (`<connector>:<collection>:<id>`).
    record_id text collate "C" not null,
    collection text collate "C" not null,
    -- The edge document's `_id` as JSON text.
    document_id text not null,
    -- Why MongoDB refused it (`schema_validation`, `duplicate_key`, `document_too_large`...).
    code text not null,
    message text not null,
    -- Refusals seen (a reconcile after a restart adds none).
    attempts integer not null default 1,
    first_seen_at timestamptz not null,
    last_seen_at timestamptz not null,
    -- `open`; `retrying` (the document was queued for the write-back again); `discard_requested`
    -- (the worker is to delete the record in MongoDB, then the row goes).
    state text not null default 'open'
        constraint unsynced_documents_state_check
        check (state in ('open', 'retrying', 'discard_requested')),
    retried_at timestamptz,
    constraint unsynced_documents_record_key unique (connector_id, record_id)
);

-- The list, newest first, with or without its filters.
create index unsynced_documents_list_idx
    on unsynced_documents (connector_id, unsynced_document_id desc);
create index unsynced_documents_collection_idx
    on unsynced_documents (connector_id, collection, unsynced_document_id desc);
create index unsynced_documents_code_idx
    on unsynced_documents (connector_id, code, unsynced_document_id desc);
-- What the worker polls: discards it has to carry out.
create index unsynced_documents_discard_idx
    on unsynced_documents (connector_id, record_id) where state = 'discard_requested';

-- Where each collection's pipeline is (issue 6): written in the same transaction as the edge
-- writes it follows, only by the connector's owner at the current epoch, so a restart or a move
-- resumes exactly after what was applied.
create table connector_checkpoints (
    connector_id uuid not null references connectors (connector_id) on delete cascade,
    collection text collate "C" not null,
    -- The epoch that wrote it (for the record; any later owner reads it).
    epoch bigint not null,
    phase text not null constraint connector_checkpoints_phase_check
        check (phase in ('initial_sync', 'streaming')),
    resume_token jsonb,
    scan_after jsonb,
    copied bigint not null default 0,
    estimated_total bigint,
    updated_at timestamptz not null default now(),
    primary key (connector_id, collection)
);

-- When a collection's stream cannot resume because its history rolled off the oplog: stop the
-- collection (`fail`) or copy it again (`resync`).
alter table connectors add column on_history_lost text not null default 'fail'
    constraint connectors_on_history_lost_check check (on_history_lost in ('fail', 'resync'));

-- What workers report about the connectors they run (issue 5): the lifecycle goes in the existing
-- status columns; these hold the rest. Every report names the assignment epoch it was made
-- under, and only the current one is taken.
alter table connectors
    add column reported_epoch bigint,
    -- The supervisor's lifecycle: starting, running, failed, stopped.
    add column reported_state text,
    add column reported_at timestamptz,
    add column collection_status jsonb not null default '{}',
    add column counters jsonb not null default '{}',
    add column last_error jsonb,
    -- The last report's sequence number within its epoch (a retried report is taken once).
    add column reported_seq bigint not null default 0,
    -- When the next report is due (the supervisor says); null: none promised.
    add column report_due_at timestamptz,
    -- Diagnostics events refused by the rate limit since the connector was created.
    add column events_dropped bigint not null default 0;

-- The api sets each worker's lease end from its own TTL at every heartbeat; the scheduler
-- declares dead the workers past it (one TTL for both, whatever each process was given).
alter table workers add column lease_expires_at timestamptz;

-- Diagnostics events, newest first per connector. Bounded per connector (count and age) and rate
-- limited on the way in.
create table connector_events (
    event_id bigint generated always as identity primary key,
    connector_id uuid not null references connectors (connector_id) on delete cascade,
    epoch bigint not null,
    severity smallint not null constraint connector_events_severity_check check (severity between 1 and 3),
    code text not null,
    message text not null,
    context jsonb not null default '{}',
    occurred_at timestamptz not null,
    created_at timestamptz not null default now()
);

create index connector_events_connector_idx on connector_events (connector_id, event_id desc);
create index connector_events_created_idx on connector_events (created_at);

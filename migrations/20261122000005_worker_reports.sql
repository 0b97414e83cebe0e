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
    -- Diagnostics events refused by the rate limit since the last one stored.
    add column events_dropped bigint not null default 0;

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

-- What users watch: totals kept across runs, lag both ways, a metrics history, alert rules and
-- alerts, structured and debug events.

-- Per connector and collection: totals since the connector was created (the sum of every run's
-- deltas, taken once per report sequence), and the lag at the last report. The connector-level
-- figures are sums (totals) and maxima (lag) over its collections.
create table connector_collection_stats (
    connector_id uuid not null references connectors (connector_id) on delete cascade,
    collection text not null,
    copied bigint not null default 0,
    applied bigint not null default 0,
    written_back bigint not null default 0,
    skipped bigint not null default 0,
    unsynced bigint not null default 0,
    errors bigint not null default 0,
    -- MongoDB -> edge: now minus the cluster time of the last applied event at the last report
    -- (0 when caught up; null before the first change stream event or during the copy).
    lag_in_ms bigint,
    -- The cluster time of the last applied change stream event.
    last_event_at timestamptz,
    -- The last time the collection was known up to date in this direction.
    last_synced_at timestamptz,
    -- Edge -> MongoDB: edge changes not yet written back, and the age of the oldest (ms).
    pending_out bigint not null default 0,
    lag_out_ms bigint,
    -- Documents per second each way between the last two reports (MongoDB -> edge: copied and
    -- applied; edge -> MongoDB: written back).
    in_per_sec double precision,
    out_per_sec double precision,
    updated_at timestamptz not null default now(),
    primary key (connector_id, collection)
);

-- The history: one row per connector and bucket. `step_secs` 60 for the recent past, 3600 for
-- what the retention rolled up. Throughput columns are counts within the bucket; lag columns
-- the maximum seen in it; `unsynced` the documents refused within it.
create table connector_metrics (
    connector_id uuid not null references connectors (connector_id) on delete cascade,
    step_secs integer not null,
    bucket timestamptz not null,
    copied bigint not null default 0,
    applied bigint not null default 0,
    written_back bigint not null default 0,
    errors bigint not null default 0,
    unsynced bigint not null default 0,
    lag_in_ms bigint,
    lag_out_ms bigint,
    pending_out bigint,
    primary key (connector_id, step_secs, bucket)
);
create index connector_metrics_bucket_idx on connector_metrics (step_secs, bucket);

-- Debug mode: the worker reports each event and write of the connector until then.
alter table connectors add column debug_until timestamptz;

-- Events: lifecycle events from the api (no epoch of a worker: 0), debug events (severity 0),
-- and the collection and document they concern, to filter by.
alter table connector_events drop constraint connector_events_severity_check;
alter table connector_events add constraint connector_events_severity_check check (severity between 0 and 3);
alter table connector_events add column collection text;
alter table connector_events add column document_id text;
create index connector_events_collection_idx on connector_events (connector_id, collection, event_id desc)
    where collection is not null;
create index connector_events_document_idx on connector_events (connector_id, document_id, event_id desc)
    where document_id is not null;

-- Alert rules: per app (connector_id null: the app's default) or per connector (overrides the
-- app's rule of the same kind). Kinds without a rule use the built-in default.
create table alert_rules (
    rule_id uuid primary key,
    org_id uuid not null references organizations (org_id) on delete cascade,
    app_id uuid not null references apps (app_id) on delete cascade,
    connector_id uuid references connectors (connector_id) on delete cascade,
    kind text not null,
    enabled boolean not null default true,
    threshold double precision,
    for_secs integer not null default 0,
    window_secs integer,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index alert_rules_scope_kind_key
    on alert_rules (app_id, coalesce(connector_id, '00000000-0000-0000-0000-000000000000'::uuid), kind);

-- Alerts: one row per occurrence, pending -> firing -> resolved (or pending -> resolved when the
-- condition cleared before its duration). At most one open per connector and kind.
create table alerts (
    alert_id uuid primary key,
    org_id uuid not null references organizations (org_id) on delete cascade,
    app_id uuid not null references apps (app_id) on delete cascade,
    connector_id uuid not null references connectors (connector_id) on delete cascade,
    kind text not null,
    state text not null check (state in ('pending', 'firing', 'resolved')),
    -- The measured value when it last changed, and the rule's threshold then.
    value double precision,
    threshold double precision,
    message text not null,
    started_at timestamptz not null default now(),
    fired_at timestamptz,
    resolved_at timestamptz,
    updated_at timestamptz not null default now()
);
create unique index alerts_open_key on alerts (connector_id, kind) where state <> 'resolved';
create index alerts_connector_idx on alerts (connector_id, started_at desc);
create index alerts_app_idx on alerts (app_id, started_at desc);

-- The per-document trace: each sync step workers report (a MongoDB change read, its edge
-- write's outcome, a write-back, an echo, a refusal), the newest steps kept per connector.
create table connector_traces (
    step_id bigint generated always as identity primary key,
    connector_id uuid not null references connectors (connector_id) on delete cascade,
    collection text not null,
    document_id text not null,
    direction text not null check (direction in ('mongo_to_edge', 'edge_to_mongo')),
    step text not null,
    detail jsonb not null,
    occurred_at timestamptz not null
);
create index connector_traces_document_idx
    on connector_traces (connector_id, collection, document_id, step_id desc);
create index connector_traces_connector_idx on connector_traces (connector_id, step_id);
-- Steps workers recorded but could not send (more than a report carries).
alter table connectors add column traces_dropped bigint not null default 0;
-- The cluster's oplog window as the connector's worker last measured it (`{measuredAt, start,
-- unknownBecause}`): how long a stopped connector's resume points stay usable.
alter table connectors add column oplog_window jsonb;

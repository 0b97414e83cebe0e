-- The worker fleet and connector assignments (issue 5). A connector's assignment epoch grows on
-- every (re)assignment; reports and checkpoints carry it, and a stale one is refused (fencing).
create table workers (
    worker_id uuid primary key,
    name text not null,
    version text not null default '',
    -- Total connector weight it may carry (a connector weighs 1 + its collections).
    capacity integer not null constraint workers_capacity_check check (capacity > 0),
    state text not null default 'live' constraint workers_state_check
        check (state in ('live', 'draining', 'dead', 'gone')),
    registered_at timestamptz not null default now(),
    last_heartbeat_at timestamptz not null default now(),
    state_changed_at timestamptz not null default now()
);

-- One active worker per name; dead and deregistered ones stay for the record.
create unique index workers_active_name_key on workers (name) where state in ('live', 'draining');

alter table connectors
    add column assigned_worker_id uuid references workers (worker_id) on delete set null,
    add column assignment_epoch bigint not null default 0,
    add column assigned_at timestamptz;

create index connectors_assigned_worker_idx on connectors (assigned_worker_id);

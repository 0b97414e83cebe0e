-- Webhooks: per app, notified of alert transitions (and test events), signed the Standard
-- Webhooks way, retried with backoff, every attempt logged.

create table webhooks (
    webhook_id uuid primary key,
    org_id uuid not null references organizations (org_id) on delete cascade,
    app_id uuid not null constraint webhooks_app_id_fkey references apps (app_id) on delete cascade,
    url text not null constraint webhooks_url_check check (char_length(url) <= 2048),
    description text not null default '',
    enabled boolean not null default true,
    -- The event types delivered; null = every type.
    event_types text[],
    -- AES-256-GCM like connection strings (see crypto.rs): version, key id, nonce, ciphertext and
    -- tag; AAD binds org and webhook. The plaintext is the key's bytes (after `whsec_`).
    secret_ciphertext bytea not null,
    secret_key_id text not null,
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index webhooks_app_idx on webhooks (app_id, webhook_id);

-- One message per event: its body is fixed at creation (the signature covers these bytes on
-- every attempt). A dedupe key is used once per app: the same alert transition recorded twice
-- (a retried evaluation, a restart) makes no second message.
create table webhook_messages (
    message_id uuid primary key,
    org_id uuid not null references organizations (org_id) on delete cascade,
    app_id uuid not null references apps (app_id) on delete cascade,
    event_type text not null,
    dedupe_key text not null,
    body text not null,
    created_at timestamptz not null default now(),
    constraint webhook_messages_dedupe_key unique (app_id, dedupe_key)
);
create index webhook_messages_created_idx on webhook_messages (created_at);

-- One delivery per webhook and message. A claimed delivery's next_attempt_at is pushed past the
-- request's time limit (a lease): a dispatcher that dies mid-request leaves it due again later,
-- and `attempts` fences the late answer of the one that lost it.
create table webhook_deliveries (
    delivery_id uuid primary key,
    org_id uuid not null references organizations (org_id) on delete cascade,
    app_id uuid not null references apps (app_id) on delete cascade,
    webhook_id uuid not null references webhooks (webhook_id) on delete cascade,
    message_id uuid not null references webhook_messages (message_id) on delete cascade,
    state text not null default 'pending' constraint webhook_deliveries_state_check
        check (state in ('pending', 'succeeded', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    -- Retries stop this long after it: the creation, or a manual retry.
    retry_from timestamptz not null default now(),
    last_status_code integer,
    last_error text constraint webhook_deliveries_last_error_check check (char_length(last_error) <= 1024),
    created_at timestamptz not null default now(),
    finished_at timestamptz,
    constraint webhook_deliveries_webhook_message_key unique (webhook_id, message_id)
);
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where state = 'pending';
create index webhook_deliveries_webhook_idx on webhook_deliveries (webhook_id, delivery_id desc);
create index webhook_deliveries_message_idx on webhook_deliveries (message_id);

-- The delivery log: every attempt with its answer (or why there was none).
create table webhook_attempts (
    delivery_id uuid not null references webhook_deliveries (delivery_id) on delete cascade,
    attempt integer not null,
    attempted_at timestamptz not null,
    status_code integer,
    error text constraint webhook_attempts_error_check check (char_length(error) <= 1024),
    duration_ms integer not null,
    -- The start of the response body, at most 1 KiB.
    response_body text constraint webhook_attempts_response_body_check check (octet_length(response_body) <= 1024),
    primary key (delivery_id, attempt)
);

-- Tenancy, API keys and connectors (issue 2).

create table organizations (
    org_id uuid primary key,
    name text not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint organizations_name_key unique (name)
);

create table apps (
    app_id uuid primary key,
    org_id uuid not null references organizations (org_id) on delete cascade,
    name text not null,
    description text not null default '',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint apps_org_name_key unique (org_id, name)
);

create index apps_org_idx on apps (org_id, app_id);

create table api_keys (
    key_id uuid primary key,
    org_id uuid not null references organizations (org_id) on delete cascade,
    -- A key limited to one app; null = every app of the organization.
    app_id uuid references apps (app_id) on delete cascade,
    name text not null,
    role text not null constraint api_keys_role_check
        check (role in ('owner', 'admin', 'developer', 'viewer')),
    -- The public part of the key (`ebk_<prefix>_...`), used to find the row.
    prefix text not null,
    -- SHA-256 of the whole key. The key itself is never stored.
    secret_hash bytea not null,
    created_by uuid,
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz,
    constraint api_keys_prefix_key unique (prefix)
);

create index api_keys_org_idx on api_keys (org_id, key_id);

create table connectors (
    connector_id uuid primary key,
    org_id uuid not null references organizations (org_id) on delete cascade,
    -- restrict: an app with connectors cannot be deleted by accident.
    app_id uuid not null constraint connectors_app_id_fkey references apps (app_id) on delete restrict,
    name text not null,
    description text not null default '',
    database_name text not null,
    -- Normalized collection mappings, keyed by collection name. `json`, not `jsonb`: filters keep
    -- their key order, which MongoDB exact embedded-document matches depend on.
    collections json not null,
    -- AES-256-GCM: version, key id, nonce, ciphertext and tag; AAD binds org and connector.
    connection_ciphertext bytea not null,
    connection_key_id text not null,
    -- What responses show: the password replaced by ****.
    connection_redacted text not null,
    desired_state text not null default 'running' constraint connectors_desired_state_check
        check (desired_state in ('running', 'paused')),
    status text not null default 'pending' constraint connectors_status_check
        check (status in ('pending', 'running', 'failed', 'paused')),
    status_code text,
    status_message text,
    status_remediation text,
    status_changed_at timestamptz not null default now(),
    version bigint not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint connectors_app_name_key unique (app_id, name)
);

create index connectors_org_app_idx on connectors (org_id, app_id, connector_id);
create index connectors_key_id_idx on connectors (connection_key_id);

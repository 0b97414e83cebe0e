//! Connector persistence. Every function is scoped by organization and app. Only ciphertext of the
//! connection string is stored, plus its redacted form for responses.

use super::model::DesiredState;
pub use super::view::CopyRow;
use crate::error::{ApiError, Result, violated_constraint};
use crate::http::extract::PageRequest;
use chrono::{DateTime, Utc};
use edgebridge_domain::fleet::{CollectionReport, ReportedError};
use edgebridge_domain::{CollectionMapping, ConnectorSpec};
use sqlx::types::Json;
use sqlx::{PgExecutor, Postgres, Transaction};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub struct ConnectorRow {
    pub connector_id: Uuid,
    pub org_id: Uuid,
    pub app_id: Uuid,
    pub name: String,
    pub description: String,
    pub database_name: String,
    pub collections: Json<BTreeMap<String, CollectionMapping>>,
    pub auto_configure: bool,
    pub on_history_lost: String,
    pub connection_ciphertext: Vec<u8>,
    pub connection_redacted: String,
    pub desired_state: String,
    pub status: String,
    pub status_code: Option<String>,
    pub status_message: Option<String>,
    pub status_remediation: Option<String>,
    pub status_changed_at: DateTime<Utc>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub assigned_worker_id: Option<Uuid>,
    pub assignment_epoch: i64,
    pub assigned_at: Option<DateTime<Utc>>,
    pub reported_epoch: Option<i64>,
    pub reported_at: Option<DateTime<Utc>>,
    pub reported_state: Option<String>,
    pub collection_status: Json<BTreeMap<String, CollectionReport>>,
    pub counters: Json<BTreeMap<String, u64>>,
    pub last_error: Option<Json<ReportedError>>,
    pub worker_name: Option<String>,
    pub worker_state: Option<String>,
    /// Seconds since the assigned worker's last heartbeat (by the database's clock).
    pub worker_silent_secs: Option<f64>,
    /// Seconds left on the assigned worker's lease (negative: expired).
    pub worker_lease_left_secs: Option<f64>,
    /// Seconds past the time the next report was due (negative: not yet due).
    pub report_overdue_secs: Option<f64>,
    /// Collections being copied, from their checkpoints.
    pub copies: Json<BTreeMap<String, CopyRow>>,
    /// Per collection: totals and lag, from the reports.
    pub stats: Json<BTreeMap<String, super::stats::StatsRow>>,
    /// The cluster's oplog window as last measured.
    pub oplog_window: Option<Json<edgebridge_domain::fleet::OplogWindow>>,
}

const COLUMNS: &str = "connector_id, org_id, app_id, name, description, database_name, collections,
    auto_configure, on_history_lost, connection_ciphertext, connection_redacted, desired_state, status, status_code, status_message,
    status_remediation, status_changed_at, version, created_at, updated_at,
    assigned_worker_id, assignment_epoch, assigned_at, reported_epoch, reported_at, reported_state,
    collection_status, counters, last_error, oplog_window,
    (select w.name from workers w where w.worker_id = connectors.assigned_worker_id) as worker_name,
    (select w.state from workers w where w.worker_id = connectors.assigned_worker_id) as worker_state,
    (select extract(epoch from now() - w.last_heartbeat_at)::float8 from workers w
        where w.worker_id = connectors.assigned_worker_id) as worker_silent_secs,
    (select extract(epoch from w.lease_expires_at - now())::float8 from workers w
        where w.worker_id = connectors.assigned_worker_id) as worker_lease_left_secs,
    extract(epoch from now() - report_due_at)::float8 as report_overdue_secs,
    (select coalesce(jsonb_object_agg(k.collection, jsonb_build_object(
            'copied', k.copied, 'estimated_total', k.estimated_total, 'rate', k.copy_rate,
            'idle_secs', extract(epoch from now() - coalesce(k.copy_rate_at, k.updated_at))::float8,
            'started_at', k.copy_started_at, 'updated_at', k.updated_at)), '{}')
        from connector_checkpoints k
        where k.connector_id = connectors.connector_id and k.phase = 'initial_sync') as copies,
    (select coalesce(jsonb_object_agg(s.collection, jsonb_build_object(
            'copied', s.copied, 'applied', s.applied, 'written_back', s.written_back,
            'skipped', s.skipped, 'unsynced', s.unsynced, 'errors', s.errors,
            'lag_in_ms', s.lag_in_ms, 'last_event_at', s.last_event_at,
            'last_synced_at', s.last_synced_at, 'pending_out', s.pending_out,
            'lag_out_ms', s.lag_out_ms, 'in_per_sec', s.in_per_sec, 'out_per_sec', s.out_per_sec,
            'age_secs', extract(epoch from now() - s.updated_at)::float8)), '{}')
        from connector_collection_stats s where s.connector_id = connectors.connector_id) as stats";

pub fn name_conflict(name: &str) -> ApiError {
    ApiError::conflict(
        "connector_name_taken",
        format!("A connector named `{name}` already exists in this app; choose another name."),
    )
}

/// Maps constraint violations: the name taken (409), or the app deleted meanwhile (404).
pub fn name_taken(e: sqlx::Error, name: &str) -> ApiError {
    match violated_constraint(&e) {
        Some("connectors_app_name_key") => name_conflict(name),
        Some("connectors_app_id_fkey") => ApiError::NotFound("app"),
        _ => e.into(),
    }
}

/// The encrypted secret of a connector being written.
pub struct SealedSecret<'a> {
    pub ciphertext: &'a [u8],
    pub key_id: &'a str,
    pub redacted: &'a str,
}

/// Inserts a new connector, running or paused as asked.
pub async fn insert(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
    spec: &ConnectorSpec,
    secret: SealedSecret<'_>,
    desired: DesiredState,
) -> Result<ConnectorRow> {
    let status = match desired {
        DesiredState::Paused => "paused",
        DesiredState::Running => "pending",
    };
    sqlx::query_as(&format!(
        "insert into connectors (connector_id, org_id, app_id, name, description, database_name,
             collections, connection_ciphertext, connection_key_id, connection_redacted,
             auto_configure, on_history_lost, desired_state, status)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) returning {COLUMNS}"
    ))
    .bind(connector_id)
    .bind(org_id)
    .bind(app_id)
    .bind(&spec.name)
    .bind(&spec.description)
    .bind(&spec.database)
    .bind(Json(&spec.collections))
    .bind(secret.ciphertext)
    .bind(secret.key_id)
    .bind(secret.redacted)
    .bind(spec.auto_configure)
    .bind(spec.on_history_lost.as_str())
    .bind(desired.as_str())
    .bind(status)
    .fetch_one(db)
    .await
    .map_err(|e| name_taken(e, &spec.name))
}

pub async fn get(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
) -> Result<Option<ConnectorRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from connectors where org_id = $1 and app_id = $2 and connector_id = $3"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .fetch_optional(db)
    .await?)
}

/// Reads and locks the row for the rest of the transaction (no MongoDB I/O happens inside it).
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
) -> Result<ConnectorRow> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from connectors
         where org_id = $1 and app_id = $2 and connector_id = $3 for update"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(ApiError::NotFound("connector"))
}

pub async fn list(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    page: &PageRequest,
) -> Result<Vec<ConnectorRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from connectors
         where org_id = $1 and app_id = $2 and ($3::uuid is null or connector_id > $3)
         order by connector_id limit $4"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(page.after)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?)
}

pub async fn name_exists(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    name: &str,
) -> Result<bool> {
    let row: Option<(i32,)> =
        sqlx::query_as("select 1 from connectors where org_id = $1 and app_id = $2 and name = $3")
            .bind(org_id)
            .bind(app_id)
            .bind(name)
            .fetch_optional(db)
            .await?;
    Ok(row.is_some())
}

/// Replaces the settings (and the secret when given), bumping the version.
pub async fn update_spec(
    tx: &mut Transaction<'_, Postgres>,
    current: &ConnectorRow,
    spec: &ConnectorSpec,
    secret: Option<SealedSecret<'_>>,
) -> Result<ConnectorRow> {
    let (ciphertext, key_id, redacted) = match &secret {
        Some(s) => (Some(s.ciphertext), Some(s.key_id), Some(s.redacted)),
        None => (None, None, None),
    };
    sqlx::query_as(&format!(
        "update connectors set name = $3, description = $4, database_name = $5, collections = $6,
             -- a change the running connector must see restarts it with a new epoch (the
             -- worker fetches the new spec; the old run is fenced out)
             assignment_epoch = case when database_name <> $5
                     or collections::jsonb is distinct from $6::jsonb
                     or $7::bytea is not null or auto_configure <> $10
                     or on_history_lost <> $11
                 then assignment_epoch + 1 else assignment_epoch end,
             connection_ciphertext = coalesce($7, connection_ciphertext),
             connection_key_id = coalesce($8, connection_key_id),
             connection_redacted = coalesce($9, connection_redacted),
             auto_configure = $10, on_history_lost = $11,
             version = version + 1, updated_at = now()
         where org_id = $1 and connector_id = $2 returning {COLUMNS}"
    ))
    .bind(current.org_id)
    .bind(current.connector_id)
    .bind(&spec.name)
    .bind(&spec.description)
    .bind(&spec.database)
    .bind(Json(&spec.collections))
    .bind(ciphertext)
    .bind(key_id)
    .bind(redacted)
    .bind(spec.auto_configure)
    .bind(spec.on_history_lost.as_str())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| name_taken(e, &spec.name))
}

/// Sets the desired state (and the matching status) unless it is already set. Returns the row
/// either way; `None` when the connector does not exist.
pub async fn set_desired_state(
    db: &sqlx::PgPool,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
    desired: DesiredState,
) -> Result<Option<ConnectorRow>> {
    let status_text = match desired {
        DesiredState::Paused => "paused",
        DesiredState::Running => "pending",
    };
    let desired_text = desired.as_str();
    let updated: Option<ConnectorRow> = sqlx::query_as(&format!(
        "update connectors set desired_state = $4, status = $5, status_code = null,
             status_message = null, status_remediation = null, status_changed_at = now(),
             version = version + 1, updated_at = now(),
             -- a new epoch fences the run being paused (or the failed one being retried) out
             assignment_epoch = assignment_epoch + 1
         where org_id = $1 and app_id = $2 and connector_id = $3
           and (desired_state <> $4 or ($4 = 'running' and status = 'failed'))
         returning {COLUMNS}"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .bind(desired_text)
    .bind(status_text)
    .fetch_optional(db)
    .await?;
    match updated {
        Some(row) => Ok(Some(row)),
        None => get(db, org_id, app_id, connector_id).await,
    }
}

/// Applies a reconfiguration plan to the collections' checkpoints (the run restarts with a new
/// epoch and reads them): `initialSync` marks a new copy, `startStreaming` and `stop` forget the
/// old position (a collection added back later starts afresh), anything else keeps it (a new
/// connection string resumes every stream where it was: nothing is missed).
pub async fn apply_plan_to_checkpoints(
    tx: &mut Transaction<'_, Postgres>,
    connector_id: Uuid,
    plan: &edgebridge_domain::ReconfigurationPlan,
) -> Result<()> {
    use edgebridge_domain::plan::CollectionAction;
    for change in &plan.collections {
        match change.action {
            CollectionAction::InitialSync => {
                request_copy(tx, connector_id, &change.collection).await?;
            }
            CollectionAction::StartStreaming | CollectionAction::Stop => {
                sqlx::query(
                    "delete from connector_checkpoints where connector_id = $1 and collection = $2",
                )
                .bind(connector_id)
                .bind(&change.collection)
                .execute(&mut **tx)
                .await?;
            }
            CollectionAction::ApplySettings | CollectionAction::None => {}
        }
    }
    Ok(())
}

/// The checkpoint that tells the next run to copy the collection from the start (no stream
/// position yet: the run keeps one before it scans).
async fn request_copy(
    tx: &mut Transaction<'_, Postgres>,
    connector_id: Uuid,
    collection: &str,
) -> Result<()> {
    sqlx::query(
        // A collection without a checkpoint (new, or added) gets its first copy: `copy_fresh`
        // (see `fleet::sync::copy::copy_bookkeeping`); a copy of a synced one sweeps.
        "insert into connector_checkpoints (connector_id, collection, epoch, phase, copy_fresh)
         select connector_id, $2, assignment_epoch, 'initial_sync', true from connectors
         where connector_id = $1
         on conflict (connector_id, collection) do update set
             phase = 'initial_sync', resume_token = null, scan_after = null, copied = 0,
             estimated_total = null, updated_at = now(), copy_rate = null, copy_rate_at = null,
             copy_rate_copied = null, copy_started_at = null",
    )
    .bind(connector_id)
    .bind(collection)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a collection for a new initial sync (its checkpoint says: scan from the start, no
/// stream position yet) and restarts the connector where it runs, so the next run does it.
pub async fn request_resync(
    tx: &mut Transaction<'_, Postgres>,
    connector_id: Uuid,
    collection: &str,
) -> Result<()> {
    request_copy(tx, connector_id, collection).await?;
    sqlx::query(
        "update connectors set assignment_epoch = assignment_epoch + 1
         where connector_id = $1 and desired_state = 'running'",
    )
    .bind(connector_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Restarts a running connector where it is: a new epoch fences the old supervisor out and its
/// worker starts a new one at the next heartbeat. `Ok(None)` = not found; `Ok(Some(None))` =
/// paused (nothing to restart).
pub async fn restart(
    db: &sqlx::PgPool,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
) -> Result<Option<Option<ConnectorRow>>> {
    let updated: Option<ConnectorRow> = sqlx::query_as(&format!(
        "update connectors set assignment_epoch = assignment_epoch + 1, status = 'pending',
             status_code = null, status_message = null, status_remediation = null,
             status_changed_at = now()
         where org_id = $1 and app_id = $2 and connector_id = $3 and desired_state = 'running'
         returning {COLUMNS}"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .fetch_optional(db)
    .await?;
    match updated {
        Some(row) => Ok(Some(Some(row))),
        None => Ok(get(db, org_id, app_id, connector_id).await?.map(|_| None)),
    }
}

/// Deletes the connector, only at one of `expected_versions` when given. `Ok(None)` = not
/// found, `Ok(Some(false))` = version mismatch.
pub async fn delete(
    db: &sqlx::PgPool,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
    expected_versions: Option<Vec<i64>>,
) -> Result<Option<bool>> {
    let result = sqlx::query(
        "delete from connectors where org_id = $1 and app_id = $2 and connector_id = $3
           and ($4::bigint[] is null or version = any($4))",
    )
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .bind(expected_versions)
    .execute(db)
    .await?;
    if result.rows_affected() == 1 {
        return Ok(Some(true));
    }
    Ok(get(db, org_id, app_id, connector_id).await?.map(|_| false))
}

/// One connector's secret for re-encryption.
#[derive(Debug, sqlx::FromRow)]
pub struct SecretRow {
    pub connector_id: Uuid,
    pub org_id: Uuid,
    pub connection_ciphertext: Vec<u8>,
}

/// Connectors whose secret is not under `active_key_id`, after `after`, in id order.
pub async fn secrets_not_under(
    db: impl PgExecutor<'_>,
    active_key_id: &str,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<SecretRow>> {
    Ok(sqlx::query_as(
        "select connector_id, org_id, connection_ciphertext from connectors
         where connection_key_id <> $1 and ($2::uuid is null or connector_id > $2)
         order by connector_id limit $3",
    )
    .bind(active_key_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Swaps the ciphertext only if it is still the one that was read (no lost concurrent update).
pub async fn replace_secret(
    db: impl PgExecutor<'_>,
    row: &SecretRow,
    ciphertext: &[u8],
    key_id: &str,
) -> Result<bool> {
    let result = sqlx::query(
        "update connectors set connection_ciphertext = $3, connection_key_id = $4
         where connector_id = $1 and connection_ciphertext = $2",
    )
    .bind(row.connector_id)
    .bind(&row.connection_ciphertext)
    .bind(ciphertext)
    .bind(key_id)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

//! `/internal/v1/workers/...`: what workers call (see [`edgebridge_domain::fleet`]). Not part of
//! the public OpenAPI document. Every statement about a connector is conditioned on the
//! connector being assigned to the calling worker at the named epoch, in the same statement, so
//! a worker that was paused, cut off or replaced can neither read a spec nor write a report once
//! the connector has moved on (409 `stale_epoch`).

use super::auth::{WorkerAuth, WorkerToken};
use crate::auth::jwt;
use crate::crypto::connector_secret_aad;
use crate::error::{ApiError, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use edgebridge_domain::Violation;
use edgebridge_domain::fleet::{
    Assignment, ConnectorAssignmentSpec, HeartbeatRequest, HeartbeatResponse, RegisterRequest,
    WorkerCredential, WorkerState,
};
use serde::Deserialize;
use sqlx::types::Json as SqlJson;
use uuid::Uuid;

/// The workers' routes; `body_limit` bounds their request bodies (sync batches are larger than
/// tenant requests; the edge store still bounds each document, and a worker splits a batch the
/// api refuses as too large).
pub fn router(body_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/internal/v1/workers/register", post(register))
        .route(
            "/internal/v1/workers/{worker_id}/heartbeat",
            post(heartbeat),
        )
        .route(
            "/internal/v1/workers/{worker_id}/deregister",
            post(deregister),
        )
        .route(
            "/internal/v1/workers/{worker_id}/connectors/{connector_id}",
            get(connector_spec),
        )
        .route(
            "/internal/v1/workers/{worker_id}/connectors/{connector_id}/report",
            post(super::report::report),
        )
        .route(
            "/internal/v1/workers/{worker_id}/connectors/{connector_id}/apply",
            post(super::sync::apply),
        )
        .route(
            "/internal/v1/workers/{worker_id}/connectors/{connector_id}/checkpoints",
            get(super::sync::checkpoints),
        )
        .route(
            "/internal/v1/workers/{worker_id}/connectors/{connector_id}/changes",
            get(super::sync::changes),
        )
        .route(
            "/internal/v1/workers/{worker_id}/connectors/{connector_id}/write-back",
            get(super::sync::write_back).put(super::sync::save_write_back),
        )
        .route(
            "/internal/v1/workers/{worker_id}/connectors/{connector_id}/unsynced",
            get(super::sync::pending_discards).post(super::sync::report_unsynced),
        )
        .layer(crate::http::body_limit::layer(body_limit, None))
}

pub(crate) fn stale(connector_id: Uuid, epoch: i64) -> ApiError {
    ApiError::Other {
        status: StatusCode::CONFLICT,
        code: "stale_epoch",
        detail: format!(
            "Connector {connector_id} is not assigned to this worker at epoch {epoch} (it was moved, paused, restarted or deleted): stop running it."
        ),
    }
}

fn expired() -> ApiError {
    ApiError::Other {
        status: StatusCode::GONE,
        code: "worker_expired",
        detail: "This worker is no longer registered (its lease ran out, it was replaced, or it deregistered): stop every connector and register again.".into(),
    }
}

fn credential(state: &AppState, worker_id: Uuid) -> Result<WorkerCredential> {
    let ttl = state.fleet.worker_token_ttl;
    let access_token = state.jwt.issue(&jwt::new_worker_claims(worker_id, ttl))?;
    Ok(WorkerCredential {
        worker_id,
        access_token,
        expires_in: ttl.as_secs(),
        heartbeat_interval_ms: u64::try_from(state.fleet.heartbeat_interval.as_millis())
            .unwrap_or(u64::MAX),
        lease_ttl_ms: u64::try_from(state.fleet.lease_ttl.as_millis()).unwrap_or(u64::MAX),
    })
}

fn validate_registration(req: &RegisterRequest) -> Result<()> {
    let mut errors = Vec::new();
    let name_ok = !req.name.is_empty()
        && req.name.len() <= 128
        && req
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !name_ok {
        errors.push(Violation {
            path: "/name".into(),
            message: "1-128 letters, digits, '-', '_', '.' or ':' (set EDGEBRIDGE_WORKER_NAME)"
                .into(),
        });
    }
    if !(1..=1_000_000).contains(&req.capacity) {
        errors.push(Violation {
            path: "/capacity".into(),
            message: "must be between 1 and 1000000 (set EDGEBRIDGE_WORKER_CAPACITY)".into(),
        });
    }
    if req.version.len() > 64 {
        errors.push(Violation {
            path: "/version".into(),
            message: "at most 64 characters".into(),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Registers a worker. An active worker of the same name whose lease has run out (a restarted
/// pod whose predecessor crashed; it has stopped its connectors by itself before then) is
/// replaced at once: marked gone, its connectors released with a new epoch. One whose lease
/// still runs keeps its name (409): two workers must not share one, and its connectors must
/// not run twice.
async fn register(
    State(state): State<AppState>,
    _: WorkerToken,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Response> {
    validate_registration(&req)?;
    let worker_id = Uuid::now_v7();
    let quiet_ms =
        i64::try_from(state.fleet.heartbeat_interval.as_millis() * 2).unwrap_or(i64::MAX);
    let mut tx = crate::db::begin(&state.pool).await?;
    let active: Vec<(Uuid, bool)> = sqlx::query_as(
        "select worker_id,
                last_heartbeat_at < now() - make_interval(secs => $2::double precision / 1000)
         from workers where name = $1 and state in ('live', 'draining') for update",
    )
    .bind(&req.name)
    .bind(quiet_ms)
    .fetch_all(&mut *tx)
    .await?;
    if active.iter().any(|(_, quiet)| !quiet) {
        return Err(name_in_use(&req.name));
    }
    for (old, _) in &active {
        sqlx::query(
            "update workers set state = 'gone', state_changed_at = now() where worker_id = $1",
        )
        .bind(old)
        .execute(&mut *tx)
        .await?;
        release_connectors(&mut tx, *old).await?;
        tracing::warn!(worker = %req.name, old_worker_id = %old, new_worker_id = %worker_id,
            "a worker registered under the name of a quiet one; the old one is replaced");
    }
    sqlx::query("insert into workers (worker_id, name, version, capacity) values ($1, $2, $3, $4)")
        .bind(worker_id)
        .bind(&req.name)
        .bind(&req.version)
        .bind(i32::try_from(req.capacity).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await
        .map_err(|e| match crate::error::violated_constraint(&e) {
            Some("workers_active_name_key") => name_in_use(&req.name),
            _ => e.into(),
        })?;
    tx.commit().await?;
    tracing::info!(worker = %req.name, %worker_id, capacity = req.capacity, version = %req.version, "worker registered");
    Ok((StatusCode::CREATED, Json(credential(&state, worker_id)?)).into_response())
}

fn name_in_use(name: &str) -> ApiError {
    ApiError::Other {
        status: StatusCode::CONFLICT,
        code: "worker_name_in_use",
        detail: format!(
            "A worker named `{name}` holds a lease; give each worker its own EDGEBRIDGE_WORKER_NAME. (A restarted worker gets the name once its predecessor's lease has run out.)"
        ),
    }
}

/// Unassigns every connector of `worker_id` with a new epoch; the next scheduler tick places
/// them again.
async fn release_connectors(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    worker_id: Uuid,
) -> Result<u64> {
    let done = sqlx::query(
        "update connectors set assigned_worker_id = null, assigned_at = null,
             assignment_epoch = assignment_epoch + 1
         where assigned_worker_id = $1",
    )
    .bind(worker_id)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Renews the worker's lease and answers with what it should run.
async fn heartbeat(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath(worker_id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>> {
    auth.require_self(worker_id)?;
    let row: Option<(String,)> = sqlx::query_as(
        "update workers set last_heartbeat_at = now(),
             lease_expires_at = now() + make_interval(secs => $3),
             state = case when $2 then 'draining' else state end,
             state_changed_at = case when $2 and state <> 'draining' then now() else state_changed_at end
         where worker_id = $1 and state in ('live', 'draining')
         returning state",
    )
    .bind(worker_id)
    .bind(req.draining)
    .bind(state.fleet.lease_ttl.as_secs_f64())
    .fetch_optional(&state.pool)
    .await?;
    let (worker_state,) = row.ok_or_else(expired)?;
    let assignments: Vec<(Uuid, i64)> = sqlx::query_as(
        "select connector_id, assignment_epoch from connectors
         where assigned_worker_id = $1 and desired_state = 'running'
         order by connector_id",
    )
    .bind(worker_id)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(HeartbeatResponse {
        state: WorkerState::parse(&worker_state).unwrap_or(WorkerState::Live),
        assignments: assignments
            .into_iter()
            .map(|(connector_id, epoch)| Assignment {
                connector_id,
                epoch,
            })
            .collect(),
        credential: credential(&state, worker_id)?,
    }))
}

/// The worker leaves: it is gone, and its connectors are released at once (not after the
/// lease), so they run elsewhere within a scheduler tick.
async fn deregister(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath(worker_id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    auth.require_self(worker_id)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    sqlx::query(
        "update workers set state = 'gone', state_changed_at = now()
         where worker_id = $1 and state <> 'gone'",
    )
    .bind(worker_id)
    .execute(&mut *tx)
    .await?;
    let released = release_connectors(&mut tx, worker_id).await?;
    tx.commit().await?;
    tracing::info!(%worker_id, released, "worker deregistered");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EpochParam {
    epoch: i64,
}

#[derive(sqlx::FromRow)]
struct SpecRow {
    org_id: Uuid,
    app_id: Uuid,
    name: String,
    database_name: String,
    collections: SqlJson<std::collections::BTreeMap<String, edgebridge_domain::CollectionMapping>>,
    auto_configure: bool,
    on_history_lost: String,
    connection_ciphertext: Vec<u8>,
    version: i64,
}

/// The connector's spec with the connection string in clear: only for the worker it is
/// assigned to, at the current epoch.
async fn connector_spec(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath((worker_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(EpochParam { epoch }): ApiQuery<EpochParam>,
) -> Result<Json<ConnectorAssignmentSpec>> {
    auth.require_self(worker_id)?;
    let row: Option<SpecRow> = sqlx::query_as(
        "select c.org_id, c.app_id, c.name, c.database_name, c.collections, c.auto_configure,
                c.on_history_lost, c.connection_ciphertext, c.version
         from connectors c join workers w on w.worker_id = c.assigned_worker_id
         where c.connector_id = $1 and c.assigned_worker_id = $2 and c.assignment_epoch = $3
           and c.desired_state = 'running' and w.state in ('live', 'draining')",
    )
    .bind(connector_id)
    .bind(worker_id)
    .bind(epoch)
    .fetch_optional(&state.pool)
    .await?;
    let row = row.ok_or_else(|| stale(connector_id, epoch))?;
    let plaintext = state
        .keyring
        .decrypt(
            &row.connection_ciphertext,
            &connector_secret_aad(row.org_id, connector_id),
        )
        .map_err(|e| {
            // Not a server failure: the connector's owner must replace the secret.
            tracing::warn!(%connector_id, error = %e, "stored connection string cannot be opened");
            crate::connectors::view::secret_unavailable()
        })?;
    let connection_string = String::from_utf8(plaintext)
        .map_err(|_| anyhow::anyhow!("the secret of connector {connector_id} is not UTF-8"))?;
    Ok(Json(ConnectorAssignmentSpec {
        connector_id,
        epoch,
        org_id: row.org_id,
        app_id: row.app_id,
        name: row.name,
        connection_string,
        database: row.database_name,
        collections: row.collections.0,
        auto_configure: row.auto_configure,
        on_history_lost: edgebridge_domain::OnHistoryLost::parse(&row.on_history_lost)
            .unwrap_or_default(),
        version: row.version,
    }))
}

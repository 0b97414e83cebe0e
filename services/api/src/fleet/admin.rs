//! Operator routes: the worker fleet and draining a worker. Authenticated with
//! `EDGEBRIDGE_OPERATOR_TOKEN`, never with tenant keys.

use super::auth::OperatorAuth;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A worker as the operator sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerOut {
    pub id: Uuid,
    #[schema(example = "worker-7f9c")]
    pub name: String,
    /// `live`, `draining` (takes no new connectors), `dead` (missed its lease) or `gone`
    /// (deregistered or replaced).
    #[schema(example = "live")]
    pub state: String,
    pub version: String,
    /// Total connector weight it takes.
    pub capacity: i32,
    /// Weight of the connectors assigned to it (a connector weighs 1 + its collections).
    pub load: i64,
    /// Connectors assigned to it.
    pub connectors: i64,
    pub last_heartbeat_at: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
    pub state_changed_at: DateTime<Utc>,
}

/// The worker fleet.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerList {
    pub items: Vec<WorkerOut>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WorkerListParams {
    /// Only workers in this state. By default: live, draining and dead ones, and those gone
    /// within the last hour.
    #[param(value_type = Option<String>, example = "live")]
    pub state: Option<String>,
}

const SELECT: &str = "select w.worker_id as id, w.name, w.state, w.version, w.capacity,
        coalesce(sum(case when c.connector_id is not null
            then 1 + (select count(*) from json_object_keys(c.collections)) end), 0)::bigint as load,
        count(c.connector_id) as connectors,
        w.last_heartbeat_at, w.registered_at, w.state_changed_at
    from workers w left join connectors c on c.assigned_worker_id = w.worker_id";

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    state: String,
    version: String,
    capacity: i32,
    load: i64,
    connectors: i64,
    last_heartbeat_at: DateTime<Utc>,
    registered_at: DateTime<Utc>,
    state_changed_at: DateTime<Utc>,
}

impl From<Row> for WorkerOut {
    fn from(r: Row) -> Self {
        WorkerOut {
            id: r.id,
            name: r.name,
            state: r.state,
            version: r.version,
            capacity: r.capacity,
            load: r.load,
            connectors: r.connectors,
            last_heartbeat_at: r.last_heartbeat_at,
            registered_at: r.registered_at,
            state_changed_at: r.state_changed_at,
        }
    }
}

async fn get_worker(pool: &PgPool, id: Uuid) -> Result<Option<WorkerOut>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "{SELECT} where w.worker_id = $1 group by w.worker_id"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Into::into))
}

/// List workers
///
/// Every worker with its state, load and last heartbeat. Operators only.
#[utoipa::path(get, path = "/v1/admin/workers", operation_id = "listWorkers", tag = "operator",
    security(("operator" = [])),
    params(WorkerListParams),
    responses(
        (status = 200, description = "The workers, by name", body = WorkerList),
    ))]
pub async fn list_workers(
    State(state): State<AppState>,
    _: OperatorAuth,
    ApiQuery(params): ApiQuery<WorkerListParams>,
) -> Result<Json<WorkerList>> {
    let filter = match params.state.as_deref() {
        None | Some("") => None,
        Some(s @ ("live" | "draining" | "dead" | "gone")) => Some(s.to_owned()),
        Some(_) => {
            return Err(ApiError::bad_field(
                "invalid_query_parameter",
                "/state",
                "`state` must be `live`, `draining`, `dead` or `gone`",
            ));
        }
    };
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT}
         where case when $1::text is null
                    then w.state <> 'gone' or w.state_changed_at > now() - interval '1 hour'
                    else w.state = $1 end
         group by w.worker_id order by w.name, w.registered_at desc limit 1000"
    ))
    .bind(filter)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(WorkerList {
        items: rows.into_iter().map(Into::into).collect(),
    }))
}

/// Drain a worker
///
/// The worker takes no new connectors, and the scheduler moves the ones it runs to other
/// workers, a few per tick (each move fences the worker out of that connector). Draining a
/// draining worker changes nothing. Operators only.
#[utoipa::path(post, path = "/v1/admin/workers/{workerId}/drain", operation_id = "drainWorker", tag = "operator",
    security(("operator" = [])),
    params(("workerId" = Uuid, Path, description = "The worker's id")),
    responses(
        (status = 200, description = "The worker, draining", body = WorkerOut),
        (status = 404, description = "No such worker", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The worker is dead or gone; its connectors have already moved", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn drain_worker(
    State(state): State<AppState>,
    _: OperatorAuth,
    ApiPath(worker_id): ApiPath<Uuid>,
) -> Result<Json<WorkerOut>> {
    sqlx::query(
        "update workers set state = 'draining', state_changed_at = now()
         where worker_id = $1 and state = 'live'",
    )
    .bind(worker_id)
    .execute(&state.pool)
    .await?;
    let worker = get_worker(&state.pool, worker_id)
        .await?
        .ok_or(ApiError::NotFound("worker"))?;
    if worker.state != "draining" {
        return Err(ApiError::Other {
            status: StatusCode::CONFLICT,
            code: "worker_not_active",
            detail: format!(
                "Worker `{}` is {}; only a live worker can be drained (its connectors have already moved).",
                worker.name, worker.state
            ),
        });
    }
    tracing::info!(worker = %worker.name, %worker_id, "worker draining (operator)");
    Ok(Json(worker))
}

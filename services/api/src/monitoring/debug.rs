//! Debug mode: for a bounded time, the connector's worker reports each change it reads and
//! each write it makes as a debug event (rate limited), listed with `level=debug`.

use super::visible;
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::fleet::event_store::{Lifecycle, record};
use crate::http::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest debug mode runs at once.
pub const MAX_DEBUG_MINUTES: u32 = 60;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DebugRequest {
    /// How long, 1 to 60 minutes.
    #[schema(minimum = 1, maximum = 60, example = 10)]
    pub minutes: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DebugState {
    /// Debug mode runs until then; `null`: off.
    pub debug_until: Option<DateTime<Utc>>,
    /// Debug events each connector stores per minute at most (the worker sends at most 50 a
    /// second); the rest are counted in the events list's `dropped`.
    pub debug_events_per_minute: u32,
}

/// Turn on debug mode for a while
///
/// For the given minutes (1 to 60), the connector's worker reports each MongoDB change it reads
/// and each write it makes to MongoDB as a `debug` event with the collection and document (list
/// them with `level=debug`), rate limited. It takes effect with the worker's next report (within
/// its health interval). Calling again sets a new end.
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/{connectorId}/debug", operation_id = "startConnectorDebug", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id")),
    request_body = DebugRequest,
    responses(
        (status = 200, description = "Debug mode is on until `debugUntil`", body = DebugState),
        (status = 400, description = "`minutes` out of range", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_debug(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<DebugRequest>,
) -> Result<Json<DebugState>> {
    auth.require_write_on(visible(&state, &auth, app_id, connector_id))
        .await?;
    visible(&state, &auth, app_id, connector_id).await?;
    if !(1..=MAX_DEBUG_MINUTES).contains(&req.minutes) {
        return Err(ApiError::bad_field(
            "invalid_debug_minutes",
            "/minutes",
            format!("`minutes` must be between 1 and {MAX_DEBUG_MINUTES}"),
        ));
    }
    set(&state, &auth, app_id, connector_id, Some(req.minutes)).await
}

/// Turn off debug mode
#[utoipa::path(delete, path = "/v1/apps/{appId}/connectors/{connectorId}/debug", operation_id = "stopConnectorDebug", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "Debug mode is off", body = DebugState),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stop_debug(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<DebugState>> {
    auth.require_write_on(visible(&state, &auth, app_id, connector_id))
        .await?;
    visible(&state, &auth, app_id, connector_id).await?;
    set(&state, &auth, app_id, connector_id, None).await
}

async fn set(
    state: &AppState,
    auth: &AuthContext,
    app_id: Uuid,
    connector_id: Uuid,
    minutes: Option<u32>,
) -> Result<Json<DebugState>> {
    let mut tx = crate::db::begin(&state.pool).await?;
    let row: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(
        "update connectors set debug_until = case when $4::int is null then null
                 else now() + make_interval(mins => $4) end
         where org_id = $1 and app_id = $2 and connector_id = $3
         returning debug_until",
    )
    .bind(auth.org_id)
    .bind(app_id)
    .bind(connector_id)
    .bind(minutes.map(|m| m as i32))
    .fetch_optional(&mut *tx)
    .await?;
    let (debug_until,) = row.ok_or(ApiError::NotFound("connector"))?;
    let event = match (minutes, debug_until) {
        (Some(m), Some(until)) => Lifecycle::info(
            "debug_started",
            format!("Debug mode on for {m} minute(s), until {until}."),
            json!({"minutes": m, "until": until}),
        ),
        _ => Lifecycle::info("debug_stopped", "Debug mode off.".into(), json!({})),
    };
    record(&mut *tx, connector_id, event).await?;
    tx.commit().await?;
    Ok(Json(DebugState {
        debug_until,
        debug_events_per_minute: state.fleet.events.debug_per_minute,
    }))
}

//! Connector lifecycle operations: delete, pause, resume, restart and resync of a collection.

use super::handlers::{connector_visible, with_etag};
use super::model::{ConnectorOut, DesiredState};
use super::repo;
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiPath, if_match_versions};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use uuid::Uuid;

/// Delete a connector
///
/// Stops the sync and removes the configuration and its secret. Data in MongoDB and in the edge
/// store is kept.
#[utoipa::path(delete, path = "/v1/apps/{appId}/connectors/{connectorId}", operation_id = "deleteConnector", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The ETag you read; 412 if the connector changed since")),
    responses(
        (status = 204, description = "The connector was deleted"),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The connector changed since you read it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_connector(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    headers: HeaderMap,
) -> Result<StatusCode> {
    auth.check_app(app_id)?;
    auth.require_write_on(connector_visible(&state, &auth, app_id, connector_id))
        .await?;
    let expected = if_match_versions(&headers)?;
    match repo::delete(&state.pool, auth.org_id, app_id, connector_id, expected).await? {
        Some(true) => {
            tracing::info!(%connector_id, "connector deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        Some(false) => Err(ApiError::PreconditionFailed),
        None => Err(ApiError::NotFound("connector")),
    }
}

async fn set_state(
    state: &AppState,
    auth: &AuthContext,
    app_id: Uuid,
    connector_id: Uuid,
    desired: DesiredState,
) -> Result<Response> {
    auth.check_app(app_id)?;
    auth.require_write_on(connector_visible(state, auth, app_id, connector_id))
        .await?;
    let row = repo::set_desired_state(&state.pool, auth.org_id, app_id, connector_id, desired)
        .await?
        .ok_or(ApiError::NotFound("connector"))?;
    Ok(with_etag(state, StatusCode::OK, row, false))
}

/// Pause a connector
///
/// Sets the desired state to `paused`: the sync stops and resumes later from where it stopped.
/// Pausing a paused connector changes nothing.
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/{connectorId}/pause", operation_id = "pauseConnector", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The paused connector", body = ConnectorOut,
            headers(("ETag" = String, description = "The new configuration version"))),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn pause_connector(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response> {
    set_state(&state, &auth, app_id, connector_id, DesiredState::Paused).await
}

/// Resume a connector
///
/// Sets the desired state to `running`; the connector is `pending` until a worker runs it.
/// Resuming a failed connector retries it; resuming a running one changes nothing.
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/{connectorId}/resume", operation_id = "resumeConnector", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The resumed connector", body = ConnectorOut,
            headers(("ETag" = String, description = "The new configuration version"))),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resume_connector(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response> {
    set_state(&state, &auth, app_id, connector_id, DesiredState::Running).await
}

/// Restart a connector
///
/// Stops the connector's run on its worker and starts it again (a new assignment epoch: the old
/// run can no longer report). Use it after fixing something outside Edgebridge, e.g. enabling
/// pre- and post-images, instead of waiting for the next automatic retry.
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/{connectorId}/restart", operation_id = "restartConnector", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id")),
    responses(
        (status = 202, description = "The restart is under way; the connector is `pending` until its worker reports", body = ConnectorOut,
            headers(("ETag" = String, description = "The configuration version (unchanged)"))),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The connector is paused: resume it instead", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn restart_connector(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response> {
    auth.check_app(app_id)?;
    auth.require_write_on(connector_visible(&state, &auth, app_id, connector_id))
        .await?;
    match repo::restart(&state.pool, auth.org_id, app_id, connector_id).await? {
        None => Err(ApiError::NotFound("connector")),
        Some(None) => Err(ApiError::conflict(
            "connector_paused",
            "The connector is paused, so there is nothing to restart; resume it (POST .../resume) to start it.",
        )),
        Some(Some(row)) => Ok(with_etag(&state, StatusCode::ACCEPTED, row, false)),
    }
}

/// Resync a collection
///
/// Copies the collection again from MongoDB (a new initial sync, then streaming from where the
/// copy began), whatever its `initialSync` setting: after the change stream lost its history,
/// or to repair the edge copy. The connector restarts where it runs; a paused connector resyncs
/// when resumed.
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/{connectorId}/collections/{collection}/resync", operation_id = "resyncCollection", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"),
        ("collection" = String, Path, description = "A collection the connector syncs")),
    responses(
        (status = 202, description = "The resync is under way; watch `collectionStatus`", body = ConnectorOut,
            headers(("ETag" = String, description = "The configuration version (unchanged)"))),
        (status = 404, description = "No such connector, or it does not sync this collection", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resync_collection(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id, collection)): ApiPath<(Uuid, Uuid, String)>,
) -> Result<Response> {
    auth.check_app(app_id)?;
    auth.require_write_on(connector_visible(&state, &auth, app_id, connector_id))
        .await?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let row = repo::lock(&mut tx, auth.org_id, app_id, connector_id).await?;
    if !row.collections.0.contains_key(&collection) {
        return Err(ApiError::NotFound("collection"));
    }
    repo::request_resync(&mut tx, connector_id, &collection).await?;
    tx.commit().await?;
    let row = repo::get(&state.pool, auth.org_id, app_id, connector_id)
        .await?
        .ok_or(ApiError::NotFound("connector"))?;
    Ok(with_etag(&state, StatusCode::ACCEPTED, row, false))
}

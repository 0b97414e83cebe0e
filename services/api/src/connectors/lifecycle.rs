//! Connector lifecycle operations: delete, pause, resume, restart and resync of a collection.

use super::handlers::with_etag;
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
    let (code, what) = match desired {
        DesiredState::Paused => ("paused", "Paused"),
        DesiredState::Running => ("resumed", "Resumed"),
    };
    user_event(
        state,
        auth,
        connector_id,
        code,
        format!("{what} by a user."),
    )
    .await;
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
        Some(Some(row)) => {
            user_event(
                &state,
                &auth,
                connector_id,
                "restarted",
                "Restarted by a user.".into(),
            )
            .await;
            Ok(with_etag(&state, StatusCode::ACCEPTED, row, false))
        }
    }
}

/// Records a user's action on the connector as a lifecycle event (best effort: the action is
/// done whether or not its event could be stored).
pub(super) async fn user_event(
    state: &AppState,
    auth: &AuthContext,
    connector_id: Uuid,
    code: &'static str,
    message: String,
) {
    let event = crate::fleet::event_store::Lifecycle::info(
        code,
        message,
        serde_json::json!({"apiKeyId": auth.key_id}),
    );
    if let Err(e) = crate::fleet::event_store::record(&state.pool, connector_id, event).await {
        tracing::warn!(%connector_id, error = %e, "a lifecycle event could not be stored");
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

/// The events of a saved reconfiguration: `reconfigured` with its plan, and
/// `credentials_rotated` when a new connection string was stored (never the string itself).
pub(super) async fn reconfigured_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    auth: &AuthContext,
    connector_id: Uuid,
    version: i64,
    plan: &edgebridge_domain::plan::ReconfigurationPlan,
    new_secret: bool,
) -> Result<()> {
    use crate::fleet::event_store::{Lifecycle, record};
    let plan_json = serde_json::to_value(plan).unwrap_or_default();
    let changes = plan
        .collections
        .iter()
        .filter(|c| c.action != edgebridge_domain::plan::CollectionAction::None)
        .count();
    record(
        &mut **tx,
        connector_id,
        Lifecycle::info(
            "reconfigured",
            format!(
                "Reconfigured by a user (version {version}): {changes} collection change(s), connection {:?}.",
                plan.connection
            ),
            serde_json::json!({"version": version, "plan": plan_json, "apiKeyId": auth.key_id}),
        ),
    )
    .await?;
    if new_secret {
        record(
            &mut **tx,
            connector_id,
            Lifecycle::info(
                "credentials_rotated",
                "A new connection string was stored; the connector reconnects with it and resumes every stream where it was.".into(),
                serde_json::json!({"version": version, "apiKeyId": auth.key_id}),
            ),
        )
        .await?;
    }
    Ok(())
}

/// The connector as a visibility check (404 when the caller cannot see it): one indexed
/// existence check, not the whole row.
pub(crate) async fn connector_visible(
    state: &AppState,
    auth: &AuthContext,
    app_id: Uuid,
    connector_id: Uuid,
) -> Result<()> {
    let found: Option<(i32,)> = sqlx::query_as(
        "select 1 from connectors where org_id = $1 and app_id = $2 and connector_id = $3",
    )
    .bind(auth.org_id)
    .bind(app_id)
    .bind(connector_id)
    .fetch_optional(&state.pool)
    .await?;
    found.map(|_| ()).ok_or(ApiError::NotFound("connector"))
}

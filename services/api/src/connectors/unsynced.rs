//! `/v1/apps/{appId}/connectors/{connectorId}/unsynced`: the edge documents the connector's
//! write-back could not write to MongoDB (refused by a validator, a unique index, too large,
//! unmappable). Each mirrors a record in the customer's `__edgebridge_unsynced_documents`, kept
//! up to date by the connector's worker. Users list and read them, retry them (the edge document
//! is queued for the write-back again, unchanged), and discard them (the worker deletes the
//! MongoDB record, then the row goes).

mod model;
mod repo;

use super::handlers::connector_visible;
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use edgebridge_edge::ids::document_key;
pub use model::{
    BulkRetryOut, BulkRetryParams, UnsyncedDocumentDetail, UnsyncedDocumentOut, UnsyncedPage,
    UnsyncedParams, UnsyncedState,
};
use repo::Filters;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_unsynced))
        .routes(routes!(retry_unsynced_bulk))
        .routes(routes!(get_unsynced, discard_unsynced))
        .routes(routes!(retry_unsynced))
}

/// The largest page, and the default.
const MAX_PAGE: u32 = 100;
const DEFAULT_PAGE: u32 = 50;
/// The most records one bulk retry requeues, and the default.
pub const MAX_BULK_RETRY: u32 = 1_000;

fn not_found() -> ApiError {
    ApiError::NotFound("unsynced document")
}

/// List a connector's unsynced documents
///
/// The edge documents the connector could not write to MongoDB, newest first: each with the
/// code and message of MongoDB's refusal, how often it was refused, and whether a retry or a
/// discard is under way. Filter by `collection` and `code`; page with `after`.
#[utoipa::path(get, path = "/v1/apps/{appId}/connectors/{connectorId}/unsynced", operation_id = "listUnsyncedDocuments", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"), UnsyncedParams),
    responses(
        (status = 200, description = "A page of unsynced documents, newest first", body = UnsyncedPage),
        (status = 400, description = "A filter or cursor that is not valid (`invalid_query_parameter`, `invalid_cursor`), with its path", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_unsynced(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(params): ApiQuery<UnsyncedParams>,
) -> Result<Json<UnsyncedPage>> {
    auth.check_app(app_id)?;
    let filters = Filters::parse(params.collection.as_deref(), params.code.as_deref())?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_field(
            "invalid_query_parameter",
            "/limit",
            format!("`limit` must be between 1 and {MAX_PAGE}"),
        ));
    }
    let after = match params.after.as_deref() {
        None | Some("") => None,
        Some(c) => Some(model::decode_cursor(c).ok_or_else(|| {
            ApiError::bad_field(
                "invalid_cursor",
                "/after",
                "`after` is not a cursor this API returned; pass `nextCursor` (or a record's `id`) unchanged",
            )
        })?),
    };
    repo::connector_app(&state.pool, auth.org_id, app_id, connector_id)
        .await?
        .ok_or(ApiError::NotFound("connector"))?;
    let rows = repo::list(
        &state.pool,
        connector_id,
        &filters,
        after,
        i64::from(limit) + 1,
    )
    .await?;
    let more = rows.len() > limit as usize;
    let items: Vec<UnsyncedDocumentOut> = rows
        .into_iter()
        .take(limit as usize)
        .map(UnsyncedDocumentOut::from)
        .collect();
    let next_cursor = if more {
        items.last().map(|r| model::encode_cursor(r.id))
    } else {
        None
    };
    Ok(Json(UnsyncedPage { items, next_cursor }))
}

/// Get an unsynced document
///
/// The record with the edge document as the edge store holds it now (a retry writes that state;
/// `null` when the document is deleted on the edge).
#[utoipa::path(get, path = "/v1/apps/{appId}/connectors/{connectorId}/unsynced/{recordId}", operation_id = "getUnsyncedDocument", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"),
        ("recordId" = Uuid, Path, description = "The record's `id` (from the list)")),
    responses(
        (status = 200, description = "The record and the edge document", body = UnsyncedDocumentDetail),
        (status = 404, description = "No such connector or record", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_unsynced(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id, record_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<Json<UnsyncedDocumentDetail>> {
    auth.check_app(app_id)?;
    let row = repo::get(&state.pool, auth.org_id, app_id, connector_id, record_id)
        .await?
        .ok_or_else(not_found)?;
    let edge_document = match serde_json::from_str(&row.document_id)
        .ok()
        .and_then(|id| document_key(&id).ok())
    {
        Some(key) => crate::store::repo::values_by_keys(
            &state.pool,
            app_id,
            &row.collection,
            std::slice::from_ref(&key),
        )
        .await?
        .into_iter()
        .next()
        .map(|r| serde_json::from_slice(&r.value))
        .transpose()
        .map_err(|e| ApiError::Internal(e.into()))?,
        None => None,
    };
    Ok(Json(UnsyncedDocumentDetail {
        record: row.into(),
        edge_document,
    }))
}

/// Retry an unsynced document
///
/// Queues the edge document for the connector's write-back again, as the edge store holds it
/// now (nothing in it changes): fix what MongoDB refused (a validator, a unique index) first.
/// The record shows `retrying`; when the write goes through, it leaves MongoDB's
/// `__edgebridge_unsynced_documents` and this list; when MongoDB refuses again, it is `open`
/// again with one more attempt.
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/{connectorId}/unsynced/{recordId}/retry", operation_id = "retryUnsyncedDocument", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"),
        ("recordId" = Uuid, Path, description = "The record's `id` (from the list)")),
    responses(
        (status = 202, description = "The document is queued for the write-back", body = UnsyncedDocumentOut),
        (status = 404, description = "No such connector or record", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A discard of the record is under way (`discard_requested`), or the edge store no longer holds the document at all (`edge_document_missing`: discard the record)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry_unsynced(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id, record_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<(StatusCode, Json<UnsyncedDocumentOut>)> {
    auth.check_app(app_id)?;
    auth.require_write_on(connector_visible(&state, &auth, app_id, connector_id))
        .await?;
    let mut tx = crate::db::begin(&state.pool).await?;
    repo::lock_connector(&mut tx, auth.org_id, app_id, connector_id)
        .await?
        .ok_or(ApiError::NotFound("connector"))?;
    let row = repo::lock_one(&mut tx, connector_id, record_id)
        .await?
        .ok_or_else(not_found)?;
    if row.state == "discard_requested" {
        return Err(ApiError::conflict(
            "discard_requested",
            "This record is being discarded: the worker deletes it in MongoDB, then it leaves the list. Nothing to retry.",
        ));
    }
    let actor = format!("key:{}", auth.key_id);
    let requeued = repo::requeue(
        &mut tx,
        app_id,
        connector_id,
        &actor,
        std::slice::from_ref(&row),
    )
    .await?;
    if requeued.is_empty() {
        return Err(ApiError::conflict(
            "edge_document_missing",
            "The edge store holds no document with this id any more, so there is nothing to write to MongoDB: discard the record (DELETE it).",
        ));
    }
    let row = repo::mark_retrying(&mut tx, &requeued)
        .await?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    tx.commit().await?;
    state.store_notifications.changed(app_id);
    tracing::info!(%connector_id, collection = %row.collection, "unsynced document queued for the write-back again");
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}

/// Retry unsynced documents in bulk
///
/// Queues for the write-back again the edge documents of `open` records that match the filters
/// (all when none is given), oldest first, at most `limit` per call; says how many were queued
/// and how many open ones are left, so call again until `remaining` is 0. Retry after fixing
/// what MongoDB refused; each record then behaves as after a single retry.
#[utoipa::path(post, path = "/v1/apps/{appId}/connectors/{connectorId}/unsynced/retry", operation_id = "retryUnsyncedDocuments", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"), BulkRetryParams),
    responses(
        (status = 202, description = "How many documents were queued for the write-back", body = BulkRetryOut),
        (status = 400, description = "A filter that is not valid (`invalid_query_parameter`), with its path", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry_unsynced_bulk(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(params): ApiQuery<BulkRetryParams>,
) -> Result<(StatusCode, Json<BulkRetryOut>)> {
    auth.check_app(app_id)?;
    let filters = Filters::parse(params.collection.as_deref(), params.code.as_deref())?;
    let limit = params.limit.unwrap_or(MAX_BULK_RETRY);
    if !(1..=MAX_BULK_RETRY).contains(&limit) {
        return Err(ApiError::bad_field(
            "invalid_query_parameter",
            "/limit",
            format!("`limit` must be between 1 and {MAX_BULK_RETRY}"),
        ));
    }
    auth.require_write_on(connector_visible(&state, &auth, app_id, connector_id))
        .await?;
    let mut tx = crate::db::begin(&state.pool).await?;
    repo::lock_connector(&mut tx, auth.org_id, app_id, connector_id)
        .await?
        .ok_or(ApiError::NotFound("connector"))?;
    let rows = repo::lock_open(&mut tx, connector_id, &filters, i64::from(limit)).await?;
    let actor = format!("key:{}", auth.key_id);
    let requeued = repo::requeue(&mut tx, app_id, connector_id, &actor, &rows).await?;
    let marked = repo::mark_retrying(&mut tx, &requeued).await?;
    let remaining = repo::count_open(&mut tx, connector_id, &filters).await?;
    tx.commit().await?;
    if !marked.is_empty() {
        state.store_notifications.changed(app_id);
    }
    let without = rows.len() - requeued.len();
    tracing::info!(%connector_id, requeued = marked.len(), remaining, "unsynced documents queued for the write-back again");
    Ok((
        StatusCode::ACCEPTED,
        Json(BulkRetryOut {
            requeued: marked.len() as u64,
            without_edge_document: without as u64,
            remaining: u64::try_from(remaining).unwrap_or(0),
        }),
    ))
}

/// Discard an unsynced document
///
/// Gives up on writing the document to MongoDB: the connector's worker deletes the record from
/// `__edgebridge_unsynced_documents`, then it leaves this list. Until then the record shows
/// `discardRequested` (while the connector does not run, until it runs again). The edge
/// document is not touched; a later edit of it is written back as usual.
#[utoipa::path(delete, path = "/v1/apps/{appId}/connectors/{connectorId}/unsynced/{recordId}", operation_id = "discardUnsyncedDocument", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"),
        ("recordId" = Uuid, Path, description = "The record's `id` (from the list)")),
    responses(
        (status = 202, description = "The discard is under way", body = UnsyncedDocumentOut),
        (status = 404, description = "No such connector or record", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn discard_unsynced(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id, record_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<(StatusCode, Json<UnsyncedDocumentOut>)> {
    auth.check_app(app_id)?;
    auth.require_write_on(connector_visible(&state, &auth, app_id, connector_id))
        .await?;
    let row = repo::request_discard(&state.pool, auth.org_id, app_id, connector_id, record_id)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(%connector_id, collection = %row.collection, "discard of an unsynced document requested");
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}

//! The connector's write-back: the edge-store changes it takes to MongoDB, and its position.

use super::{EpochParam, origin, owned};
use crate::error::{ApiError, Result};
use crate::fleet::auth::WorkerAuth;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use edgebridge_domain::fleet::{FeedChange, FeedPage, WriteBackPosition};
use edgebridge_edge::apply::visible;
use edgebridge_edge::crdt::DocState;
use edgebridge_edge::ids::document_key;
use serde::Deserialize;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedParams {
    epoch: i64,
    after: Option<String>,
    limit: Option<u32>,
    wait: Option<u32>,
}

/// The edge-store changes the connector's write-back takes to MongoDB: its mapped collections,
/// without its own writes, with each document's type tree. The fence is checked first (and its
/// lock released before the long poll); a page read after a move is harmless, since the
/// write-back's position is checkpointed through the fence too.
pub async fn changes(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath((worker_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(params): ApiQuery<FeedParams>,
) -> Result<Json<FeedPage>> {
    auth.require_self(worker_id)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let owned = owned(&mut tx, connector_id, worker_id, params.epoch).await?;
    tx.commit().await?;
    let collections: Vec<String> = owned.collections.0.keys().cloned().collect();
    let page = crate::store::feed::read(
        &state,
        owned.app_id,
        crate::store::model::ChangesParams {
            after: params.after,
            collections: Some(collections.join(",")),
            exclude_origin: Some(origin(connector_id)),
            limit: params.limit,
            wait: params.wait,
        },
    )
    .await?;
    // The documents' current states (what the write-back writes) and type trees.
    let mut current: HashMap<(String, String), DocState> = HashMap::new();
    for collection in &collections {
        let mut keys: Vec<String> = page
            .changes
            .iter()
            .filter(|c| &c.collection == collection)
            .filter_map(|c| document_key(&c.document_id).ok())
            .collect();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            continue;
        }
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "select doc_key, state from store_documents
             where app_id = $1 and collection = $2 and doc_key = any($3)",
        )
        .persistent(false)
        .bind(owned.app_id)
        .bind(collection)
        .bind(&keys)
        .fetch_all(&state.pool)
        .await?;
        for (key, bytes) in rows {
            let doc: DocState =
                serde_json::from_slice(&bytes).map_err(|e| ApiError::Internal(e.into()))?;
            current.insert((collection.clone(), key), doc);
        }
    }
    let changes = page
        .changes
        .into_iter()
        .map(|c| {
            let doc = document_key(&c.document_id)
                .ok()
                .and_then(|k| current.get(&(c.collection.clone(), k)));
            FeedChange {
                // Kept on a deleted document too (a delete needs the `_id`'s type).
                types: doc
                    .and_then(|d| d.metadata.as_ref())
                    .and_then(|r| r.value.clone()),
                document: doc.and_then(|d| visible(d, &c.document_id)),
                cursor: c.cursor,
                collection: c.collection,
                id: c.document_id,
            }
        })
        .collect();
    Ok(Json(FeedPage {
        changes,
        next_cursor: page.next_cursor,
    }))
}

/// How far the connector's write-back has taken the feed (for its owner at `epoch`).
pub async fn write_back(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath((worker_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(EpochParam { epoch }): ApiQuery<EpochParam>,
) -> Result<Json<WriteBackPosition>> {
    auth.require_self(worker_id)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    owned(&mut tx, connector_id, worker_id, epoch).await?;
    let cursor: Option<(Option<String>,)> =
        sqlx::query_as("select cursor from connector_write_back where connector_id = $1")
            .bind(connector_id)
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(Json(WriteBackPosition {
        epoch,
        cursor: cursor.and_then(|(c,)| c),
    }))
}

/// Saves the write-back's position, fenced like every write of the connector's owner.
pub async fn save_write_back(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath((worker_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(position): ApiJson<WriteBackPosition>,
) -> Result<StatusCode> {
    auth.require_self(worker_id)?;
    if let Some(cursor) = &position.cursor
        && crate::store::feed::decode_cursor(cursor).is_none()
    {
        return Err(ApiError::bad_field(
            "invalid_cursor",
            "/cursor",
            "`cursor` is not a cursor the feed returned; pass `nextCursor` unchanged",
        ));
    }
    let mut tx = crate::db::begin(&state.pool).await?;
    owned(&mut tx, connector_id, worker_id, position.epoch).await?;
    sqlx::query(
        "insert into connector_write_back (connector_id, epoch, cursor)
         values ($1, $2, $3)
         on conflict (connector_id) do update
         set epoch = excluded.epoch, cursor = excluded.cursor, updated_at = now()",
    )
    .bind(connector_id)
    .bind(position.epoch)
    .bind(&position.cursor)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

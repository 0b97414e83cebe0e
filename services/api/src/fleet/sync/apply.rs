//! Applying a batch: each write mirrored into the edge document, the changes recorded, documents
//! that read otherwise than MongoDB holds them queued again, and the checkpoint saved.

use super::checkpoints::{outlived, save_checkpoint};
use super::copy::{Copy, copy_bookkeeping, note_seen};
use super::{origin, owned, requeue_origin, write_id};
use crate::error::{ApiError, Result};
use crate::fleet::auth::WorkerAuth;
use crate::http::extract::{ApiJsonKeepingNul, ApiPath};
use crate::state::AppState;
use crate::store::execute::{Stamps, Written, encode_all};
use crate::store::repo::{self, DocRows};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use edgebridge_domain::fleet::{
    ApplyRequest, ApplyResponse, EdgeWrite, MAX_WRITES_PER_APPLY, SkippedWrite,
};
use edgebridge_edge::ObjectMode;
use edgebridge_edge::apply::visible;
use edgebridge_edge::crdt::DocState;
use edgebridge_edge::ids::document_key;
use edgebridge_edge::mirror::{
    Before, Keep, MirrorWrite, mirror_delete, mirror_document_checked, reads_as, same_document,
    with_counters,
};
use edgebridge_mongo::mapping::{MappingConfig, to_edge, to_mongo};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Whether the edge document reads as MongoDB holds it (`body` with its settable `counters`;
/// `None`: MongoDB does not have it). A value the edge holds in a form MongoDB stores otherwise
/// (a date without milliseconds, an integer-valued float in an integer field) is no difference:
/// the edge's document is compared as it comes back from MongoDB, else two forms of one value
/// would be written back and forth forever.
fn reads_as_mongodb(
    doc: &DocState,
    id: &serde_json::Value,
    body: Option<&serde_json::Map<String, serde_json::Value>>,
    counters: &[(Vec<String>, f64)],
    config: &MappingConfig,
) -> bool {
    if reads_as(doc, body, counters) {
        return true;
    }
    let (Some(current), Some(body)) = (visible(doc, id), body) else {
        return false;
    };
    let expected = with_counters(body, counters);
    let types = doc.metadata.as_ref().and_then(|r| r.value.as_ref());
    match to_mongo(&current, types, config) {
        Ok(mongo) => match to_edge(&mongo.document, config) {
            Ok(back) => same_document(&with_counters(&back.body, &back.counters), &expected),
            Err(_) => false,
        },
        // The edge's document cannot be written to MongoDB: the write-back records it as
        // unsynced; queuing it again would not change that.
        Err(_) => true,
    }
}

/// Applies a batch of writes and moves the collection's checkpoint past it.
pub async fn apply(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath((worker_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiJsonKeepingNul(req): ApiJsonKeepingNul<ApplyRequest>,
) -> Result<Json<ApplyResponse>> {
    auth.require_self(worker_id)?;
    if req.writes.len() > MAX_WRITES_PER_APPLY {
        return Err(ApiError::bad_field(
            "too_many_writes",
            "/writes",
            format!("at most {MAX_WRITES_PER_APPLY} writes per batch"),
        ));
    }
    let mut tx = crate::db::begin(&state.pool).await?;
    let owned = owned(&mut tx, connector_id, worker_id, req.epoch).await?;
    let Some(mapping) = owned.collections.0.get(&req.collection) else {
        return Err(ApiError::bad_field(
            "unknown_collection",
            "/collection",
            format!(
                "`{}` is not a collection of this connector at this epoch",
                req.collection
            ),
        ));
    };
    let config = MappingConfig::from_spec(mapping);
    let mode = if mapping.dql_strict_mode {
        ObjectMode::Whole
    } else {
        ObjectMode::Merge
    };
    // The edge collection has the MongoDB collection's name.
    let collection = req.collection.as_str();
    crate::apps::repo::lock_shared(&mut tx, owned.org_id, owned.app_id).await?;

    let mut skipped = Vec::new();
    let copy = copy_bookkeeping(&mut tx, &owned, connector_id, collection, &req).await?;
    if matches!(copy, Copy::Over) {
        tracing::info!(%connector_id, collection, "a batch of a finished copy arrived late; not applied");
        return Ok(Json(ApplyResponse {
            changed: 0,
            skipped: Vec::new(),
            requeued: Vec::new(),
        }));
    }
    let begins = match copy {
        Copy::Begins { fresh } => Some(fresh),
        _ => None,
    };
    let sweep = match &copy {
        Copy::Sweep { deletes, .. } => deletes.as_slice(),
        _ => &[],
    };
    let mut keyed = Vec::with_capacity(req.writes.len() + sweep.len());
    for write in req.writes.iter().chain(sweep) {
        match document_key(write_id(write)) {
            Ok(key) => keyed.push((key, write)),
            Err(e) => skipped.push(SkippedWrite {
                id: write_id(write).clone(),
                code: "invalid_id".into(),
                message: format!("the edge store cannot key this _id: {}", e.0),
            }),
        }
    }
    // A first copy's end queues the documents devices wrote that it did not see (locked with
    // the batch, their state taken after it).
    let unseen: &[String] = match &copy {
        Copy::Sweep { unseen, .. } => unseen,
        _ => &[],
    };
    let mut keys: Vec<String> = keyed.iter().map(|(k, _)| k.clone()).collect();
    keys.extend(unseen.iter().cloned());
    keys.sort();
    keys.dedup();
    let mut docs: HashMap<String, (DocState, bool)> = HashMap::with_capacity(keys.len());
    for row in repo::lock_docs(&mut tx, owned.app_id, collection, &keys).await? {
        let doc: DocState =
            serde_json::from_slice(&row.state).map_err(|e| ApiError::Internal(e.into()))?;
        docs.insert(row.doc_key, (doc, true));
    }
    if matches!(copy, Copy::Seeing { .. }) {
        let existing: Vec<String> = keyed
            .iter()
            .filter(|(key, write)| {
                matches!(write, EdgeWrite::Upsert { .. }) && docs.contains_key(key)
            })
            .map(|(key, _)| key.clone())
            .collect();
        note_seen(&mut tx, connector_id, collection, &existing).await?;
    }
    let actor = origin(connector_id);
    // A copy's batch keeps the edits made on the edge since the copy began.
    let copy_began_ms = match copy {
        Copy::Seeing { began_ms } => began_ms,
        _ => None,
    };
    let keep = copy_began_ms.map(|since_ms| Keep {
        since_ms,
        actor: &actor,
    });
    let mut stamps = Stamps {
        state: &state,
        actor: &actor,
    };
    let mut changed: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    // Documents the edge reads otherwise than MongoDB holds them after this batch: their state
    // goes back to MongoDB (the last write of each document in the batch decides).
    let mut requeue: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    // In order: a later write of the same document builds on the earlier one.
    for (key, write) in keyed {
        let (doc, _) = docs
            .entry(key.clone())
            .or_insert_with(|| (DocState::default(), false));
        stamps.observe(doc);
        let (did, differs) = match write {
            EdgeWrite::Upsert {
                body,
                counters,
                types,
                before,
                ..
            } => {
                let mirrored = mirror_document_checked(
                    doc,
                    MirrorWrite {
                        body,
                        counters,
                        metadata: types.as_ref(),
                        before: before.as_ref().map(|b| Before {
                            body: &b.body,
                            counters: &b.counters,
                        }),
                        keep,
                    },
                    mode,
                    &mut stamps,
                );
                // Only an update (a write with a pre-image) that changed something can have
                // merged with an edge edit: any other write makes the document read exactly as
                // MongoDB holds it. A replayed one changes nothing (and what it differs by is
                // queued already).
                // A copy that kept an edge edit queues the document too when it reads
                // otherwise than MongoDB holds it: the edit's own change may be behind the
                // write-back's position already.
                let did = mirrored.changed;
                let merged = ((did && !mirrored.exact) || mirrored.kept)
                    && !reads_as_mongodb(doc, write_id(write), Some(body), counters, &config);
                (did, merged)
            }
            EdgeWrite::Delete { .. } => {
                let did = mirror_delete(doc, &mut stamps);
                (did, did && doc.exists())
            }
            // An echo of the write-back: nothing to write; if MongoDB now holds something else
            // than the edge, the edge's state goes back.
            EdgeWrite::Verify { body, counters, .. } => (
                false,
                !reads_as_mongodb(doc, write_id(write), body.as_ref(), counters, &config),
            ),
        };
        if did {
            changed.insert(key.clone(), write_id(write).clone());
        }
        if differs {
            requeue.insert(key, write_id(write).clone());
        } else {
            requeue.remove(&key);
        }
    }
    for key in unseen {
        if !changed.contains_key(key)
            && docs.contains_key(key)
            && let Ok(id) = serde_json::from_str::<serde_json::Value>(key)
        {
            requeue.entry(key.clone()).or_insert(id);
        }
    }
    let requeued_ids: Vec<serde_json::Value> = requeue.values().cloned().collect();
    let requeue: Vec<(String, Option<Vec<u8>>)> = requeue
        .into_iter()
        .map(|(key, id)| {
            let value = docs
                .get(&key)
                .and_then(|(doc, _)| visible(doc, &id))
                .map(|v| serde_json::to_vec(&v))
                .transpose()
                .map_err(|e| ApiError::Internal(e.into()))?;
            Ok((key, value))
        })
        .collect::<Result<_>>()?;
    // Encode one by one: a document the store refuses is skipped, not the batch.
    let max_bytes = state.store_limits.max_document_bytes;
    let mut new_rows = DocRows::default();
    let mut old_rows = DocRows::default();
    for (key, id) in &changed {
        let (doc, existed) = docs.remove(key).expect("changed documents were loaded");
        let written = Written {
            key: key.clone(),
            id: id.clone(),
            state: doc,
            was_new: !existed,
        };
        match encode_all(std::iter::once(&written), max_bytes) {
            Ok(rows) if existed => old_rows.extend_from(&rows),
            Ok(rows) => new_rows.extend_from(&rows),
            Err(e) => skipped.push(SkippedWrite {
                id: id.clone(),
                code: e.code().to_owned(),
                message: e.to_string(),
            }),
        }
    }
    if !new_rows.is_empty() {
        let inserted = repo::insert_new(&mut tx, owned.app_id, collection, &new_rows).await?;
        if inserted.len() != new_rows.len() {
            // A device created one of these documents since they were locked: the worker
            // retries the batch (it then finds them and merges).
            return Err(ApiError::other(
                StatusCode::SERVICE_UNAVAILABLE,
                "concurrent_insert",
                "a document of the batch was created concurrently; retry the batch",
            ));
        }
    }
    if !old_rows.is_empty() {
        repo::update_docs(&mut tx, owned.app_id, collection, &old_rows).await?;
    }
    let changed_count = new_rows.len() + old_rows.len();
    if changed_count > 0 {
        let keys: Vec<String> = new_rows
            .keys
            .iter()
            .chain(&old_rows.keys)
            .cloned()
            .collect();
        let values: Vec<Option<Vec<u8>>> =
            new_rows.values.into_iter().chain(old_rows.values).collect();
        repo::record_changes(
            &mut tx,
            owned.app_id,
            collection,
            &keys,
            &values,
            Some(&actor),
            &actor,
        )
        .await?;
    }
    // Recorded after the connector's own changes: the feed's later row decides.
    let skipped_keys: std::collections::HashSet<String> = skipped
        .iter()
        .filter_map(|w| document_key(&w.id).ok())
        .collect();
    let (requeue_keys, requeue_values): (Vec<String>, Vec<Option<Vec<u8>>>) = requeue
        .into_iter()
        .filter(|(key, _)| !skipped_keys.contains(key))
        .unzip();
    if !requeue_keys.is_empty() {
        repo::record_changes(
            &mut tx,
            owned.app_id,
            collection,
            &requeue_keys,
            &requeue_values,
            Some(&requeue_origin(connector_id)),
            &actor,
        )
        .await?;
    }
    if outlived(&mut tx, connector_id, collection, &req.checkpoint).await? {
        tracing::info!(%connector_id, collection, "a batch outlived the run that sent it; rolled back");
        return Ok(Json(ApplyResponse {
            changed: 0,
            skipped: Vec::new(),
            requeued: Vec::new(),
        }));
    }
    save_checkpoint(
        &mut tx,
        connector_id,
        req.epoch,
        collection,
        &req.checkpoint,
        begins,
    )
    .await?;
    tx.commit().await?;
    if changed_count > 0 || !requeue_keys.is_empty() {
        state.store_notifications.changed(owned.app_id);
    }
    Ok(Json(ApplyResponse {
        changed: changed_count,
        skipped,
        requeued: requeued_ids,
    }))
}

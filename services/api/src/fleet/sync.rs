//! The sync engine's way into the edge store: a batch of mapped MongoDB documents and the
//! collection's checkpoint after them, applied in one transaction, only for the connector's
//! current owner at its epoch. The connector row is read `for share`, so an epoch change (a
//! move, pause, restart) waits for the batch or fences it out; it never lands half.
//!
//! Each write makes the edge document read as MongoDB reports it ([`mirror_document_checked`]); a
//! write equal to what the edge holds changes nothing and records no change. The changes carry
//! the origin `connector:<id>`, so the connector's own write-back skips them.

use super::auth::WorkerAuth;
use super::internal::stale;
use crate::error::{ApiError, Result};
use crate::http::extract::{ApiJson, ApiJsonKeepingNul, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::store::execute::{Stamps, Written, encode_all};
use crate::store::repo::{self, DocRows};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use edgebridge_domain::CollectionMapping;
use edgebridge_domain::fleet::{
    ApplyRequest, ApplyResponse, CheckpointPhase, CollectionCheckpoint, EdgeWrite, FeedChange,
    FeedPage, MAX_WRITES_PER_APPLY, SkippedWrite, WriteBackPosition,
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
use serde::Deserialize;
use sqlx::types::Json as SqlJson;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The origin tag of a connector's writes in the change feed.
pub fn origin(connector_id: Uuid) -> String {
    format!("connector:{connector_id}")
}

#[derive(sqlx::FromRow)]
struct Owned {
    org_id: Uuid,
    app_id: Uuid,
    collections: SqlJson<BTreeMap<String, CollectionMapping>>,
}

/// The connector, if the caller owns it at `epoch` (locked `for share` in `tx`).
async fn owned(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    connector_id: Uuid,
    worker_id: Uuid,
    epoch: i64,
) -> Result<Owned> {
    let row: Option<Owned> = sqlx::query_as(
        "select c.org_id, c.app_id, c.collections from connectors c
         join workers w on w.worker_id = c.assigned_worker_id
         where c.connector_id = $1 and c.assigned_worker_id = $2 and c.assignment_epoch = $3
           and c.desired_state = 'running' and w.state in ('live', 'draining')
         for share of c",
    )
    .bind(connector_id)
    .bind(worker_id)
    .bind(epoch)
    .fetch_optional(&mut **tx)
    .await?;
    row.ok_or_else(|| stale(connector_id, epoch))
}

fn phase_name(phase: CheckpointPhase) -> &'static str {
    match phase {
        CheckpointPhase::InitialSync => "initial_sync",
        CheckpointPhase::Streaming => "streaming",
    }
}

fn write_id(write: &EdgeWrite) -> &serde_json::Value {
    write.id()
}

/// The origin of a document queued again for the connector's write-back: after a write the
/// edge reads otherwise than MongoDB holds it (a concurrent edit on each side merged, or
/// MongoDB overwrote an edge value). Not the connector's own origin, so its feed has it.
pub fn requeue_origin(connector_id: Uuid) -> String {
    format!("connector:{connector_id}:requeue")
}

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
    }))
}

/// What a copy (initial sync or resync) needs besides its writes: its start clears what an
/// earlier copy saw and notes where the write-back stands; each batch notes the documents it
/// saw; its end (the move to streaming) returns the deletes of its sweep: the collection's edge
/// documents the copy did not see and that nobody but this connector changed after the copy
/// began. MongoDB no longer has them (they were deleted while the stream's history was lost, or
/// before a resync); a document a device changed since may not be in MongoDB yet, so it stays.
async fn copy_bookkeeping(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    owned: &Owned,
    connector_id: Uuid,
    collection: &str,
    req: &ApplyRequest,
) -> Result<Copy> {
    let cp = &req.checkpoint;
    let copying = cp.phase == CheckpointPhase::InitialSync;
    // Read without a lock: a pipeline's batches are applied at once, and each takes the row
    // only at its end (to save its position). Only a copy's start and end lock it first.
    let stored: Option<(String, Option<serde_json::Value>, Option<i64>)> = sqlx::query_as(
        "select phase, resume_token, (extract(epoch from copy_started_at) * 1000)::bigint
         from connector_checkpoints where connector_id = $1 and collection = $2",
    )
    .bind(connector_id)
    .bind(collection)
    .fetch_optional(&mut **tx)
    .await?;
    if !copying
        && stored
            .as_ref()
            .is_none_or(|s| s.0 == phase_name(CheckpointPhase::Streaming))
    {
        // A stream's batch: no copy ends with it.
        return Ok(Copy::None);
    }
    if copying {
        if let Some((phase, token, began)) = stored {
            let same = token == cp.resume_token;
            if phase == phase_name(CheckpointPhase::Streaming) && (same || !copy_begins(cp)) {
                // The copy has ended (a request that outlived its sender): applying it now
                // would write older documents over streamed ones and restart a finished copy.
                return Ok(Copy::Over);
            }
            if phase == phase_name(CheckpointPhase::InitialSync) && (same || !copy_begins(cp)) {
                // The copy going on (the same start sent again is the first part of a split
                // batch, or a batch sent while another was in flight).
                return Ok(Copy::Seeing {
                    began_ms: began.and_then(|ms| u64::try_from(ms).ok()),
                });
            }
        } else if !copy_begins(cp) {
            return Ok(Copy::Seeing { began_ms: None });
        }
    }
    let stored: Option<(String, Option<String>, Option<serde_json::Value>, bool)> = sqlx::query_as(
        "select phase, copy_cursor, resume_token, copy_fresh from connector_checkpoints
         where connector_id = $1 and collection = $2 for update",
    )
    .bind(connector_id)
    .bind(collection)
    .fetch_optional(&mut **tx)
    .await?;
    if copying && copy_begins(cp) {
        // A copy begins (a new stream position).
        clear_seen(tx, connector_id, collection).await?;
        // The collection's first copy: no checkpoint before it, or one that asks for a first
        // copy (a collection added to the connector) and has not finished it.
        return Ok(Copy::Begins {
            fresh: stored.as_ref().is_none_or(|s| s.3),
        });
    }
    if copying {
        // Another copy's batch (one a requested resync replaced): as before, applied.
        return Ok(Copy::Seeing { began_ms: None });
    }
    let Some((phase, copy_cursor, token, fresh)) = stored else {
        return Ok(Copy::None);
    };
    if phase != phase_name(CheckpointPhase::InitialSync) {
        return Ok(Copy::None);
    }
    if token != cp.resume_token {
        // A stream's batch from before a new copy began (a copy's end carries its start).
        return Ok(Copy::Over);
    }
    // The copy ends; the next one is not the collection's first.
    sqlx::query(
        "update connector_checkpoints set copy_fresh = false
         where connector_id = $1 and collection = $2",
    )
    .bind(connector_id)
    .bind(collection)
    .execute(&mut **tx)
    .await?;
    if fresh {
        // The collection's first copy. An edge document it did not see whose last change came
        // from MongoDB (a connector wrote it: a removed and re-added collection, a connector
        // recreated) is one MongoDB no longer has: it goes, as in a sweep. One devices wrote
        // last was never MongoDB's, or has an edit MongoDB lacks: it stays, and is queued (its
        // state after this batch) for the write-back, whose position may be past its changes.
        let unseen: Vec<(String, Option<String>)> = sqlx::query_as(
            "with unseen as (
                 select d.doc_key from store_documents d
                 where d.app_id = $1 and d.collection = $2 and d.value is not null
                   and d.created_at < (select copy_started_at from connector_checkpoints
                                       where connector_id = $3 and collection = $2)
                 except
                 select doc_key from connector_copy_seen where connector_id = $3 and collection = $2
             ),
             last as (
                 select distinct on (doc_key) doc_key, origin from store_changes
                 where app_id = $1 and collection = $2
                 order by doc_key, tx_id desc, change_id desc
             )
             select u.doc_key, l.origin from unseen u left join last l using (doc_key)",
        )
        .persistent(false)
        .bind(owned.app_id)
        .bind(collection)
        .bind(connector_id)
        .fetch_all(&mut **tx)
        .await?;
        clear_seen(tx, connector_id, collection).await?;
        let (from_mongodb, from_devices): (Vec<_>, Vec<_>) = unseen
            .into_iter()
            .partition(|(_, origin)| origin.as_deref().is_some_and(is_connector_write));
        return Ok(Copy::Sweep {
            deletes: from_mongodb
                .into_iter()
                .filter_map(|(key, _)| serde_json::from_str(&key).ok())
                .map(|id| EdgeWrite::Delete { id })
                .collect(),
            unseen: from_devices.into_iter().map(|(key, _)| key).collect(),
        });
    }
    // A later copy (resync, lost history, a new mapping) sweeps.
    let since = copy_cursor
        .as_deref()
        .and_then(crate::store::feed::decode_cursor);
    let stale: Vec<(String,)> = sqlx::query_as(
        // Set differences (hashed or sorted, linear in the collection), not a probe of the
        // change log per document.
        "select doc_key from store_documents
         where app_id = $1 and collection = $2 and value is not null
           and created_at < (select copy_started_at from connector_checkpoints
                             where connector_id = $3 and collection = $2)
         except
         select doc_key from connector_copy_seen where connector_id = $3 and collection = $2
         except
         select doc_key from store_changes
         where app_id = $1 and collection = $2 and origin is distinct from $4
           and ($5::text is null or (tx_id, change_id) > ($5::text::xid8, $6))",
    )
    .persistent(false)
    .bind(owned.app_id)
    .bind(collection)
    .bind(connector_id)
    .bind(origin(connector_id))
    .bind(since.as_ref().map(|c| c.0.clone()))
    .bind(since.as_ref().map_or(0, |c| c.1))
    .fetch_all(&mut **tx)
    .await?;
    clear_seen(tx, connector_id, collection).await?;
    Ok(Copy::Sweep {
        deletes: stale
            .into_iter()
            .filter_map(|(key,)| serde_json::from_str(&key).ok())
            .map(|id| EdgeWrite::Delete { id })
            .collect(),
        unseen: Vec::new(),
    })
}

/// Whether the batch outlived the pipeline that sent it (a request its sender stopped waiting
/// for, still running here): a copy's batch once that copy has ended, or a stream's batch once
/// a new copy of the collection began. Checked under the checkpoint row's lock at the batch's
/// end, so a commit racing it is seen; such a batch is rolled back whole.
async fn outlived(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    connector_id: Uuid,
    collection: &str,
    cp: &CollectionCheckpoint,
) -> Result<bool> {
    let stored: Option<(String, Option<serde_json::Value>)> = sqlx::query_as(
        "select phase, resume_token from connector_checkpoints
         where connector_id = $1 and collection = $2 for update",
    )
    .bind(connector_id)
    .bind(collection)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((phase, token)) = stored else {
        return Ok(false);
    };
    // A copy's batches and its end carry the copy's stream start; a new copy has a new one.
    let same = token == cp.resume_token;
    Ok(match cp.phase {
        CheckpointPhase::InitialSync => phase == phase_name(CheckpointPhase::Streaming) && same,
        CheckpointPhase::Streaming => phase == phase_name(CheckpointPhase::InitialSync) && !same,
    })
}

/// Whether a change's origin is a connector's own write (what MongoDB held), not a device's
/// or a re-queued edge state.
fn is_connector_write(origin: &str) -> bool {
    origin
        .strip_prefix("connector:")
        .is_some_and(|rest| !rest.contains(':'))
}

/// Forgets what a copy saw (as one begins and after it ends).
async fn clear_seen(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    connector_id: Uuid,
    collection: &str,
) -> Result<()> {
    sqlx::query("delete from connector_copy_seen where connector_id = $1 and collection = $2")
        .bind(connector_id)
        .bind(collection)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What a batch means to a copy of its collection.
enum Copy {
    None,
    /// A copy begins: where the write-back stands and when are noted, and whether it is the
    /// collection's first.
    Begins {
        fresh: bool,
    },
    /// A batch of the copy: the existing documents it writes are noted as seen; what was
    /// edited on the edge since the copy began (`began_ms`) is kept.
    Seeing {
        began_ms: Option<u64>,
    },
    /// A batch of a copy that has ended: nothing of it is applied.
    Over,
    /// The copy's end: the sweep's deletes; and a first copy's unseen documents devices wrote
    /// (keys), queued for the write-back.
    Sweep {
        deletes: Vec<EdgeWrite>,
        unseen: Vec<String>,
    },
}

/// Notes the documents of a copy's batch that existed before it began (those it creates were in
/// MongoDB; the sweep looks only at older ones).
async fn note_seen(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    connector_id: Uuid,
    collection: &str,
    keys: &[String],
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "insert into connector_copy_seen (connector_id, collection, doc_key)
         select $1, $2, k from unnest($3::text[]) as t(k)
         on conflict do nothing",
    )
    .persistent(false)
    .bind(connector_id)
    .bind(collection)
    .bind(keys)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn save_checkpoint(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    connector_id: Uuid,
    epoch: i64,
    collection: &str,
    cp: &CollectionCheckpoint,
    begins: Option<bool>,
) -> Result<()> {
    sqlx::query(
        "insert into connector_checkpoints as k
             (connector_id, collection, epoch, phase, resume_token, scan_after, copied,
              estimated_total, copy_rate_at, copy_rate_copied)
         values ($1, $2, $3, $4, $5, $6, $7, $8, case when $4 = 'initial_sync' then clock_timestamp() end,
                 case when $4 = 'initial_sync' then $7 end)
         on conflict (connector_id, collection) do update set
             epoch = excluded.epoch, phase = excluded.phase, resume_token = excluded.resume_token,
             scan_after = excluded.scan_after, copied = excluded.copied,
             estimated_total = excluded.estimated_total, updated_at = clock_timestamp(),
             -- The rate's window, on the clock (not the transaction's start: batches applied at
             -- once start in one order and commit in another): kept open while nothing moved or
             -- for less than a second; closed (its rate folded in, with a weight growing with its
             -- length) after that; restarted when the copy restarts or stood still for a minute.
             copy_rate = case
                 when excluded.phase <> 'initial_sync' or k.phase <> 'initial_sync'
                     or excluded.copied < k.copied or k.copy_rate_at is null
                     or clock_timestamp() <= k.copy_rate_at
                     then null
                 when excluded.copied = k.copied
                     or clock_timestamp() - k.copy_rate_at < interval '1 second'
                     then k.copy_rate
                 when clock_timestamp() - k.copy_rate_at >= interval '60 seconds' then null
                 else coalesce(
                     k.copy_rate * exp(-extract(epoch from clock_timestamp() - k.copy_rate_at)::float8 / 10)
                         + (excluded.copied - coalesce(k.copy_rate_copied, k.copied))
                             / extract(epoch from clock_timestamp() - k.copy_rate_at)::float8
                             * (1 - exp(-extract(epoch from clock_timestamp() - k.copy_rate_at)::float8 / 10)),
                     (excluded.copied - coalesce(k.copy_rate_copied, k.copied))
                         / extract(epoch from clock_timestamp() - k.copy_rate_at)::float8)
             end,
             copy_rate_at = case
                 when excluded.phase <> 'initial_sync' then null
                 when k.phase <> 'initial_sync' or excluded.copied < k.copied
                     or k.copy_rate_at is null or clock_timestamp() <= k.copy_rate_at
                     then clock_timestamp()
                 when excluded.copied = k.copied
                     or clock_timestamp() - k.copy_rate_at < interval '1 second'
                     then k.copy_rate_at
                 else clock_timestamp()
             end,
             copy_rate_copied = case
                 when excluded.phase <> 'initial_sync' then null
                 when k.phase <> 'initial_sync' or excluded.copied < k.copied
                     or k.copy_rate_at is null or clock_timestamp() <= k.copy_rate_at
                     then excluded.copied
                 when excluded.copied = k.copied
                     or clock_timestamp() - k.copy_rate_at < interval '1 second'
                     then coalesce(k.copy_rate_copied, k.copied)
                 else excluded.copied
             end
         -- Copy batches applied at once commit in any order: a copy's position never moves
         -- back (each batch carries one no further than what is applied).
         where not (excluded.phase = 'initial_sync' and k.phase = 'initial_sync'
                    and excluded.epoch = k.epoch
                    and excluded.resume_token is not distinct from k.resume_token
                    and excluded.copied < k.copied)",
    )
    .bind(connector_id)
    .bind(collection)
    .bind(epoch)
    .bind(phase_name(cp.phase))
    .bind(&cp.resume_token)
    .bind(&cp.scan_after)
    .bind(i64::try_from(cp.copied).unwrap_or(i64::MAX))
    .bind(
        cp.estimated_total
            .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
    )
    .execute(&mut **tx)
    .await?;
    if let Some(fresh) = begins {
        // Where the write-back stands as the copy begins, and whether it is the collection's
        // first (see `copy_bookkeeping`).
        sqlx::query(
            "update connector_checkpoints set copy_started_at = now(), copy_cursor =
                 (select cursor from connector_write_back where connector_id = $1),
                 copy_fresh = $3
             where connector_id = $1 and collection = $2",
        )
        .bind(connector_id)
        .bind(collection)
        .bind(fresh)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A checkpoint that starts a copy (initial sync or resync): nothing scanned or copied yet.
fn copy_begins(cp: &CollectionCheckpoint) -> bool {
    cp.phase == CheckpointPhase::InitialSync && cp.scan_after.is_none() && cp.copied == 0
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochParam {
    epoch: i64,
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    collection: String,
    phase: String,
    resume_token: Option<serde_json::Value>,
    scan_after: Option<serde_json::Value>,
    copied: i64,
    estimated_total: Option<i64>,
}

/// The checkpoints of the connector's collections (for its owner at `epoch`): where a new run
/// resumes. Collections no longer in the spec are left out.
pub async fn checkpoints(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath((worker_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(EpochParam { epoch }): ApiQuery<EpochParam>,
) -> Result<Json<BTreeMap<String, CollectionCheckpoint>>> {
    auth.require_self(worker_id)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let owned = owned(&mut tx, connector_id, worker_id, epoch).await?;
    let rows: Vec<CheckpointRow> = sqlx::query_as(
        "select collection, phase, resume_token, scan_after, copied, estimated_total
         from connector_checkpoints where connector_id = $1",
    )
    .bind(connector_id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(
        rows.into_iter()
            .filter(|r| owned.collections.0.contains_key(&r.collection))
            .map(|r| {
                let phase = if r.phase == "initial_sync" {
                    CheckpointPhase::InitialSync
                } else {
                    CheckpointPhase::Streaming
                };
                (
                    r.collection,
                    CollectionCheckpoint {
                        phase,
                        resume_token: r.resume_token,
                        scan_after: r.scan_after,
                        copied: u64::try_from(r.copied).unwrap_or(0),
                        estimated_total: r.estimated_total.and_then(|n| u64::try_from(n).ok()),
                    },
                )
            })
            .collect(),
    ))
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

//! A copy's bookkeeping (initial sync or resync): where it begins, the documents it saw, and the
//! sweep at its end.

use super::{Owned, origin, phase_name};
use crate::error::Result;
use edgebridge_domain::fleet::{ApplyRequest, CheckpointPhase, CollectionCheckpoint, EdgeWrite};
use uuid::Uuid;

/// What a batch means to a copy of its collection.
pub(super) enum Copy {
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

/// What a copy (initial sync or resync) needs besides its writes: its start clears what an
/// earlier copy saw and notes where the write-back stands; each batch notes the documents it
/// saw; its end (the move to streaming) returns the deletes of its sweep: the collection's edge
/// documents the copy did not see and that nobody but this connector changed after the copy
/// began. MongoDB no longer has them (they were deleted while the stream's history was lost, or
/// before a resync); a document a device changed since may not be in MongoDB yet, so it stays.
pub(super) async fn copy_bookkeeping(
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

/// A checkpoint that starts a copy (initial sync or resync): nothing scanned or copied yet.
fn copy_begins(cp: &CollectionCheckpoint) -> bool {
    cp.phase == CheckpointPhase::InitialSync && cp.scan_after.is_none() && cp.copied == 0
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

/// Notes the documents of a copy's batch that existed before it began (those it creates were in
/// MongoDB; the sweep looks only at older ones).
pub(super) async fn note_seen(
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

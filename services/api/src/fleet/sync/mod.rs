//! The sync engine's way into the edge store: a batch of mapped MongoDB documents and the
//! collection's checkpoint after them, applied in one transaction, only for the connector's
//! current owner at its epoch. The connector row is read `for share`, so an epoch change (a
//! move, pause, restart) waits for the batch or fences it out; it never lands half.
//!
//! Each write makes the edge document read as MongoDB reports it
//! ([`mirror_document_checked`](edgebridge_edge::mirror::mirror_document_checked)); a write equal
//! to what the edge holds changes nothing and records no change. The changes carry the origin
//! `connector:<id>`, so the connector's own write-back skips them.
//!
//! This file holds the ownership fence and the origins; the submodules hold applying a batch
//! (`apply`), a copy's bookkeeping and sweep (`copy`), the checkpoints (`checkpoints`), and the
//! write-back's feed and position (`feed`), and the mirror of its unsynced-document records
//! (`unsynced`).

mod apply;
mod checkpoints;
mod copy;
mod feed;
mod unsynced;

use super::internal::stale;
use crate::error::Result;
use edgebridge_domain::CollectionMapping;
use edgebridge_domain::fleet::{CheckpointPhase, EdgeWrite};
use serde::Deserialize;
use sqlx::types::Json as SqlJson;
use std::collections::BTreeMap;
use uuid::Uuid;

pub use apply::apply;
pub use checkpoints::checkpoints;
pub use feed::{FeedParams, changes, save_write_back, write_back};
pub use unsynced::{pending_discards, report_unsynced};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochParam {
    epoch: i64,
}

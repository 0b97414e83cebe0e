//! Collection checkpoints: saving one after a batch, the fence against batches that outlived
//! their run, and reading them back for a new run.

use super::{EpochParam, owned, phase_name};
use crate::error::Result;
use crate::fleet::auth::WorkerAuth;
use crate::http::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use edgebridge_domain::fleet::{CheckpointPhase, CollectionCheckpoint};
use std::collections::BTreeMap;
use uuid::Uuid;

pub(super) async fn save_checkpoint(
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

/// Whether the batch outlived the pipeline that sent it (a request its sender stopped waiting
/// for, still running here): a copy's batch once that copy has ended, or a stream's batch once
/// a new copy of the collection began. Checked under the checkpoint row's lock at the batch's
/// end, so a commit racing it is seen; such a batch is rolled back whole.
pub(super) async fn outlived(
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

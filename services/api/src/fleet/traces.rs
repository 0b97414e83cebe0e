//! The per-document trace as workers report it: each report's steps stored in one statement,
//! the connector's newest `keep` steps kept (a ring per connector, trimmed every tenth report:
//! it may hold ten reports' steps more), and the steps a worker left out counted.

use crate::error::Result;
use edgebridge_domain::fleet::TraceStep;
use uuid::Uuid;

const ID_CHARS: usize = 512;

/// Stores a report's steps and trims the connector's ring. Runs in the report's transaction.
pub async fn store(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    connector_id: Uuid,
    steps: &[TraceStep],
    dropped: u64,
    keep: i64,
    trim: bool,
) -> Result<()> {
    if dropped > 0 {
        sqlx::query(
            "update connectors set traces_dropped = traces_dropped + $2 where connector_id = $1",
        )
        .bind(connector_id)
        .bind(i64::try_from(dropped).unwrap_or(i64::MAX))
        .execute(&mut **tx)
        .await?;
    }
    if steps.is_empty() {
        return Ok(());
    }
    let n = steps.len();
    let (mut collection, mut document) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut direction, mut step) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut detail, mut at) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for s in steps {
        collection.push(super::event_store::truncate(&s.collection, ID_CHARS));
        document.push(super::event_store::truncate(&s.document_id, ID_CHARS));
        direction.push(s.direction.as_str());
        step.push(super::event_store::truncate(&s.step, 64));
        let bounded = serde_json::to_vec(&s.detail).map_or(usize::MAX, |v| v.len()) <= 2048;
        detail.push(if bounded {
            s.detail.clone()
        } else {
            serde_json::json!({"truncated": true})
        });
        at.push(s.at);
    }
    sqlx::query(
        "insert into connector_traces (connector_id, collection, document_id, direction, step,
             detail, occurred_at)
         select $1, * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
             $7::timestamptz[])",
    )
    .bind(connector_id)
    .bind(&collection)
    .bind(&document)
    .bind(&direction)
    .bind(&step)
    .bind(&detail)
    .bind(&at)
    .execute(&mut **tx)
    .await?;
    if !trim {
        return Ok(());
    }
    sqlx::query(
        "delete from connector_traces where connector_id = $1 and step_id <= (
             select step_id from connector_traces where connector_id = $1
             order by step_id desc offset $2 limit 1)",
    )
    .bind(connector_id)
    .bind(keep)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

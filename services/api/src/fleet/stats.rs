//! The numbers users watch, kept from workers' reports: per collection the totals since the
//! connector was created (each report's deltas added once), the MongoDB -> edge lag the worker
//! measured, the edge -> MongoDB backlog the api measures itself (edge changes past the
//! write-back's saved position), and the connector's one-minute metrics bucket.

use crate::error::Result;
use edgebridge_domain::fleet::{ConnectorReport, SyncTotals};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The backlog is counted among this many edge changes of the app after the write-back's
/// position (whoever wrote them): each report reads at most that many rows.
pub const BACKLOG_SCAN: i64 = 20_000;

/// The write-back's own entry in the stats (its failures count in the connector's totals).
pub const WRITE_BACK: &str = "$writeBack";

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds the report's deltas to the totals, stores its lag, measures the write-back backlog and
/// fills the minute's bucket. Runs in the report's transaction (the connector row is locked).
pub async fn record(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    app_id: Uuid,
    connector_id: Uuid,
    report: &ConnectorReport,
) -> Result<()> {
    type Position = (
        Option<String>,
        sqlx::types::Json<BTreeMap<String, serde_json::Value>>,
    );
    let (cursor, spec): Position = sqlx::query_as(
        "select w.cursor, c.collections from connectors c
         left join connector_write_back w on w.connector_id = c.connector_id
         where c.connector_id = $1",
    )
    .bind(connector_id)
    .fetch_one(&mut **tx)
    .await?;
    // Only the connector's collections (and the write-back) get stats, whatever is reported.
    let names: BTreeSet<&String> = report
        .collections
        .keys()
        .chain(report.deltas.keys())
        .filter(|n| spec.0.contains_key(*n) || *n == WRITE_BACK)
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let zero = SyncTotals::default();
    let mut columns: [Vec<i64>; 7] = Default::default();
    let mut collections = Vec::with_capacity(names.len());
    let mut event_at = Vec::with_capacity(names.len());
    let mut synced_at = Vec::with_capacity(names.len());
    let mut sum = SyncTotals::default();
    let mut lag_in: Option<i64> = None;
    for name in &names {
        let d = report.deltas.get(*name).unwrap_or(&zero);
        sum.add(d);
        let c = report.collections.get(*name);
        let lag = c.and_then(|c| c.lag_ms).map(signed);
        if let Some(l) = lag {
            lag_in = Some(lag_in.map_or(l, |m| m.max(l)));
        }
        collections.push((*name).clone());
        for (column, value) in columns.iter_mut().zip([
            d.copied,
            d.applied,
            d.written_back,
            d.skipped,
            d.unsynced,
            d.errors,
        ]) {
            column.push(signed(value));
        }
        columns[6].push(lag.unwrap_or(-1));
        event_at.push(c.and_then(|c| c.last_event_at));
        synced_at.push(c.and_then(|c| c.last_synced_at));
    }
    sqlx::query(
        "insert into connector_collection_stats as s (connector_id, collection, copied, applied,
             written_back, skipped, unsynced, errors, lag_in_ms, last_event_at, last_synced_at)
         select $1, t.c, t.cp, t.ap, t.wb, t.sk, t.un, t.er, nullif(t.lag, -1), t.ev, t.sy
         from unnest($2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[],
                     $8::int8[], $9::int8[], $10::timestamptz[], $11::timestamptz[])
              as t(c, cp, ap, wb, sk, un, er, lag, ev, sy)
         on conflict (connector_id, collection) do update set
             copied = s.copied + excluded.copied, applied = s.applied + excluded.applied,
             written_back = s.written_back + excluded.written_back,
             skipped = s.skipped + excluded.skipped, unsynced = s.unsynced + excluded.unsynced,
             errors = s.errors + excluded.errors, lag_in_ms = excluded.lag_in_ms,
             in_per_sec = (excluded.copied + excluded.applied)
                 / greatest(extract(epoch from now() - s.updated_at)::float8, 0.001),
             out_per_sec = excluded.written_back
                 / greatest(extract(epoch from now() - s.updated_at)::float8, 0.001),
             last_event_at = coalesce(excluded.last_event_at, s.last_event_at),
             last_synced_at = greatest(excluded.last_synced_at, s.last_synced_at),
             updated_at = now()",
    )
    .bind(connector_id)
    .bind(&collections)
    .bind(&columns[0])
    .bind(&columns[1])
    .bind(&columns[2])
    .bind(&columns[3])
    .bind(&columns[4])
    .bind(&columns[5])
    .bind(&columns[6])
    .bind(&event_at)
    .bind(&synced_at)
    .execute(&mut **tx)
    .await?;
    let collections: Vec<String> = spec.0.keys().cloned().collect();
    let backlog = backlog(tx, app_id, connector_id, cursor.as_deref(), collections).await?;
    let (mut pending_sum, mut lag_out) = (None::<i64>, None::<i64>);
    if let Some(backlog) = &backlog {
        let mut names = Vec::new();
        let (mut counts, mut ages) = (Vec::new(), Vec::new());
        for (name, (count, age)) in backlog {
            names.push(name.clone());
            counts.push(*count);
            ages.push(*age);
            pending_sum = Some(pending_sum.unwrap_or(0) + count);
            lag_out = Some(lag_out.unwrap_or(0).max(*age));
        }
        sqlx::query(
            "insert into connector_collection_stats as s (connector_id, collection, pending_out, lag_out_ms)
             select $1, t.c, t.n, t.age from unnest($2::text[], $3::int8[], $4::int8[]) as t(c, n, age)
             on conflict (connector_id, collection) do update set
                 pending_out = excluded.pending_out, lag_out_ms = excluded.lag_out_ms, updated_at = now()",
        )
        .bind(connector_id)
        .bind(&names)
        .bind(&counts)
        .bind(&ages)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "insert into connector_metrics as m (connector_id, step_secs, bucket, copied, applied,
             written_back, errors, unsynced, lag_in_ms, lag_out_ms, pending_out)
         values ($1, 60, date_bin('1 minute', now(), timestamptz 'epoch'), $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (connector_id, step_secs, bucket) do update set
             copied = m.copied + excluded.copied, applied = m.applied + excluded.applied,
             written_back = m.written_back + excluded.written_back,
             errors = m.errors + excluded.errors, unsynced = m.unsynced + excluded.unsynced,
             lag_in_ms = greatest(m.lag_in_ms, excluded.lag_in_ms),
             lag_out_ms = greatest(m.lag_out_ms, excluded.lag_out_ms),
             pending_out = greatest(m.pending_out, excluded.pending_out)",
    )
    .bind(connector_id)
    .bind(signed(sum.copied))
    .bind(signed(sum.applied))
    .bind(signed(sum.written_back))
    .bind(signed(sum.errors))
    .bind(signed(sum.unsynced))
    .bind(lag_in)
    .bind(lag_out)
    .bind(pending_sum)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Per collection of the connector: the edge changes its write-back has not passed yet (among
/// the next [`BACKLOG_SCAN`] changes of the app) and the age of the oldest in milliseconds (0
/// and 0 when none). Before the write-back saved a position it starts from the feed's
/// beginning, as the write-back will. `None` when the saved position cannot be read.
async fn backlog(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    app_id: Uuid,
    connector_id: Uuid,
    cursor: Option<&str>,
    names: Vec<String>,
) -> Result<Option<BTreeMap<String, (i64, i64)>>> {
    let (after_tx, after_change) = match cursor {
        Some(c) => match crate::store::feed::decode_cursor(c) {
            Some(p) => p,
            None => return Ok(None),
        },
        None => ("0".to_owned(), 0),
    };
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "select collection, count(*)::int8,
                (extract(epoch from now() - min(committed_at)) * 1000)::int8
         from (select collection, committed_at, origin from store_changes
               where app_id = $1 and (tx_id, change_id) > ($2::text::xid8, $3)
               order by tx_id, change_id limit $6) p
         where collection = any($4) and origin is distinct from $5
         group by collection",
    )
    .persistent(false)
    .bind(app_id)
    .bind(&after_tx)
    .bind(after_change)
    .bind(&names)
    .bind(super::sync::origin(connector_id))
    .bind(BACKLOG_SCAN)
    .fetch_all(&mut **tx)
    .await?;
    let mut out: BTreeMap<String, (i64, i64)> = names.into_iter().map(|n| (n, (0, 0))).collect();
    for (name, count, age) in rows {
        out.insert(name, (count, age.max(0)));
    }
    Ok(Some(out))
}

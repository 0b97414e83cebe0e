//! The mirror of the connector's unsynced-document records: the worker reports each record its
//! write-back writes or removes in MongoDB (and, when a run starts, all of them, so the mirror
//! is right after an outage), only as the connector's owner at its epoch. The answer carries the
//! discards users asked for; the worker deletes those records in MongoDB and acknowledges them.

use super::{EpochParam, owned};
use crate::error::{ApiError, Result};
use crate::fleet::auth::WorkerAuth;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use edgebridge_domain::Violation;
use edgebridge_domain::unsynced::{
    MAX_DISCARDS_PER_ANSWER, MAX_FIELD_BYTES, MAX_MESSAGE_CHARS, MAX_RECORDS_PER_REPORT,
    UnsyncedAnswer, UnsyncedRecord, UnsyncedReport, truncate_message,
};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The discards to carry out (polled by the write-back while it holds records).
pub async fn pending_discards(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath((worker_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(EpochParam { epoch }): ApiQuery<EpochParam>,
) -> Result<Json<UnsyncedAnswer>> {
    auth.require_self(worker_id)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    owned(&mut tx, connector_id, worker_id, epoch).await?;
    let answer = discards(&mut tx, connector_id).await?;
    tx.commit().await?;
    Ok(Json(answer))
}

/// Takes a report of the connector's records; answers with the discards to carry out.
pub async fn report_unsynced(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath((worker_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(report): ApiJson<UnsyncedReport>,
) -> Result<Json<UnsyncedAnswer>> {
    auth.require_self(worker_id)?;
    validate(&report)?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let connector = owned(&mut tx, connector_id, worker_id, report.epoch).await?;
    let reconciling = report.reconcile.is_some();
    if let Some(range) = &report.reconcile {
        let listed: Vec<&str> = report
            .upserted
            .iter()
            .map(|r| r.record_id.as_str())
            .collect();
        sqlx::query(
            "delete from unsynced_documents
             where connector_id = $1
               and ($2::text is null or record_id > $2)
               and ($3::text is null or record_id <= $3)
               and record_id <> all($4::text[])",
        )
        .bind(connector_id)
        .bind(range.after.as_deref())
        .bind(range.through.as_deref())
        .bind(&listed)
        .execute(&mut *tx)
        .await?;
    }
    upsert(
        &mut tx,
        connector.org_id,
        connector_id,
        &report.upserted,
        reconciling,
    )
    .await?;
    let gone: Vec<&str> = report
        .removed
        .iter()
        .chain(&report.discarded)
        .map(String::as_str)
        .collect();
    if !gone.is_empty() {
        sqlx::query(
            "delete from unsynced_documents where connector_id = $1 and record_id = any($2::text[])",
        )
        .bind(connector_id)
        .bind(&gone)
        .execute(&mut *tx)
        .await?;
    }
    let answer = discards(&mut tx, connector_id).await?;
    tx.commit().await?;
    Ok(Json(answer))
}

fn validate(report: &UnsyncedReport) -> Result<()> {
    let mut errors = Vec::new();
    if report.len() > MAX_RECORDS_PER_REPORT {
        errors.push(Violation {
            path: "/upserted".into(),
            message: format!(
                "at most {MAX_RECORDS_PER_REPORT} records (upserted, removed and discarded together) per report"
            ),
        });
    }
    for (i, r) in report.upserted.iter().enumerate() {
        if !r.is_reportable() {
            errors.push(Violation {
                path: format!("/upserted/{i}"),
                message: format!(
                    "a record needs a `recordId`, and each of its ids and its code at most {MAX_FIELD_BYTES} bytes"
                ),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Inserts or updates records. A refusal counts an attempt and reopens a record that was being
/// retried (a discard asked for stays asked for); a reconcile only restores what MongoDB holds.
async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    org_id: Uuid,
    connector_id: Uuid,
    records: &[UnsyncedRecord],
    reconciling: bool,
) -> Result<()> {
    // One row per record id (the last report of it wins): a statement may touch a row once.
    let latest: BTreeMap<&str, &UnsyncedRecord> =
        records.iter().map(|r| (r.record_id.as_str(), r)).collect();
    if latest.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(latest.len());
    let mut record_ids = Vec::with_capacity(latest.len());
    let mut collections = Vec::with_capacity(latest.len());
    let mut document_ids = Vec::with_capacity(latest.len());
    let mut codes = Vec::with_capacity(latest.len());
    let mut messages = Vec::with_capacity(latest.len());
    let mut ats: Vec<DateTime<Utc>> = Vec::with_capacity(latest.len());
    for (record_id, r) in latest {
        ids.push(Uuid::now_v7());
        record_ids.push(record_id);
        collections.push(r.collection.as_str());
        document_ids.push(r.document_id.as_str());
        codes.push(r.code.as_str());
        messages.push(truncate_message(&r.message, MAX_MESSAGE_CHARS));
        ats.push(r.at);
    }
    sqlx::query(
        "insert into unsynced_documents as u (unsynced_document_id, org_id, connector_id,
             record_id, collection, document_id, code, message, first_seen_at, last_seen_at)
         select t.id, $1, $2, t.record_id, t.collection, t.document_id, t.code, t.message, t.at, t.at
         from unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::timestamptz[])
             as t(id, record_id, collection, document_id, code, message, at)
         on conflict (connector_id, record_id) do update set
             collection = excluded.collection,
             document_id = excluded.document_id,
             code = excluded.code,
             message = excluded.message,
             attempts = u.attempts + case when $10 then 0 else 1 end,
             last_seen_at = greatest(u.last_seen_at, excluded.last_seen_at),
             state = case when u.state = 'retrying' and not $10 then 'open' else u.state end",
    )
    .bind(org_id)
    .bind(connector_id)
    .bind(&ids)
    .bind(&record_ids)
    .bind(&collections)
    .bind(&document_ids)
    .bind(&codes)
    .bind(&messages)
    .bind(&ats)
    .bind(reconciling)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn discards(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    connector_id: Uuid,
) -> Result<UnsyncedAnswer> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "select record_id from unsynced_documents
         where connector_id = $1 and state = 'discard_requested'
         order by record_id limit $2",
    )
    .bind(connector_id)
    .bind(i64::try_from(MAX_DISCARDS_PER_ANSWER).unwrap_or(i64::MAX))
    .fetch_all(&mut **tx)
    .await?;
    Ok(UnsyncedAnswer {
        discard: rows.into_iter().map(|(id,)| id).collect(),
    })
}

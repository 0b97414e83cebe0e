//! The unsynced-documents mirror in Postgres, scoped by organization, app and connector, and the
//! requeue of edge documents for the write-back.

use super::model::{UnsyncedDocumentOut, UnsyncedState};
use crate::error::{ApiError, Result};
use crate::fleet::sync::requeue_origin;
use crate::store::repo as store;
use chrono::{DateTime, Utc};
use edgebridge_edge::ids::document_key;
use sqlx::{PgExecutor, Postgres, Transaction};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Longest collection name a filter takes (bytes; MongoDB's namespace limit).
const MAX_COLLECTION_BYTES: usize = 255;
/// Longest code a filter takes.
const MAX_CODE_CHARS: usize = 100;

const COLUMNS: &str = "u.unsynced_document_id, u.record_id, u.collection, u.document_id, u.code,
    u.message, u.attempts, u.state, u.first_seen_at, u.last_seen_at, u.retried_at";

#[derive(Debug, sqlx::FromRow)]
pub struct UnsyncedRow {
    pub unsynced_document_id: Uuid,
    pub record_id: String,
    pub collection: String,
    /// JSON text.
    pub document_id: String,
    pub code: String,
    pub message: String,
    pub attempts: i32,
    pub state: String,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub retried_at: Option<DateTime<Utc>>,
}

impl From<UnsyncedRow> for UnsyncedDocumentOut {
    fn from(r: UnsyncedRow) -> Self {
        UnsyncedDocumentOut {
            id: r.unsynced_document_id,
            mongo_record_id: r.record_id,
            collection: r.collection,
            // Written by the worker as JSON; kept as text if it ever is not.
            document_id: serde_json::from_str(&r.document_id)
                .unwrap_or(serde_json::Value::String(r.document_id)),
            code: r.code,
            message: r.message,
            attempts: r.attempts,
            state: UnsyncedState::parse(&r.state),
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
            retried_at: r.retried_at,
        }
    }
}

/// The list's and the bulk retry's filters, checked.
#[derive(Debug, Default)]
pub struct Filters {
    collection: Option<String>,
    code: Option<String>,
}

impl Filters {
    pub fn parse(collection: Option<&str>, code: Option<&str>) -> Result<Self> {
        let collection = collection.filter(|c| !c.is_empty());
        if collection.is_some_and(|c| c.len() > MAX_COLLECTION_BYTES) {
            return Err(ApiError::bad_field(
                "invalid_query_parameter",
                "/collection",
                format!(
                    "`collection` is a collection name of at most {MAX_COLLECTION_BYTES} bytes"
                ),
            ));
        }
        let code = code.filter(|c| !c.is_empty());
        if code.is_some_and(|c| {
            c.chars().count() > MAX_CODE_CHARS
                || !c
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        }) {
            return Err(ApiError::bad_field(
                "invalid_query_parameter",
                "/code",
                format!(
                    "`code` is a refusal code such as `schema_validation`: lowercase letters, digits and `_`, at most {MAX_CODE_CHARS} characters"
                ),
            ));
        }
        Ok(Filters {
            collection: collection.map(str::to_owned),
            code: code.map(str::to_owned),
        })
    }
}

/// `Some` when the connector is in the caller's organization and app.
pub async fn connector_app(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
) -> Result<Option<()>> {
    let row: Option<(i32,)> = sqlx::query_as(
        "select 1 from connectors where org_id = $1 and app_id = $2 and connector_id = $3",
    )
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(drop))
}

/// As [`connector_app`], holding the app (a key-share lock, as every edge-store write does) so
/// it cannot be deleted while its edge store is written.
pub async fn lock_connector(
    tx: &mut Transaction<'_, Postgres>,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
) -> Result<Option<()>> {
    let row: Option<(i32,)> = sqlx::query_as(
        "select 1 from connectors c join apps a on a.app_id = c.app_id
         where c.org_id = $1 and c.app_id = $2 and c.connector_id = $3
         for key share of a",
    )
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(drop))
}

/// A page of the connector's records, newest first, after `after`.
pub async fn list(
    db: impl PgExecutor<'_>,
    connector_id: Uuid,
    filters: &Filters,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<UnsyncedRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from unsynced_documents u
         where u.connector_id = $1
           and ($2::text is null or u.collection = $2)
           and ($3::text is null or u.code = $3)
           and ($4::uuid is null or u.unsynced_document_id < $4)
         order by u.unsynced_document_id desc limit $5"
    ))
    .bind(connector_id)
    .bind(filters.collection.as_deref())
    .bind(filters.code.as_deref())
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

pub async fn get(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
    id: Uuid,
) -> Result<Option<UnsyncedRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from unsynced_documents u
         join connectors c on c.connector_id = u.connector_id
         where u.org_id = $1 and c.org_id = $1 and c.app_id = $2 and u.connector_id = $3
           and u.unsynced_document_id = $4"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// One record of the connector (already checked to be the caller's), locked.
pub async fn lock_one(
    tx: &mut Transaction<'_, Postgres>,
    connector_id: Uuid,
    id: Uuid,
) -> Result<Option<UnsyncedRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from unsynced_documents u
         where u.connector_id = $1 and u.unsynced_document_id = $2 for update"
    ))
    .bind(connector_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Up to `limit` open records matching the filters, oldest first, locked (records another bulk
/// retry holds are left to it).
pub async fn lock_open(
    tx: &mut Transaction<'_, Postgres>,
    connector_id: Uuid,
    filters: &Filters,
    limit: i64,
) -> Result<Vec<UnsyncedRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from unsynced_documents u
         where u.connector_id = $1 and u.state = 'open'
           and ($2::text is null or u.collection = $2)
           and ($3::text is null or u.code = $3)
         order by u.unsynced_document_id limit $4
         for update skip locked"
    ))
    .bind(connector_id)
    .bind(filters.collection.as_deref())
    .bind(filters.code.as_deref())
    .bind(limit)
    .fetch_all(&mut **tx)
    .await?)
}

pub async fn count_open(
    tx: &mut Transaction<'_, Postgres>,
    connector_id: Uuid,
    filters: &Filters,
) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "select count(*) from unsynced_documents
         where connector_id = $1 and state = 'open'
           and ($2::text is null or collection = $2)
           and ($3::text is null or code = $3)",
    )
    .bind(connector_id)
    .bind(filters.collection.as_deref())
    .bind(filters.code.as_deref())
    .fetch_one(&mut **tx)
    .await?;
    Ok(n)
}

/// Queues the edge documents of `rows` for the connector's write-back again: one change of each
/// in the app's change feed holding the document as the edge store has it now (its CRDT state
/// untouched), under the connector's requeue origin, so the write-back (which leaves out only
/// the connector's own origin) takes it again from its saved position. Returns the records
/// whose documents were queued (the edge store holds a document, visible or deleted, for each).
pub async fn requeue(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    connector_id: Uuid,
    actor: &str,
    rows: &[UnsyncedRow],
) -> Result<Vec<Uuid>> {
    // Per collection: the documents' keys, and the record behind each.
    let mut wanted: BTreeMap<&str, BTreeMap<String, Uuid>> = BTreeMap::new();
    for row in rows {
        let Some(key) = serde_json::from_str(&row.document_id)
            .ok()
            .and_then(|id| document_key(&id).ok())
        else {
            continue;
        };
        wanted
            .entry(row.collection.as_str())
            .or_default()
            .insert(key, row.unsynced_document_id);
    }
    let origin = requeue_origin(connector_id);
    let mut requeued = Vec::new();
    for (collection, records) in wanted {
        let keys: Vec<String> = records.keys().cloned().collect();
        // Locked as any write of them is, so the change recorded is the state that stays.
        let docs = store::lock_docs(tx, app_id, collection, &keys).await?;
        if docs.is_empty() {
            continue;
        }
        let (found, values): (Vec<String>, Vec<Option<Vec<u8>>>) =
            docs.into_iter().map(|d| (d.doc_key, d.value)).unzip();
        store::record_changes(
            tx,
            app_id,
            collection,
            &found,
            &values,
            Some(&origin),
            actor,
        )
        .await?;
        requeued.extend(found.iter().filter_map(|k| records.get(k).copied()));
    }
    Ok(requeued)
}

/// Marks records `retrying`, answering them as they are now.
pub async fn mark_retrying(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[Uuid],
) -> Result<Vec<UnsyncedRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(&format!(
        "update unsynced_documents u set state = 'retrying', retried_at = now()
         where u.unsynced_document_id = any($1::uuid[])
         returning {COLUMNS}"
    ))
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?)
}

/// Asks the connector's worker to delete the record in MongoDB (the row goes when it did).
pub async fn request_discard(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    connector_id: Uuid,
    id: Uuid,
) -> Result<Option<UnsyncedRow>> {
    Ok(sqlx::query_as(&format!(
        "update unsynced_documents u set state = 'discard_requested'
         from connectors c
         where c.connector_id = u.connector_id and c.org_id = $1 and c.app_id = $2
           and u.org_id = $1 and u.connector_id = $3 and u.unsynced_document_id = $4
         returning {COLUMNS}"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(connector_id)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

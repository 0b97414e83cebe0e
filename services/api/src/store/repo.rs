//! Edge store persistence: documents (CRDT state plus the visible JSON) and the change log.

use crate::error::Result;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub struct DocRow {
    pub doc_key: String,
    pub state: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct ValueRow {
    pub doc_key: String,
    pub value: Vec<u8>,
}

/// Visible documents of a collection by key.
pub async fn values_by_keys(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    collection: &str,
    keys: &[String],
) -> Result<Vec<ValueRow>> {
    Ok(sqlx::query_as(
        "select doc_key, value from store_documents
         where app_id = $1 and collection = $2 and doc_key = any($3) and value is not null
         order by doc_key",
    )
    .bind(app_id)
    .bind(collection)
    .bind(keys)
    .fetch_all(db)
    .await?)
}

/// Visible documents of a collection after `after_key`, in key order (for scans in batches).
pub async fn scan_values(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    collection: &str,
    after_key: Option<&str>,
    batch: i64,
) -> Result<Vec<ValueRow>> {
    Ok(sqlx::query_as(
        "select doc_key, value from store_documents
         where app_id = $1 and collection = $2 and value is not null
           and ($3::text is null or doc_key > $3)
         order by doc_key limit $4",
    )
    .bind(app_id)
    .bind(collection)
    .bind(after_key)
    .bind(batch)
    .fetch_all(db)
    .await?)
}

/// Locks and reads documents (visible or tombstoned) for a write.
pub async fn lock_docs(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    collection: &str,
    keys: &[String],
) -> Result<Vec<DocRow>> {
    Ok(sqlx::query_as(
        "select doc_key, state, value from store_documents
         where app_id = $1 and collection = $2 and doc_key = any($3)
         order by doc_key for update",
    )
    .bind(app_id)
    .bind(collection)
    .bind(keys)
    .fetch_all(&mut **tx)
    .await?)
}

/// Inserts documents whose keys were free; returns the keys actually inserted (a concurrent
/// writer may have taken some meanwhile).
pub async fn insert_new(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    collection: &str,
    keys: &[String],
    states: &[Vec<u8>],
    values: &[Option<Vec<u8>>],
) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "insert into store_documents (app_id, collection, doc_key, state, value)
         select $1, $2, k, s, v from unnest($3::text[], $4::bytea[], $5::bytea[]) as t(k, s, v)
         on conflict (app_id, collection, doc_key) do nothing
         returning doc_key",
    )
    .bind(app_id)
    .bind(collection)
    .bind(keys)
    .bind(states)
    .bind(values)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(k,)| k).collect())
}

/// Overwrites locked documents with their merged state.
pub async fn update_docs(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    collection: &str,
    keys: &[String],
    states: &[Vec<u8>],
    values: &[Option<Vec<u8>>],
) -> Result<()> {
    sqlx::query(
        "update store_documents d set state = t.s, value = t.v, updated_at = now()
         from unnest($3::text[], $4::bytea[], $5::bytea[]) as t(k, s, v)
         where d.app_id = $1 and d.collection = $2 and d.doc_key = t.k",
    )
    .bind(app_id)
    .bind(collection)
    .bind(keys)
    .bind(states)
    .bind(values)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Appends changes to the feed and wakes long-polling readers once the transaction commits.
pub async fn record_changes(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    collection: &str,
    keys: &[String],
    values: &[Option<Vec<u8>>],
    origin: Option<&str>,
    actor: &str,
) -> Result<()> {
    sqlx::query(
        "insert into store_changes (app_id, collection, doc_key, value, origin, actor)
         select $1, $2, k, v, $5, $6 from unnest($3::text[], $4::bytea[]) as t(k, v)",
    )
    .bind(app_id)
    .bind(collection)
    .bind(keys)
    .bind(values)
    .bind(origin)
    .bind(actor)
    .execute(&mut **tx)
    .await?;
    sqlx::query("select pg_notify('edgebridge_store_changes', $1)")
        .bind(app_id.to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Visible documents in the app (for the quota).
pub async fn count_docs(db: impl PgExecutor<'_>, app_id: Uuid) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "select count(*) from store_documents where app_id = $1 and value is not null",
    )
    .bind(app_id)
    .fetch_one(db)
    .await?;
    Ok(n)
}

#[derive(Debug, sqlx::FromRow)]
pub struct ChangeRow {
    pub tx_id: String,
    pub change_id: i64,
    pub collection: String,
    pub doc_key: String,
    pub value: Option<Vec<u8>>,
    pub origin: Option<String>,
    pub actor: String,
    pub committed_at: chrono::DateTime<chrono::Utc>,
}

/// Changes after `(tx_id, change_id)` whose transactions are older than every running one, so
/// no change can later appear before them.
pub async fn changes_after(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    after: (&str, i64),
    collections: Option<&[String]>,
    limit: i64,
) -> Result<Vec<ChangeRow>> {
    Ok(sqlx::query_as(
        "select tx_id::text as tx_id, change_id, collection, doc_key, value, origin, actor, committed_at
         from store_changes
         where app_id = $1 and (tx_id, change_id) > ($2::text::xid8, $3)
           and tx_id < pg_snapshot_xmin(pg_current_snapshot())
           and ($4::text[] is null or collection = any($4))
         order by tx_id, change_id
         limit $5",
    )
    .bind(app_id)
    .bind(after.0)
    .bind(after.1)
    .bind(collections)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

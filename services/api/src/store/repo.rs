//! Edge store persistence: documents (CRDT state plus the visible JSON) and the change log.
//!
//! Statements driven by arrays of keys are not kept as prepared statements
//! (`persistent(false)`): a cached generic plan, made while a collection was small, can keep
//! filtering a whole collection instead of probing the index for each key once it has grown.
//! Unnamed statements are planned with the actual arguments every time.

use crate::error::Result;
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

/// Documents to write, column by column: key, CRDT state, visible value (None = deleted).
#[derive(Debug, Default)]
pub struct DocRows {
    pub keys: Vec<String>,
    pub states: Vec<Vec<u8>>,
    pub values: Vec<Option<Vec<u8>>>,
}

impl DocRows {
    pub fn push(&mut self, key: String, state: Vec<u8>, value: Option<Vec<u8>>) {
        self.keys.push(key);
        self.states.push(state);
        self.values.push(value);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Appends `other`'s rows.
    pub fn extend_from(&mut self, other: &DocRows) {
        self.keys.extend_from_slice(&other.keys);
        self.states.extend_from_slice(&other.states);
        self.values.extend_from_slice(&other.values);
    }

    /// The rows in key order: writers that lock rows in the same order cannot deadlock.
    pub fn sorted_by_key(self) -> DocRows {
        let mut rows: Vec<_> = self
            .keys
            .into_iter()
            .zip(self.states)
            .zip(self.values)
            .collect();
        rows.sort_by(|((a, _), _), ((b, _), _)| a.cmp(b));
        let mut out = DocRows::default();
        for ((key, state), value) in rows {
            out.push(key, state, value);
        }
        out
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct DocRow {
    pub doc_key: String,
    pub state: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
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
    if let [key] = keys {
        // A point read, the commonest device request: equality on the whole primary key plans
        // as an index probe at any table size, so the statement is kept prepared (one round
        // trip instead of a parse, a describe and an execute).
        return Ok(sqlx::query_as(
            "select doc_key, value from store_documents
             where app_id = $1 and collection = $2 and doc_key = $3 and value is not null",
        )
        .bind(app_id)
        .bind(collection)
        .bind(key)
        .fetch_all(db)
        .await?);
    }
    Ok(sqlx::query_as(
        "select doc_key, value from store_documents
         where app_id = $1 and collection = $2 and doc_key = any($3) and value is not null
         order by doc_key",
    )
    .persistent(false)
    .bind(app_id)
    .bind(collection)
    .bind(keys)
    .fetch_all(db)
    .await?)
}

/// Visible documents of a few keys (point reads, alone or sharing a statement), in key order.
/// Kept prepared: one index probe per key (the lateral form) plans the same at any size, so a
/// cached plan cannot go stale as a collection grows.
pub async fn values_by_few_keys(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    collection: &str,
    keys: &[String],
) -> Result<Vec<ValueRow>> {
    if let [_] = keys {
        return values_by_keys(db, app_id, collection, keys).await;
    }
    Ok(sqlx::query_as(
        "select d.doc_key, d.value
         from unnest($3::text[]) as k(key)
         cross join lateral (
             select doc_key, value from store_documents
             where app_id = $1 and collection = $2 and doc_key = k.key and value is not null
         ) d
         order by d.doc_key",
    )
    .bind(app_id)
    .bind(collection)
    .bind(sorted_keys(keys).as_ref())
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
    .persistent(false)
    .bind(app_id)
    .bind(collection)
    .bind(after_key)
    .bind(batch)
    .fetch_all(db)
    .await?)
}

/// Documents (visible or tombstoned) of a few keys, without locking them: a read of one
/// document's state. Equality on the whole primary key per key: index probes at any size.
pub async fn docs_by_keys(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    collection: &str,
    keys: &[String],
) -> Result<Vec<DocRow>> {
    Ok(sqlx::query_as(
        "select d.doc_key, d.state, d.value
         from unnest($3::text[]) as k(key)
         cross join lateral (
             select doc_key, state, value from store_documents
             where app_id = $1 and collection = $2 and doc_key = k.key
         ) d",
    )
    .bind(app_id)
    .bind(collection)
    .bind(keys)
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
        // One index lookup per key, in sorted key order (so concurrent writers lock in one
        // order): the cost follows the batch, never the collection, which `doc_key = any($3)`
        // does not promise (the planner may scan the whole collection).
        "select d.doc_key, d.state, d.value
         from unnest($3::text[]) with ordinality as k(key, n)
         cross join lateral (
             select doc_key, state, value from store_documents
             where app_id = $1 and collection = $2 and doc_key = k.key
             for update
         ) d
         order by k.n",
    )
    .persistent(false)
    .bind(app_id)
    .bind(collection)
    .bind(sorted_keys(keys).as_ref())
    .fetch_all(&mut **tx)
    .await?)
}

/// `keys` sorted (bytewise, as the "C" collation of `doc_key` sorts) and without duplicates;
/// borrowed when they already are.
fn sorted_keys(keys: &[String]) -> std::borrow::Cow<'_, [String]> {
    if keys.windows(2).all(|w| w[0] < w[1]) {
        return std::borrow::Cow::Borrowed(keys);
    }
    let mut owned = keys.to_vec();
    owned.sort_unstable();
    owned.dedup();
    std::borrow::Cow::Owned(owned)
}

/// Inserts documents whose keys were free; returns the keys actually inserted (a concurrent
/// writer may have taken some meanwhile).
pub async fn insert_new(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    collection: &str,
    docs: &DocRows,
) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "insert into store_documents (app_id, collection, doc_key, state, value)
         select $1, $2, k, s, v from unnest($3::text[], $4::bytea[], $5::bytea[]) as t(k, s, v)
         on conflict (app_id, collection, doc_key) do nothing
         returning doc_key",
    )
    .bind(app_id)
    .bind(collection)
    .bind(&docs.keys)
    .bind(&docs.states)
    .bind(&docs.values)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(k,)| k).collect())
}

/// The fast path of an INSERT whose `_id`s are all new: documents and changes in one
/// autocommitted statement, all or nothing. Answers `false` (and writes nothing) when an `_id`
/// was taken or the app is not the organization's: the statement then divides by zero, which
/// rolls back every row it wrote.
pub async fn insert_fresh(
    db: &sqlx::PgPool,
    org_id: Uuid,
    app_id: Uuid,
    collection: &str,
    docs: &DocRows,
    origin: Option<&str>,
    actor: &str,
) -> Result<bool> {
    let result = sqlx::query(
        "with app as (
             select 1 from apps where app_id = $1 and org_id = $8 for key share
         ), inserted as (
             insert into store_documents (app_id, collection, doc_key, state, value)
             select $1, $2, k, s, v from unnest($3::text[], $4::bytea[], $5::bytea[]) as t(k, s, v)
             where exists (select 1 from app)
             on conflict (app_id, collection, doc_key) do nothing
             returning 1
         ), logged as (
             insert into store_changes (app_id, collection, doc_key, value, origin, actor)
             select $1, $2, k, v, $6, $7 from unnest($3::text[], $5::bytea[]) as t(k, v)
             where exists (select 1 from app)
         )
         select 1 / (case when (select count(*) from inserted) = cardinality($3::text[]) then 1 else 0 end)",
    )
    .bind(app_id)
    .bind(collection)
    .bind(&docs.keys)
    .bind(&docs.states)
    .bind(&docs.values)
    .bind(origin)
    .bind(actor)
    .bind(org_id)
    .execute(db)
    .await;
    match result {
        Ok(_) => Ok(true),
        // 22012: our guard (an _id taken, or not the caller's app). 40P01: a deadlock with
        // another insert of the same new keys; Postgres rolled this one back, so retry it.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("22012" | "40P01")) => {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Overwrites locked documents with their merged state. Only for rows the caller has locked
/// ([`lock_docs`]) in this transaction: it is an upsert, so a key without a row would insert one.
pub async fn update_docs(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    collection: &str,
    docs: &DocRows,
) -> Result<()> {
    sqlx::query(
        // An upsert on rows the caller has locked: each row is found through the primary key
        // (the conflict check), a cost that follows the batch; an `update ... from unnest`
        // join may be planned as a scan of the whole collection.
        "insert into store_documents as d (app_id, collection, doc_key, state, value)
         select $1, $2, k, s, v from unnest($3::text[], $4::bytea[], $5::bytea[]) as t(k, s, v)
         on conflict (app_id, collection, doc_key) do update
             set state = excluded.state, value = excluded.value, updated_at = now()",
    )
    .persistent(false)
    .bind(app_id)
    .bind(collection)
    .bind(&docs.keys)
    .bind(&docs.states)
    .bind(&docs.values)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Appends changes to the feed. (Readers are woken after the commit, outside the transaction:
/// a NOTIFY inside it would serialize every writer's commit on Postgres' notification lock.)
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
    Ok(())
}

/// Tells other api processes which apps have new changes (one statement for many apps).
pub async fn notify_apps(db: impl PgExecutor<'_>, apps: &[Uuid]) -> Result<()> {
    sqlx::query(
        "select pg_notify('edgebridge_store_changes', a::text) from unnest($1::uuid[]) as t(a)",
    )
    .bind(apps)
    .execute(db)
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

// ---- Counting, for `SELECT COUNT(*)` and `system:collections` (no document is read) ----

/// Visible documents in one collection.
pub async fn count_collection(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
    collection: &str,
) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "select count(*) from store_documents
         where app_id = $1 and collection = $2 and value is not null",
    )
    .bind(app_id)
    .bind(collection)
    .fetch_one(db)
    .await?;
    Ok(n)
}

/// Every collection of the app that holds or held a document, with its visible documents, by
/// name.
pub async fn collection_counts(
    db: impl PgExecutor<'_>,
    app_id: Uuid,
) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "select collection, count(*) filter (where value is not null)
         from store_documents where app_id = $1
         group by collection order by collection",
    )
    .bind(app_id)
    .fetch_all(db)
    .await?)
}

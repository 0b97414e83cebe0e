//! Writing documents: stamps for a statement's writes, encoding (with the depth and size
//! limits), persisting documents with their changes, and the per-app quota.

use crate::apps;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::store::repo;
use crate::store::repo::DocRows;
use axum::http::StatusCode;
use edgebridge_edge::apply::{StampSource, visible};
use edgebridge_edge::{DocState, Stamp};
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

use super::ExecContext;

/// Stamps for one statement's writes: strictly increasing, after everything the documents hold.
pub(crate) struct Stamps<'a> {
    pub(crate) state: &'a AppState,
    pub(crate) actor: &'a str,
}

impl Stamps<'_> {
    pub(crate) fn observe(&self, doc: &DocState) {
        if let Some(s) = doc.max_stamp() {
            self.state
                .clock
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .observe(s.at);
        }
    }
}

impl StampSource for Stamps<'_> {
    fn next_stamp(&mut self) -> Stamp {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let at = self
            .state
            .clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tick(now);
        Stamp::new(at, self.actor)
    }
}

/// A document about to be written: its key, `_id`, new state and visible value.
pub(crate) struct Written {
    pub(crate) key: String,
    pub(crate) id: Value,
    pub(crate) state: DocState,
    pub(crate) was_new: bool,
}

/// Deepest nesting a stored document may have (its CRDT state nests about three times deeper,
/// and must stay readable).
const MAX_DOCUMENT_DEPTH: usize = 32;

fn depth(v: &Value) -> usize {
    match v {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Each written document's state and visible value, refusing any too deep or too large.
pub(crate) fn encode_all<'w>(
    written: impl Iterator<Item = &'w Written>,
    max_bytes: usize,
) -> Result<DocRows> {
    let mut out = DocRows::default();
    for w in written {
        // The document is viewed once: checked, then serialized.
        let doc = visible(&w.state, &w.id);
        if let Some(doc) = &doc
            && doc.values().map(depth).max().unwrap_or(0) + 1 > MAX_DOCUMENT_DEPTH
        {
            return Err(ApiError::other(
                StatusCode::UNPROCESSABLE_ENTITY,
                "document_too_deep",
                format!(
                    "the document with _id {} would nest deeper than {MAX_DOCUMENT_DEPTH} levels",
                    w.id
                ),
            ));
        }
        let state = serde_json::to_vec(&w.state).map_err(|e| ApiError::Internal(e.into()))?;
        let value = doc
            .map(|doc| serde_json::to_vec(&doc))
            .transpose()
            .map_err(|e| ApiError::Internal(e.into()))?;
        if value.as_ref().is_some_and(|v| v.len() > max_bytes) {
            return Err(ApiError::other(
                StatusCode::PAYLOAD_TOO_LARGE,
                "document_too_large",
                format!(
                    "the document with _id {} would be larger than {max_bytes} bytes",
                    w.id
                ),
            ));
        }
        out.push(w.key.clone(), state, value);
    }
    Ok(out)
}

/// Persists written documents and their changes in the open transaction.
pub(super) async fn persist(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ctx: &ExecContext,
    collection: &str,
    written: &[Written],
    max_bytes: usize,
) -> Result<()> {
    let new = encode_all(written.iter().filter(|w| w.was_new), max_bytes)?;
    let old = encode_all(written.iter().filter(|w| !w.was_new), max_bytes)?;
    if !new.is_empty() {
        let inserted = repo::insert_new(tx, ctx.app_id, collection, &new).await?;
        if inserted.len() != new.len() {
            // Someone created one of these documents since we looked: retry the statement.
            return Err(concurrent_insert());
        }
    }
    if !old.is_empty() {
        repo::update_docs(tx, ctx.app_id, collection, &old).await?;
    }
    let keys: Vec<String> = new.keys.iter().chain(&old.keys).cloned().collect();
    let values: Vec<Option<Vec<u8>>> = new.values.into_iter().chain(old.values).collect();
    repo::record_changes(
        tx,
        ctx.app_id,
        collection,
        &keys,
        &values,
        ctx.origin.as_deref(),
        &ctx.actor,
    )
    .await
}

pub(super) fn concurrent_insert() -> ApiError {
    ApiError::other(
        StatusCode::CONFLICT,
        "concurrent_insert",
        "another writer created one of these documents at the same moment; retry the statement",
    )
}

/// Refuses documents past the app's quota. The count is cached for a few seconds (the quota is
/// enforced within that window); it is read on the statement's own connection.
pub(super) async fn check_quota(
    state: &AppState,
    db: impl sqlx::PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    adding: i64,
) -> Result<()> {
    let limit = state.store_limits.max_documents_per_app;
    // One statement refreshes an expired count; the others go on with the previous one.
    enum Cached {
        Fresh(i64),
        Refresh(i64),
        Missing,
    }
    let decision = {
        let mut counts = state.doc_counts.lock().unwrap_or_else(|p| p.into_inner());
        match counts.get_mut(&(org_id, app_id)) {
            Some((at, n)) if at.elapsed() < Duration::from_secs(5) => Cached::Fresh(*n),
            Some((at, n)) => {
                *at = Instant::now();
                Cached::Refresh(*n)
            }
            None => Cached::Missing,
        }
    };
    let count = match decision {
        Cached::Fresh(n) => n,
        Cached::Refresh(stale) => {
            let fresh = repo::count_docs(db, app_id).await.unwrap_or(stale);
            if let Some((_, n)) = state
                .doc_counts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&(org_id, app_id))
            {
                *n = fresh;
            }
            fresh
        }
        Cached::Missing => {
            // Counts exist only for apps already shown to be the caller's: nothing is counted
            // (or revealed) for another tenant's app.
            apps::repo::require(&state.pool, org_id, app_id).await?;
            let n = repo::count_docs(db, app_id).await?;
            state
                .doc_counts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((org_id, app_id), (Instant::now(), n));
            n
        }
    };
    if count + adding > limit {
        return Err(ApiError::other(
            StatusCode::FORBIDDEN,
            "quota_exceeded",
            format!(
                "the app holds {count} documents and may hold at most {limit}; delete documents or ask the operator for a larger quota"
            ),
        ));
    }
    Ok(())
}

/// Keeps the cached count in step once a statement committed.
pub(super) fn adjust_count(state: &AppState, org_id: Uuid, app_id: Uuid, delta: i64) {
    if let Some((_, n)) = state
        .doc_counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_mut(&(org_id, app_id))
    {
        *n += delta;
    }
}

//! Executing DQL against the Postgres-backed store. Reads evaluate in Rust over the visible JSON;
//! writes lock the documents they touch, merge CRDT deltas, and record each change in the feed,
//! all in one transaction: a statement applies completely or not at all.

use super::coalesce::{BatchKey, Outcome};
use super::model::ExecuteOut;
use super::repo;
use super::repo::DocRows;
use crate::apps;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use axum::http::StatusCode;
use edgebridge_edge::apply::{ApplyError, StampSource, apply_update, visible, write_document};
use edgebridge_edge::dql::ast::{
    CompareOp, Delete, Expr, InList, Insert, OnConflict, Projection, Select, Statement, Update,
};
use edgebridge_edge::dql::eval::{Scope, collate, eval, is_true, read_path};
use edgebridge_edge::ids::{document_key, id_from_key};
use edgebridge_edge::{DocState, ObjectMode, Stamp};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// Limits that keep one statement or one app from hurting the others.
#[derive(Debug, Clone)]
pub struct StoreLimits {
    pub max_statement_chars: usize,
    pub max_document_bytes: usize,
    /// Items a SELECT answers without LIMIT.
    pub default_result_items: usize,
    /// The largest LIMIT, and the most documents one UPDATE or DELETE may change.
    pub max_result_items: usize,
    pub max_documents_per_app: i64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_statement_chars: 64 * 1024,
            max_document_bytes: 256 * 1024,
            default_result_items: 1000,
            max_result_items: 10_000,
            max_documents_per_app: 1_000_000,
        }
    }
}

/// Who writes, how, and into which app.
pub struct ExecContext {
    pub org_id: Uuid,
    pub app_id: Uuid,
    pub actor: String,
    pub origin: Option<String>,
    pub mode: ObjectMode,
}

const SCAN_BATCH: i64 = 1000;
/// The largest OFFSET (deeper pages: a WHERE on the ORDER BY field).
const MAX_OFFSET: usize = 100_000;
/// Inserts of at most this many documents go through group commit.
const GROUP_COMMIT_MAX_DOCS: usize = 16;

fn apply_error(e: ApplyError) -> ApiError {
    match e {
        ApplyError::Eval(e) => ApiError::bad_request("dql_missing_argument", e.to_string()),
        other => ApiError::other(
            StatusCode::UNPROCESSABLE_ENTITY,
            "dql_invalid_write",
            other.to_string(),
        ),
    }
}

fn eval_error(e: edgebridge_edge::dql::eval::EvalError) -> ApiError {
    ApiError::bad_request("dql_missing_argument", e.to_string())
}

/// True when an expression reads the document anywhere (so it cannot be evaluated without one).
fn mentions_fields(e: &Expr) -> bool {
    match e {
        Expr::Path(_) => true,
        Expr::Literal(_) | Expr::Arg(_) => false,
        Expr::Array(items) => items.iter().any(mentions_fields),
        Expr::Object(members) => members.iter().any(|(_, v)| mentions_fields(v)),
        Expr::Not(x) | Expr::Neg(x) => mentions_fields(x),
        Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(_, a, b) | Expr::Arith(_, a, b) => {
            mentions_fields(a) || mentions_fields(b)
        }
        Expr::In { expr, list, .. } => {
            mentions_fields(expr)
                || match list {
                    InList::Items(items) => items.iter().any(mentions_fields),
                    InList::Array(a) => mentions_fields(a),
                }
        }
        Expr::Like { expr, pattern, .. } => mentions_fields(expr) || mentions_fields(pattern),
        Expr::IsNull { expr, .. } | Expr::IsMissing { expr, .. } => mentions_fields(expr),
    }
}

/// The documents a WHERE clause pins by `_id` (`_id = x`, `_id IN (...)` as a top-level
/// conjunct), so they are read by key instead of scanning the collection.
fn pinned_ids(filter: &Expr, args: &Map<String, Value>) -> Result<Option<Vec<Value>>> {
    let scope = Scope { doc: None, args };
    let constant = |e: &Expr| !mentions_fields(e);
    match filter {
        Expr::And(a, b) => Ok(match pinned_ids(a, args)? {
            Some(ids) => Some(ids),
            None => pinned_ids(b, args)?,
        }),
        Expr::Compare(CompareOp::Eq, a, b) => {
            let value = match (a.as_ref(), b.as_ref()) {
                (Expr::Path(p), e) | (e, Expr::Path(p)) if p.is_id() && constant(e) => {
                    eval(e, &scope).map_err(eval_error)?
                }
                _ => return Ok(None),
            };
            Ok(Some(value.into_iter().collect()))
        }
        Expr::In {
            expr,
            list,
            negated: false,
        } if matches!(expr.as_ref(), Expr::Path(p) if p.is_id()) => {
            let values = match list {
                InList::Items(items) => {
                    if !items.iter().all(constant) {
                        return Ok(None);
                    }
                    let mut out = Vec::new();
                    for item in items {
                        out.extend(eval(item, &scope).map_err(eval_error)?);
                    }
                    out
                }
                InList::Array(e) if constant(e) => match eval(e, &scope).map_err(eval_error)? {
                    Some(Value::Array(a)) => a,
                    Some(one) => vec![one],
                    None => Vec::new(),
                },
                InList::Array(_) => return Ok(None),
            };
            Ok(Some(values))
        }
        _ => Ok(None),
    }
}

fn parse_doc(bytes: &[u8]) -> Result<Map<String, Value>> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("stored document is not JSON: {e}")))
}

fn matches(
    filter: Option<&Expr>,
    doc: &Map<String, Value>,
    args: &Map<String, Value>,
) -> Result<bool> {
    match filter {
        None => Ok(true),
        Some(f) => Ok(is_true(
            &eval(
                f,
                &Scope {
                    doc: Some(doc),
                    args,
                },
            )
            .map_err(eval_error)?,
        )),
    }
}

/// Which matches a search keeps.
enum Keep<'a> {
    /// The first `n` in key order (the scan stops there).
    First(usize),
    /// The best `n` by an order: memory stays bounded by about twice `n`, however many match.
    Best(usize, &'a DocOrder<'a>),
}

/// An ORDER BY as a comparison of two documents.
type DocOrder<'f> =
    dyn Fn(&Map<String, Value>, &Map<String, Value>) -> std::cmp::Ordering + Sync + 'f;

type Found = Vec<(String, Map<String, Value>)>;

/// The visible documents a filter selects, and how many matched in all.
async fn find(
    state: &AppState,
    app_id: Uuid,
    collection: &str,
    filter: Option<&Expr>,
    args: &Map<String, Value>,
    keep: Keep<'_>,
) -> Result<(Found, usize)> {
    let mut found = Vec::new();
    let mut matched = 0;
    if let Some(ids) = filter.map(|f| pinned_ids(f, args)).transpose()?.flatten() {
        let keys: Vec<String> = ids.iter().filter_map(|id| document_key(id).ok()).collect();
        for row in repo::values_by_keys(&state.pool, app_id, collection, &keys).await? {
            let doc = parse_doc(&row.value)?;
            if matches(filter, &doc, args)? {
                found.push((row.doc_key, doc));
                matched += 1;
            }
        }
        return Ok((found, matched));
    }
    let mut after: Option<String> = None;
    loop {
        let rows = repo::scan_values(
            &state.pool,
            app_id,
            collection,
            after.as_deref(),
            SCAN_BATCH,
        )
        .await?;
        let done = (rows.len() as i64) < SCAN_BATCH;
        after = rows.last().map(|r| r.doc_key.clone());
        for row in rows {
            let doc = parse_doc(&row.value)?;
            if !matches(filter, &doc, args)? {
                continue;
            }
            found.push((row.doc_key, doc));
            matched += 1;
            match keep {
                Keep::First(n) if found.len() >= n => return Ok((found, matched)),
                Keep::Best(n, order) if found.len() >= 2 * n.max(1) => {
                    found.sort_by(|(_, a), (_, b)| order(a, b));
                    found.truncate(n);
                }
                _ => {}
            }
        }
        if done {
            return Ok((found, matched));
        }
    }
}

fn count_arg(expr: &Option<Expr>, args: &Map<String, Value>, what: &str) -> Result<Option<usize>> {
    let Some(expr) = expr else { return Ok(None) };
    match eval(expr, &Scope { doc: None, args }).map_err(eval_error)? {
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().map(|n| n as usize)),
        _ => Err(ApiError::bad_request(
            "dql_invalid_value",
            format!("{what} must be a non-negative integer"),
        )),
    }
}

fn project(doc: Map<String, Value>, projection: &Projection) -> Value {
    match projection {
        Projection::All => Value::Object(doc),
        Projection::Paths(paths) => {
            let mut out = Map::new();
            for path in paths {
                if let Some(v) = read_path(&doc, path) {
                    out.insert(path.output_name(), v.clone());
                }
            }
            Value::Object(out)
        }
    }
}

async fn select(
    state: &AppState,
    ctx: &ExecContext,
    s: Select,
    args: &Map<String, Value>,
) -> Result<ExecuteOut> {
    let limits = &state.store_limits;
    let limit = count_arg(&s.limit, args, "LIMIT")?;
    let offset = count_arg(&s.offset, args, "OFFSET")?.unwrap_or(0);
    if limit.is_some_and(|l| l > limits.max_result_items) {
        return Err(ApiError::bad_request(
            "dql_limit_too_large",
            format!(
                "LIMIT may be at most {}; page with OFFSET or narrow WHERE",
                limits.max_result_items
            ),
        ));
    }
    if offset > MAX_OFFSET {
        return Err(ApiError::bad_request(
            "dql_offset_too_large",
            format!(
                "OFFSET may be at most {MAX_OFFSET}; page with a WHERE on the ORDER BY field instead"
            ),
        ));
    }
    let mut warnings = Vec::new();
    let effective_limit = limit.unwrap_or(limits.default_result_items);
    let wanted = offset.saturating_add(effective_limit);
    let order = |a: &Map<String, Value>, b: &Map<String, Value>| {
        for key in &s.order_by {
            let ord = collate(read_path(a, &key.path), read_path(b, &key.path));
            let ord = if key.descending { ord.reverse() } else { ord };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    };
    // Without ORDER BY the key order is the order, so the scan can stop early (one extra to know
    // whether the default limit cut the answer); with it, only the best `wanted` are kept.
    let keep = if s.order_by.is_empty() {
        Keep::First(wanted.saturating_add(1))
    } else {
        Keep::Best(wanted, &order)
    };
    let (mut found, matched) = find(
        state,
        ctx.app_id,
        &s.collection,
        s.filter.as_ref(),
        args,
        keep,
    )
    .await?;
    if !s.order_by.is_empty() {
        found.sort_by(|(_, a), (_, b)| order(a, b));
    }
    if limit.is_none() && matched.saturating_sub(offset) > effective_limit {
        warnings.push(format!(
            "the result was cut to {effective_limit} documents; use LIMIT and OFFSET to page through all of them"
        ));
    }
    let items: Vec<Value> = found
        .into_iter()
        .skip(offset)
        .take(effective_limit)
        .map(|(_, doc)| project(doc, &s.projection))
        .collect();
    Ok(ExecuteOut {
        query_type: "select".into(),
        items,
        mutated_document_ids: Vec::new(),
        total_warnings_count: warnings.len(),
        warnings,
    })
}

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
async fn persist(
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

fn concurrent_insert() -> ApiError {
    ApiError::other(
        StatusCode::CONFLICT,
        "concurrent_insert",
        "another writer created one of these documents at the same moment; retry the statement",
    )
}

/// Refuses documents past the app's quota. The count is cached for a few seconds (the quota is
/// enforced within that window); it is read on the statement's own connection.
async fn check_quota(
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
fn adjust_count(state: &AppState, org_id: Uuid, app_id: Uuid, delta: i64) {
    if let Some((_, n)) = state
        .doc_counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_mut(&(org_id, app_id))
    {
        *n += delta;
    }
}

/// Inserts documents. The `optimistic` attempt assumes every `_id` is new and skips reading:
/// one statement writes the documents and their changes. If any `_id` turns out to be taken,
/// the attempt is rolled back and the statement runs again, locking and merging what exists.
async fn insert(
    state: &AppState,
    ctx: &ExecContext,
    s: Insert,
    args: &Map<String, Value>,
    optimistic: bool,
) -> Result<ExecuteOut> {
    // Evaluate every document first: nothing is written if any is invalid.
    let mut docs: Vec<(String, Value, Map<String, Value>)> = Vec::with_capacity(s.documents.len());
    let scope = Scope { doc: None, args };
    for (i, expr) in s.documents.iter().enumerate() {
        let doc = match eval(expr, &scope).map_err(eval_error)? {
            Some(Value::Object(doc)) => doc,
            _ => {
                return Err(ApiError::other(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_document",
                    format!("document {} of the INSERT is not an object", i + 1),
                ));
            }
        };
        let id = doc
            .get("_id")
            .cloned()
            .unwrap_or_else(|| Value::String(Uuid::now_v7().to_string()));
        let key = document_key(&id).map_err(|e| {
            ApiError::other(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_document_id",
                format!("document {}: {e}", i + 1),
            )
        })?;
        docs.push((key, id, doc));
    }
    let keys: Vec<String> = docs.iter().map(|(k, _, _)| k.clone()).collect();
    // The optimistic attempt reads nothing and holds no transaction open.
    let mut tx = if optimistic {
        None
    } else {
        let mut tx = crate::db::begin(&state.pool).await?;
        apps::repo::lock_shared(&mut tx, ctx.org_id, ctx.app_id).await?;
        Some(tx)
    };
    let existing: BTreeMap<String, repo::DocRow> = match &mut tx {
        None => BTreeMap::new(),
        Some(tx) => repo::lock_docs(tx, ctx.app_id, &s.collection, &keys)
            .await?
            .into_iter()
            .map(|r| (r.doc_key.clone(), r))
            .collect(),
    };

    let mut stamps = Stamps {
        state,
        actor: &ctx.actor,
    };
    let mut written: Vec<Written> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut mutated = Vec::new();
    let mut created = 0i64;
    for (key, id, doc) in docs {
        // The state to build on: written earlier in this statement, stored, or nothing.
        let (mut doc_state, was_new) = match index.get(&key) {
            Some(&i) => (written[i].state.clone(), written[i].was_new),
            None => match existing.get(&key) {
                Some(row) => (
                    serde_json::from_slice::<DocState>(&row.state)
                        .map_err(|e| ApiError::Internal(e.into()))?,
                    false,
                ),
                None => (DocState::default(), true),
            },
        };
        if doc_state.exists() {
            match s.on_conflict {
                OnConflict::Fail => {
                    return Err(ApiError::other(
                        StatusCode::CONFLICT,
                        "document_id_conflict",
                        format!(
                            "a document with _id {id} already exists in `{}`; use ON ID CONFLICT DO UPDATE or DO NOTHING",
                            s.collection
                        ),
                    ));
                }
                OnConflict::DoNothing => continue,
                OnConflict::DoUpdate => {}
            }
        } else {
            created += 1;
        }
        stamps.observe(&doc_state);
        write_document(&mut doc_state, &doc, ctx.mode, &mut stamps);
        mutated.push(id.clone());
        match index.get(&key) {
            Some(&i) => written[i].state = doc_state,
            None => {
                index.insert(key.clone(), written.len());
                written.push(Written {
                    key,
                    id,
                    state: doc_state,
                    was_new,
                });
            }
        }
    }
    let max_bytes = state.store_limits.max_document_bytes;
    match tx {
        None => {
            if created > 0 {
                check_quota(state, &state.pool, ctx.org_id, ctx.app_id, created).await?;
            }
            let rows = encode_all(written.iter(), max_bytes)?;
            let key = BatchKey {
                org_id: ctx.org_id,
                app_id: ctx.app_id,
                collection: s.collection.clone(),
                origin: ctx.origin.clone(),
                actor: ctx.actor.clone(),
            };
            // Small inserts share statements; large ones already amortize theirs and are better
            // run side by side.
            let outcome = if rows.len() <= GROUP_COMMIT_MAX_DOCS {
                state.insert_batches.insert(&state.pool, key, rows).await?
            } else {
                Outcome::RefusedShared(rows)
            };
            let written_alone = match outcome {
                Outcome::Written => true,
                Outcome::Refused => false,
                Outcome::RefusedShared(rows) => {
                    repo::insert_fresh(
                        &state.pool,
                        ctx.org_id,
                        ctx.app_id,
                        &s.collection,
                        &rows,
                        ctx.origin.as_deref(),
                        &ctx.actor,
                    )
                    .await?
                }
            };
            if !written_alone {
                return Err(concurrent_insert());
            }
        }
        Some(mut tx) => {
            if created > 0 {
                check_quota(state, &mut *tx, ctx.org_id, ctx.app_id, created).await?;
            }
            if !written.is_empty() {
                persist(&mut tx, ctx, &s.collection, &written, max_bytes).await?;
            }
            tx.commit().await?;
        }
    }
    adjust_count(state, ctx.org_id, ctx.app_id, created);
    if !written.is_empty() {
        state.store_notifications.changed(ctx.app_id);
    }
    Ok(write_result("insert", mutated))
}

fn write_result(query_type: &str, mutated: Vec<Value>) -> ExecuteOut {
    ExecuteOut {
        query_type: query_type.into(),
        items: Vec::new(),
        mutated_document_ids: mutated,
        warnings: Vec::new(),
        total_warnings_count: 0,
    }
}

/// The keys of the documents a write's WHERE selects (read before the write's transaction, so
/// one statement never holds two connections).
async fn matching_keys(
    state: &AppState,
    ctx: &ExecContext,
    collection: &str,
    filter: &Expr,
    args: &Map<String, Value>,
) -> Result<Vec<String>> {
    let max = state.store_limits.max_result_items;
    let (found, _) = find(
        state,
        ctx.app_id,
        collection,
        Some(filter),
        args,
        Keep::First(max + 1),
    )
    .await?;
    if found.len() > max {
        return Err(ApiError::other(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_documents",
            format!(
                "the statement would change more than {max} documents; narrow WHERE and repeat"
            ),
        ));
    }
    Ok(found.into_iter().map(|(k, _)| k).collect())
}

/// Locks the selected documents and rechecks the filter on the locked versions (a document
/// changed in between is judged as it is now).
async fn lock_matching(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    ctx: &ExecContext,
    collection: &str,
    keys: &[String],
    filter: &Expr,
    args: &Map<String, Value>,
) -> Result<Vec<(String, Map<String, Value>, DocState)>> {
    let mut out = Vec::with_capacity(keys.len());
    for row in repo::lock_docs(tx, ctx.app_id, collection, keys).await? {
        let Some(value) = &row.value else { continue };
        let doc = parse_doc(value)?;
        if !matches(Some(filter), &doc, args)? {
            continue;
        }
        let doc_state: DocState =
            serde_json::from_slice(&row.state).map_err(|e| ApiError::Internal(e.into()))?;
        out.push((row.doc_key, doc, doc_state));
    }
    Ok(out)
}

/// Locks the documents a WHERE selects, applies `change` to each, and records the result: the
/// body of UPDATE and DELETE.
#[allow(clippy::too_many_arguments)]
async fn rewrite_matching(
    state: &AppState,
    ctx: &ExecContext,
    query_type: &str,
    collection: &str,
    filter: &Expr,
    args: &Map<String, Value>,
    mut change: impl FnMut(&mut DocState, &Map<String, Value>, &mut Stamps<'_>) -> Result<()>,
) -> Result<ExecuteOut> {
    let keys = matching_keys(state, ctx, collection, filter, args).await?;
    let mut tx = crate::db::begin(&state.pool).await?;
    apps::repo::lock_shared(&mut tx, ctx.org_id, ctx.app_id).await?;
    let targets = lock_matching(&mut tx, ctx, collection, &keys, filter, args).await?;
    let mut stamps = Stamps {
        state,
        actor: &ctx.actor,
    };
    let mut written = Vec::with_capacity(targets.len());
    for (key, before, mut doc_state) in targets {
        stamps.observe(&doc_state);
        change(&mut doc_state, &before, &mut stamps)?;
        written.push(Written {
            id: id_from_key(&key),
            key,
            state: doc_state,
            was_new: false,
        });
    }
    if written.is_empty() {
        tx.rollback().await?;
        return Ok(write_result(query_type, Vec::new()));
    }
    persist(
        &mut tx,
        ctx,
        collection,
        &written,
        state.store_limits.max_document_bytes,
    )
    .await?;
    tx.commit().await?;
    // Every target existed; the ones that no longer do were deleted.
    let removed = written.iter().filter(|w| !w.state.exists()).count() as i64;
    adjust_count(state, ctx.org_id, ctx.app_id, -removed);
    state.store_notifications.changed(ctx.app_id);
    Ok(write_result(
        query_type,
        written.into_iter().map(|w| w.id).collect(),
    ))
}

async fn update(
    state: &AppState,
    ctx: &ExecContext,
    s: Update,
    args: &Map<String, Value>,
) -> Result<ExecuteOut> {
    rewrite_matching(
        state,
        ctx,
        "update",
        &s.collection,
        &s.filter,
        args,
        |doc, before, stamps| {
            apply_update(doc, before, &s.actions, args, ctx.mode, stamps).map_err(apply_error)
        },
    )
    .await
}

async fn delete(
    state: &AppState,
    ctx: &ExecContext,
    s: Delete,
    args: &Map<String, Value>,
) -> Result<ExecuteOut> {
    rewrite_matching(
        state,
        ctx,
        "delete",
        &s.collection,
        &s.filter,
        args,
        |doc, _, stamps| {
            doc.join(&DocState::delete_delta(&stamps.next_stamp()));
            Ok(())
        },
    )
    .await
}

pub async fn execute(
    state: &AppState,
    ctx: &ExecContext,
    statement: Statement,
    args: &Map<String, Value>,
) -> Result<ExecuteOut> {
    // Every argument the statement names must be given, whatever the data.
    if let Some(missing) = edgebridge_edge::dql::arguments(&statement)
        .into_iter()
        .find(|name| !args.contains_key(name))
    {
        return Err(ApiError::bad_request(
            "dql_missing_argument",
            format!("the statement uses :{missing} but `args` has no `{missing}`"),
        ));
    }
    // INSERT checks the app inside its own statements; the others check it first.
    if !matches!(statement, Statement::Insert(_)) {
        apps::repo::require(&state.pool, ctx.org_id, ctx.app_id).await?;
    }
    match statement {
        Statement::Select(s) => select(state, ctx, s, args).await,
        Statement::Insert(s) => {
            // Two writers creating the same new `_id` at once: the loser retries on the
            // winner's document (it then conflicts, merges or skips as the statement says).
            let mut attempt = 0;
            loop {
                match insert(state, ctx, s.clone(), args, attempt == 0).await {
                    Err(ApiError::Other {
                        code: "concurrent_insert",
                        ..
                    }) if attempt < 4 => attempt += 1,
                    other => return other,
                }
            }
        }
        Statement::Update(s) => update(state, ctx, s, args).await,
        Statement::Delete(s) => delete(state, ctx, s, args).await,
    }
}

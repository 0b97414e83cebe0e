//! INSERT, UPDATE and DELETE. Each applies completely or not at all: the documents are locked,
//! merged as CRDT deltas and recorded in the feed in one transaction. Evaluating the statement
//! (its documents, its WHERE on the locked documents, its SET values) is budgeted work.

use super::persist::{
    Stamps, Written, adjust_count, check_quota, concurrent_insert, encode_all, persist,
};
use super::scan::{Keep, Search, find, parse_doc};
use super::work::{self, Stop};
use super::{ExecContext, write_result};
use crate::apps;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::store::coalesce::{BatchKey, Outcome};
use crate::store::model::ExecuteOut;
use crate::store::repo;
use axum::http::StatusCode;
use edgebridge_edge::apply::{apply_actions, evaluate_actions, write_document_checked};
use edgebridge_edge::dql::ast::{Expr, Insert, OnConflict, UpdateAction};
use edgebridge_edge::dql::budget::Budget;
use edgebridge_edge::dql::eval::{EvalError, Scope, evaluate, test};
use edgebridge_edge::ids::{document_key, id_from_key};
use edgebridge_edge::{DocState, ObjectMode};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// Inserts of at most this many documents go through group commit.
const GROUP_COMMIT_MAX_DOCS: usize = 16;

/// An INSERT's documents: key, `_id` and value.
pub(super) type NewDocuments = Vec<(String, Value, Map<String, Value>)>;

/// Rewinds `budget` to `mark` when a step pauses (it will run again from the start).
fn restart_on_pause<T>(result: Result<T, Stop>, budget: &mut Budget, mark: u64) -> Result<T, Stop> {
    if matches!(result, Err(Stop::Eval(EvalError::Paused))) {
        budget.rewind(mark);
    }
    result
}

/// Evaluates an INSERT's documents (nothing is written if any is invalid).
pub(super) async fn evaluate_documents(
    s: &Insert,
    args: &Arc<Map<String, Value>>,
    budget: &mut Budget,
) -> Result<NewDocuments> {
    let documents = Arc::new(s.documents.clone());
    let args = args.clone();
    work::run_plain(budget, move |budget| {
        let mark = budget.used();
        let result = (|| {
            let scope = Scope {
                doc: None,
                args: &args,
            };
            let mut docs = Vec::with_capacity(documents.len());
            for (i, expr) in documents.iter().enumerate() {
                docs.push(new_document(i, evaluate(expr, &scope, budget)?)?);
            }
            Ok(docs)
        })();
        restart_on_pause(result, budget, mark)
    })
    .await
}

fn new_document(
    i: usize,
    value: Option<Cow<'_, Value>>,
) -> Result<(String, Value, Map<String, Value>), Stop> {
    let Some(Value::Object(doc)) = value.map(Cow::into_owned) else {
        return Err(Stop::Api(ApiError::other(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_document",
            format!("document {} of the INSERT is not an object", i + 1),
        )));
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
    Ok((key, id, doc))
}

/// Inserts documents. The `optimistic` attempt assumes every `_id` is new and skips reading:
/// one statement writes the documents and their changes. If any `_id` turns out to be taken,
/// the attempt is rolled back and the statement runs again, locking and merging what exists.
pub(super) async fn insert(
    state: &AppState,
    ctx: &ExecContext,
    s: &Insert,
    docs: &NewDocuments,
    optimistic: bool,
) -> Result<ExecuteOut> {
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
        let (mut doc_state, was_new) = match index.get(key) {
            Some(&i) => (written[i].state.clone(), written[i].was_new),
            None => match existing.get(key) {
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
        write_document_checked(&mut doc_state, doc, ctx.mode, &mut stamps)
            .map_err(work::apply_error)?;
        mutated.push(id.clone());
        match index.get(key) {
            Some(&i) => written[i].state = doc_state,
            None => {
                index.insert(key.clone(), written.len());
                written.push(Written {
                    key: key.clone(),
                    id: id.clone(),
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

/// What an UPDATE or DELETE does to each document it selects.
pub(super) struct Rewrite {
    pub query_type: &'static str,
    pub collection: String,
    pub filter: Expr,
    /// The UPDATE's actions; `None` deletes.
    pub actions: Option<Vec<UpdateAction>>,
}

/// The keys of the documents a write's WHERE selects (read before the write's transaction, so
/// one statement never holds two connections).
async fn matching_keys(
    state: &AppState,
    ctx: &ExecContext,
    rewrite: &Rewrite,
    args: &Arc<Map<String, Value>>,
    budget: &mut Budget,
) -> Result<Vec<String>> {
    let max = state.store_limits.max_result_items;
    let search = Arc::new(Search {
        filter: Some(rewrite.filter.clone()),
        args: args.clone(),
        order_by: Vec::new(),
        keep: Keep::First(max + 1),
        keep_docs: false,
    });
    let found = find(state, ctx.app_id, &rewrite.collection, search, budget).await?;
    if found.found.len() > max {
        return Err(ApiError::other(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_documents",
            format!(
                "the statement would change more than {max} documents; narrow WHERE and repeat"
            ),
        ));
    }
    Ok(found.found.into_iter().map(|(k, _)| k).collect())
}

/// Rechecks the filter on the locked versions of the documents (a document changed in between
/// is judged as it is now) and changes those that still match.
fn change_locked(
    rows: &[repo::DocRow],
    rewrite: &Rewrite,
    args: &Map<String, Value>,
    mode: ObjectMode,
    stamps: &mut Stamps<'_>,
    budget: &mut Budget,
) -> Result<Vec<Written>, Stop> {
    let mut written = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(value) = &row.value else { continue };
        let before = parse_doc(value, budget)?;
        let scope = Scope {
            doc: Some(&before),
            args,
        };
        if !test(&rewrite.filter, &scope, budget)? {
            continue;
        }
        budget.charge_parse(row.state.len())?;
        let mut doc_state: DocState =
            serde_json::from_slice(&row.state).map_err(|e| ApiError::Internal(e.into()))?;
        stamps.observe(&doc_state);
        match &rewrite.actions {
            Some(actions) => {
                let values = evaluate_actions(&before, actions, args, budget)?;
                apply_actions(&mut doc_state, actions, values, mode, stamps)?;
            }
            None => {
                use edgebridge_edge::apply::StampSource;
                doc_state.join(&DocState::delete_delta(&stamps.next_stamp()));
            }
        }
        written.push(Written {
            id: id_from_key(&row.doc_key),
            key: row.doc_key.clone(),
            state: doc_state,
            was_new: false,
        });
    }
    Ok(written)
}

/// Locks the documents a WHERE selects, changes each, and records the result: the body of
/// UPDATE and DELETE.
pub(super) async fn rewrite_matching(
    state: &AppState,
    ctx: &ExecContext,
    rewrite: Rewrite,
    args: &Arc<Map<String, Value>>,
    budget: &mut Budget,
) -> Result<ExecuteOut> {
    let keys = matching_keys(state, ctx, &rewrite, args, budget).await?;
    let mut tx = crate::db::begin(&state.pool).await?;
    apps::repo::lock_shared(&mut tx, ctx.org_id, ctx.app_id).await?;
    let rows = repo::lock_docs(&mut tx, ctx.app_id, &rewrite.collection, &keys).await?;
    let rewrite = Arc::new(rewrite);
    let job = rewrite.clone();
    let (app, actor, args_owned, mode) = (state.clone(), ctx.actor.clone(), args.clone(), ctx.mode);
    let (_, written) = work::run(budget, rows, move |rows, budget| {
        let mark = budget.used();
        let mut stamps = Stamps {
            state: &app,
            actor: &actor,
        };
        let result = change_locked(rows, &job, &args_owned, mode, &mut stamps, budget);
        restart_on_pause(result, budget, mark)
    })
    .await?;
    if written.is_empty() {
        tx.rollback().await?;
        return Ok(write_result(rewrite.query_type, Vec::new()));
    }
    persist(
        &mut tx,
        ctx,
        &rewrite.collection,
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
        rewrite.query_type,
        written.into_iter().map(|w| w.id).collect(),
    ))
}

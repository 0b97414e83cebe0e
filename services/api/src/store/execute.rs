//! Executing DQL against the Postgres-backed store. Reads evaluate in Rust over the visible JSON;
//! writes lock the documents they touch, merge CRDT deltas, and record each change in the feed,
//! all in one transaction: a statement applies completely or not at all.
//!
//! Evaluation is bounded: each statement has a budget of work ([`StoreLimits::max_statement_work`])
//! and of time ([`StoreLimits::max_statement_time`]), and its costly steps run in the blocking
//! pool, so one tenant's heavy statement never holds the async workers others need
//! ([`work`]). Running out answers `statement_budget_exceeded` or `statement_timeout` (422).

mod persist;
mod read;
mod scan;
mod work;
mod write;

pub(crate) use persist::{Stamps, Written, encode_all};

use super::model::ExecuteOut;
use crate::apps;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use edgebridge_edge::ObjectMode;
use edgebridge_edge::dql::ast::Statement;
use edgebridge_edge::dql::budget::Budget;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    /// Units of evaluation work one statement may do (an expression step, a value compared, a
    /// LIKE step, 16 bytes of document parsed: a few nanoseconds each).
    pub max_statement_work: u64,
    /// How long one statement may evaluate. (It also stops when its request ends.)
    pub max_statement_time: Duration,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_statement_chars: 64 * 1024,
            max_document_bytes: 256 * 1024,
            default_result_items: 1000,
            max_result_items: 10_000,
            max_documents_per_app: 1_000_000,
            max_statement_work: 500_000_000,
            max_statement_time: Duration::from_secs(20),
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

/// The largest OFFSET (deeper pages: a WHERE on the ORDER BY field).
const MAX_OFFSET: usize = 100_000;

fn write_result(query_type: &str, mutated: Vec<Value>) -> ExecuteOut {
    ExecuteOut {
        query_type: query_type.into(),
        items: Vec::new(),
        mutated_document_ids: mutated,
        warnings: Vec::new(),
        total_warnings_count: 0,
    }
}

fn read_result(items: Vec<Value>, warnings: Vec<String>) -> ExecuteOut {
    ExecuteOut {
        query_type: "select".into(),
        items,
        mutated_document_ids: Vec::new(),
        total_warnings_count: warnings.len(),
        warnings,
    }
}

pub async fn execute(
    state: &AppState,
    ctx: &ExecContext,
    statement: Statement,
    args: Map<String, Value>,
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
    let limits = &state.store_limits;
    let mut budget = Budget::new(limits.max_statement_work)
        .with_deadline(Instant::now() + limits.max_statement_time);
    // Shared with the steps that evaluate the statement (wherever they run).
    let args = Arc::new(args);
    match statement {
        Statement::Select(s) => read::select(state, ctx, s, &args, &mut budget).await,
        Statement::Insert(s) => {
            let docs = write::evaluate_documents(&s, &args, &mut budget).await?;
            // Two writers creating the same new `_id` at once: the loser retries on the
            // winner's document (it then conflicts, merges or skips as the statement says).
            let mut attempt = 0;
            loop {
                match write::insert(state, ctx, &s, &docs, attempt == 0).await {
                    Err(ApiError::Other {
                        code: "concurrent_insert",
                        ..
                    }) if attempt < 4 => attempt += 1,
                    other => return other,
                }
            }
        }
        Statement::Update(s) => {
            let rewrite = write::Rewrite {
                query_type: "update",
                collection: s.collection,
                filter: s.filter,
                actions: Some(s.actions),
            };
            write::rewrite_matching(state, ctx, rewrite, &args, &mut budget).await
        }
        Statement::Delete(s) => {
            let rewrite = write::Rewrite {
                query_type: "delete",
                collection: s.collection,
                filter: s.filter,
                actions: None,
            };
            write::rewrite_matching(state, ctx, rewrite, &args, &mut budget).await
        }
    }
}

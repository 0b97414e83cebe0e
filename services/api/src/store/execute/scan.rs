//! Finding the documents a WHERE selects: by key when it pins `_id`, otherwise by scanning the
//! collection in batches. Parsing and testing each batch is a step of [`work::run`], charged to
//! the statement's budget.

use super::work::{self, Stop};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::store::repo::{self, ValueRow};
use edgebridge_edge::dql::ast::{CompareOp, Expr, InList, OrderBy};
use edgebridge_edge::dql::budget::Budget;
use edgebridge_edge::dql::eval::{EvalError, Scope, evaluate, test};
use edgebridge_edge::dql::order::{compare_documents, try_sort_by};
use edgebridge_edge::ids::document_key;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::Arc;
use uuid::Uuid;

const SCAN_BATCH: i64 = 1000;

/// Which matches a search keeps.
#[derive(Debug, Clone, Copy)]
pub(super) enum Keep {
    /// The first `n` in key order (the scan stops there).
    First(usize),
    /// The best `n` by the ORDER BY: memory stays bounded by about twice `n`, however many match.
    Best(usize),
    /// None: only how many match.
    Count,
}

/// What a search looks for (shared with the steps that run it).
pub(super) struct Search {
    pub filter: Option<Expr>,
    pub args: Arc<Map<String, Value>>,
    pub order_by: Vec<OrderBy>,
    pub keep: Keep,
    /// Whether the matching documents themselves are wanted, or only their keys.
    pub keep_docs: bool,
}

pub(super) type Found = Vec<(String, Map<String, Value>)>;

/// A search under way: the rows of the batch at hand and what matched so far.
pub(super) struct Matches {
    search: Arc<Search>,
    rows: Vec<ValueRow>,
    next: usize,
    pub found: Found,
    /// How many matched in all (also those `Keep` let go).
    pub matched: usize,
    /// `Keep::First` has all it wants.
    pub full: bool,
}

pub(super) fn parse_doc(bytes: &[u8], budget: &mut Budget) -> Result<Map<String, Value>, Stop> {
    budget.charge_parse(bytes.len())?;
    serde_json::from_slice(bytes).map_err(|e| {
        Stop::Api(ApiError::Internal(anyhow::anyhow!(
            "stored document is not JSON: {e}"
        )))
    })
}

impl Matches {
    pub fn new(search: Arc<Search>) -> Self {
        Self {
            search,
            rows: Vec::new(),
            next: 0,
            found: Vec::new(),
            matched: 0,
            full: false,
        }
    }

    /// Tests one document (a step may stop here; it then has changed nothing).
    pub fn offer(
        &mut self,
        key: &str,
        doc: Map<String, Value>,
        budget: &mut Budget,
    ) -> Result<(), Stop> {
        let search = self.search.clone();
        if let Some(filter) = &search.filter {
            let scope = Scope {
                doc: Some(&doc),
                args: &search.args,
            };
            if !test(filter, &scope, budget)? {
                return Ok(());
            }
        }
        match search.keep {
            Keep::Count => {}
            Keep::First(n) => {
                self.full = self.found.len() + 1 >= n;
            }
            Keep::Best(n) => {
                if self.found.len() >= 2 * n.max(1) {
                    // Before this one is added, so a stop here leaves nothing half done.
                    self.trim(n, budget)?;
                }
            }
        }
        self.matched += 1;
        if !matches!(search.keep, Keep::Count) {
            let doc = if search.keep_docs { doc } else { Map::new() };
            self.found.push((key.to_owned(), doc));
        }
        Ok(())
    }

    fn trim(&mut self, n: usize, budget: &mut Budget) -> Result<(), Stop> {
        let order_by = &self.search.order_by;
        try_sort_by(&mut self.found, |(_, a), (_, b)| {
            compare_documents(a, b, order_by, budget)
        })?;
        self.found.truncate(n);
        Ok(())
    }

    /// Puts the matches in ORDER BY order (restartable: a stop leaves them as they were).
    pub fn sort(&mut self, budget: &mut Budget) -> Result<(), Stop> {
        let mark = budget.used();
        let order_by = &self.search.order_by;
        try_sort_by(&mut self.found, |(_, a), (_, b)| {
            compare_documents(a, b, order_by, budget)
        })
        .inspect_err(|e| {
            if *e == EvalError::Paused {
                budget.rewind(mark);
            }
        })?;
        Ok(())
    }

    /// Tests the rows of the batch at hand, from where the last step stopped.
    fn feed(&mut self, budget: &mut Budget) -> Result<(), Stop> {
        while self.next < self.rows.len() && !self.full {
            let mark = budget.used();
            let row = &self.rows[self.next];
            let key = row.doc_key.clone();
            let result =
                parse_doc(&row.value, budget).and_then(|doc| self.offer(&key, doc, budget));
            if let Err(Stop::Eval(EvalError::Paused)) = result {
                budget.rewind(mark);
            }
            result?;
            self.next += 1;
        }
        self.rows.clear();
        self.next = 0;
        Ok(())
    }

    /// Tests a batch of rows, inline or in the blocking pool.
    pub async fn feed_rows(self, rows: Vec<ValueRow>, budget: &mut Budget) -> Result<Self> {
        let mut this = self;
        this.rows = rows;
        this.next = 0;
        let (this, ()) = work::run(budget, this, Matches::feed).await?;
        Ok(this)
    }
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
fn pinned_ids(
    filter: &Expr,
    args: &Map<String, Value>,
    budget: &mut Budget,
) -> Result<Option<Vec<Value>>, Stop> {
    let scope = Scope { doc: None, args };
    let constant = |e: &Expr| !mentions_fields(e);
    match filter {
        Expr::And(a, b) => Ok(match pinned_ids(a, args, budget)? {
            Some(ids) => Some(ids),
            None => pinned_ids(b, args, budget)?,
        }),
        Expr::Compare(CompareOp::Eq, a, b) => {
            let value = match (a.as_ref(), b.as_ref()) {
                (Expr::Path(p), e) | (e, Expr::Path(p)) if p.is_id() && constant(e) => {
                    evaluate(e, &scope, budget)?
                }
                _ => return Ok(None),
            };
            Ok(Some(value.map(Cow::into_owned).into_iter().collect()))
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
                        out.extend(evaluate(item, &scope, budget)?.map(Cow::into_owned));
                    }
                    out
                }
                InList::Array(e) if constant(e) => {
                    match evaluate(e, &scope, budget)?.map(Cow::into_owned) {
                        Some(Value::Array(a)) => a,
                        Some(one) => vec![one],
                        None => Vec::new(),
                    }
                }
                InList::Array(_) => return Ok(None),
            };
            Ok(Some(values))
        }
        _ => Ok(None),
    }
}

/// The visible documents the search selects.
pub(super) async fn find(
    state: &AppState,
    app_id: Uuid,
    collection: &str,
    search: Arc<Search>,
    budget: &mut Budget,
) -> Result<Matches> {
    let mut matches = Matches::new(search.clone());
    let pinned = match &search.filter {
        None => None,
        Some(_) => {
            let s = search.clone();
            work::run_plain(budget, move |budget| {
                let Some(filter) = &s.filter else {
                    return Ok(None);
                };
                let mark = budget.used();
                pinned_ids(filter, &s.args, budget).inspect_err(|e| {
                    if matches!(e, Stop::Eval(EvalError::Paused)) {
                        budget.rewind(mark);
                    }
                })
            })
            .await?
        }
    };
    if let Some(ids) = pinned {
        let keys: Vec<String> = ids.iter().filter_map(|id| document_key(id).ok()).collect();
        let rows = state
            .point_reads
            .read(&state.pool, app_id, collection, keys)
            .await?;
        return matches.feed_rows(rows, budget).await;
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
        matches = matches.feed_rows(rows, budget).await?;
        if done || matches.full {
            return Ok(matches);
        }
        budget.check_time().map_err(work::eval_error)?;
    }
}

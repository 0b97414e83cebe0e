//! SELECT: over a collection (by key, or by scanning it), with `COUNT(*)` (counted in the
//! database when there is no WHERE), and over `system:collections` (the app's collections with
//! their visible documents, counted in the database).

use super::scan::{Keep, Matches, Search, find};
use super::work::{self, Stop};
use super::{ExecContext, MAX_OFFSET};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::store::model::ExecuteOut;
use crate::store::repo;
use edgebridge_edge::dql::ast::{Expr, Projection, Select, Source, SystemCollection};
use edgebridge_edge::dql::budget::Budget;
use edgebridge_edge::dql::eval::{EvalError, Scope, evaluate, read_path, weight};
use serde_json::{Map, Value};
use std::sync::Arc;

/// LIMIT or OFFSET: a non-negative integer computed without a document.
async fn count_arg(
    expr: &Option<Expr>,
    args: &Arc<Map<String, Value>>,
    what: &'static str,
    budget: &mut Budget,
) -> Result<Option<usize>> {
    let Some(expr) = expr else { return Ok(None) };
    let (expr, args) = (expr.clone(), args.clone());
    let value = work::run_plain(budget, move |budget| {
        let scope = Scope {
            doc: None,
            args: &args,
        };
        Ok(evaluate(&expr, &scope, budget)?.map(|v| v.into_owned()))
    })
    .await?;
    match value {
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().map(|n| n as usize)),
        _ => Err(ApiError::bad_request(
            "dql_invalid_value",
            format!("{what} must be a non-negative integer"),
        )),
    }
}

/// The projected fields of one document.
fn project(
    doc: &Map<String, Value>,
    paths: &[edgebridge_edge::dql::ast::Path],
    budget: &mut Budget,
) -> Result<Value, EvalError> {
    let mut out = Map::new();
    for path in paths {
        budget.charge(path.0.len() as u64)?;
        if let Some(v) = read_path(doc, path) {
            budget.charge(weight(v))?;
            out.insert(path.output_name(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

/// The rows of a system collection, as documents.
async fn system_rows(
    state: &AppState,
    ctx: &ExecContext,
    system: SystemCollection,
) -> Result<Vec<(String, Map<String, Value>)>> {
    match system {
        SystemCollection::Collections => {
            let counts = repo::collection_counts(&state.pool, ctx.app_id).await?;
            Ok(counts
                .into_iter()
                .map(|(name, documents)| {
                    let mut doc = Map::new();
                    doc.insert("name".into(), Value::String(name.clone()));
                    doc.insert("documents".into(), Value::from(documents));
                    (name, doc)
                })
                .collect())
        }
    }
}

/// Offers every row of a system collection to the search.
async fn search_system(
    rows: Vec<(String, Map<String, Value>)>,
    matches: Matches,
    budget: &mut Budget,
) -> Result<Matches> {
    let (matches, ()) = work::run(
        budget,
        (matches, rows, 0usize),
        |(m, rows, next), budget| {
            while *next < rows.len() && !m.full {
                let mark = budget.used();
                let (key, doc) = &rows[*next];
                if let Err(e) = m.offer(key, doc.clone(), budget) {
                    if matches!(e, Stop::Eval(EvalError::Paused)) {
                        budget.rewind(mark);
                    }
                    return Err(e);
                }
                *next += 1;
            }
            Ok(())
        },
    )
    .await
    .map(|((m, _, _), ())| (m, ()))?;
    Ok(matches)
}

pub(super) async fn select(
    state: &AppState,
    ctx: &ExecContext,
    s: Select,
    args: &Arc<Map<String, Value>>,
    budget: &mut Budget,
) -> Result<ExecuteOut> {
    let limits = &state.store_limits;
    let limit = count_arg(&s.limit, args, "LIMIT", budget).await?;
    let offset = count_arg(&s.offset, args, "OFFSET", budget)
        .await?
        .unwrap_or(0);
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
    if let Projection::Count { name } = &s.projection {
        let n = count(state, ctx, &s, args, budget).await?;
        let mut row = Map::new();
        row.insert(name.clone(), Value::from(n));
        // COUNT(*) answers one row; LIMIT and OFFSET apply to it.
        let items = if offset == 0 && limit != Some(0) {
            vec![Value::Object(row)]
        } else {
            Vec::new()
        };
        return Ok(super::read_result(items, Vec::new()));
    }
    let effective_limit = limit.unwrap_or(limits.default_result_items);
    let wanted = offset.saturating_add(effective_limit);
    // Without ORDER BY the key order is the order, so the scan can stop early (one extra to know
    // whether the default limit cut the answer); with it, only the best `wanted` are kept.
    let keep = if s.order_by.is_empty() {
        Keep::First(wanted.saturating_add(1))
    } else {
        Keep::Best(wanted)
    };
    let search = Arc::new(Search {
        filter: s.filter.clone(),
        args: args.clone(),
        order_by: s.order_by.clone(),
        keep,
        keep_docs: true,
    });
    let mut matches = match &s.from {
        Source::Collection(c) => find(state, ctx.app_id, c, search, budget).await?,
        Source::System(system) => {
            let rows = system_rows(state, ctx, *system).await?;
            search_system(rows, Matches::new(search), budget).await?
        }
    };
    if !s.order_by.is_empty() {
        let (sorted, ()) = work::run(budget, matches, |m, budget| m.sort(budget)).await?;
        matches = sorted;
    }
    let mut warnings = Vec::new();
    if limit.is_none() && matches.matched.saturating_sub(offset) > effective_limit {
        warnings.push(format!(
            "the result was cut to {effective_limit} documents; use LIMIT and OFFSET to page through all of them"
        ));
    }
    let page: Vec<Map<String, Value>> = matches
        .found
        .into_iter()
        .skip(offset)
        .take(effective_limit)
        .map(|(_, doc)| doc)
        .collect();
    let Projection::Paths(paths) = s.projection else {
        let items = page.into_iter().map(Value::Object).collect();
        return Ok(super::read_result(items, warnings));
    };
    let (_, items) = work::run(budget, page, move |page, budget| {
        let mark = budget.used();
        let mut items = Vec::with_capacity(page.len());
        for doc in page.iter() {
            match project(doc, &paths, budget) {
                Ok(item) => items.push(item),
                Err(e) => {
                    if e == EvalError::Paused {
                        budget.rewind(mark);
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(items)
    })
    .await?;
    Ok(super::read_result(items, warnings))
}

/// How many documents a `COUNT(*)` selects: counted in the database when every document of the
/// collection counts, otherwise by testing each (budgeted work).
async fn count(
    state: &AppState,
    ctx: &ExecContext,
    s: &Select,
    args: &Arc<Map<String, Value>>,
    budget: &mut Budget,
) -> Result<usize> {
    let search = Arc::new(Search {
        filter: s.filter.clone(),
        args: args.clone(),
        order_by: Vec::new(),
        keep: Keep::Count,
        keep_docs: false,
    });
    match &s.from {
        Source::Collection(c) if s.filter.is_none() => {
            Ok(repo::count_collection(&state.pool, ctx.app_id, c).await? as usize)
        }
        Source::Collection(c) => Ok(find(state, ctx.app_id, c, search, budget).await?.matched),
        Source::System(system) => {
            let rows = system_rows(state, ctx, *system).await?;
            Ok(search_system(rows, Matches::new(search), budget)
                .await?
                .matched)
        }
    }
}

//! Reads: `find` (filter, sort, projection, skip, limit, batchSize, `min` with `hint`), `count`,
//! and `aggregate` with the stages an application's shell session needs (`$match`, `$sort`,
//! `$skip`, `$limit`, `$project`, `$count`, `$group` on a constant key).

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ops::Bound;

use bson::{Bson, Document, doc};

use super::cursors::open_documents;
use super::dispatch::{Ctx, integer, type_name};
use super::errors::{CommandError, CommandResult};
use super::query;
use crate::order::{self, Key};

fn document_option(ctx: &Ctx<'_>, field: &str) -> Result<Document, CommandError> {
    match ctx.cmd.body.get(field) {
        None | Some(Bson::Null) => Ok(Document::new()),
        Some(Bson::Document(doc)) => Ok(doc.clone()),
        Some(other) => Err(CommandError::type_mismatch(format!(
            "BSON field '{}.{field}' is the wrong type '{}', expected type 'object'",
            ctx.cmd.name,
            type_name(Some(other))
        ))),
    }
}

/// The collection's documents in `_id` order, from `min` (an inclusive `_id` bound) on, that
/// match `filter`; with `first`, only that many (what a query in `_id` order with a limit reads:
/// the index is walked, not the whole collection copied).
fn documents(
    ctx: &Ctx<'_>,
    db: &str,
    collection: &str,
    min: Option<&Bson>,
    filter: &Document,
    first: Option<usize>,
) -> Vec<Document> {
    let state = ctx.shared.sim.lock();
    let Some(coll) = state.databases.get(db).and_then(|d| d.get(collection)) else {
        return Vec::new();
    };
    let start = match min {
        Some(id) => Bound::Included(Key(id.clone())),
        None => Bound::Unbounded,
    };
    coll.docs
        .range((start, Bound::Unbounded))
        .map(|(_, d)| d)
        .filter(|d| query::matches(d, filter))
        .take(first.unwrap_or(usize::MAX))
        .cloned()
        .collect()
}

/// Sorts by a `sort` specification (`{field: 1 | -1}`; dotted paths; missing sorts as null).
fn sort(docs: &mut [Document], spec: &Document) -> Result<(), CommandError> {
    let mut keys = Vec::new();
    for (field, direction) in spec {
        let ascending = match integer(direction) {
            Some(1) => true,
            Some(-1) => false,
            _ => {
                return Err(CommandError::new(
                    15975,
                    "$sort key ordering must be 1 (for ascending) or -1 (for descending)",
                ));
            }
        };
        keys.push((field.clone(), ascending));
    }
    docs.sort_by(|a, b| {
        for (field, ascending) in &keys {
            let ordering = order::compare(&path_value(a, field), &path_value(b, field));
            if ordering != Ordering::Equal {
                return if *ascending {
                    ordering
                } else {
                    ordering.reverse()
                };
            }
        }
        Ordering::Equal
    });
    Ok(())
}

fn path_value(doc: &Document, path: &str) -> Bson {
    let mut current = doc;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        match current.get(segment) {
            Some(value) if segments.peek().is_none() => return value.clone(),
            Some(Bson::Document(inner)) => current = inner,
            _ => return Bson::Null,
        }
    }
    Bson::Null
}

fn positive(ctx: &Ctx<'_>, field: &str) -> Result<Option<i64>, CommandError> {
    match ctx.cmd.int(field)? {
        Some(n) if n < 0 && field != "limit" => Err(CommandError::bad_value(format!(
            "{field} value must be non-negative, but received: {n}"
        ))),
        other => Ok(other),
    }
}

pub(crate) fn find(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    let collection = ctx.cmd.collection()?;
    ctx.require("find", &db, Some(&collection))?;
    if db == "local" && collection == "oplog.rs" {
        return oplog(ctx);
    }
    let filter = document_option(ctx, "filter")?;
    query::validate(&filter)?;
    let sort_spec = document_option(ctx, "sort")?;
    let projection = document_option(ctx, "projection")?;
    let min = document_option(ctx, "min")?;
    if !min.is_empty() && document_option(ctx, "hint")?.is_empty() {
        return Err(CommandError::new(
            51173,
            "When using min()/max() a hint of which index to use must be provided",
        ));
    }
    let min_id = match min.iter().next() {
        None => None,
        Some((field, value)) if field == "_id" && min.len() == 1 => Some(value.clone()),
        Some(_) => {
            return Err(CommandError::new(
                51174,
                "The index implied by the min() key pattern is not the _id index (the simulator has only that one)",
            ));
        }
    };
    let skip = positive(ctx, "skip")?.unwrap_or(0);
    let limit = positive(ctx, "limit")?.unwrap_or(0);
    let batch_size = positive(ctx, "batchSize")?;
    let single_batch = ctx.cmd.flag("singleBatch") || limit < 0;
    // In `_id` order already (the index's): no sort needed, and a limit stops the walk.
    let by_id = sort_spec.is_empty()
        || (sort_spec.len() == 1 && sort_spec.get("_id").and_then(integer) == Some(1));
    let first = match (by_id, limit.unsigned_abs()) {
        (true, n) if n > 0 => usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_add(usize::try_from(skip).ok()?)),
        _ => None,
    };
    let mut docs = documents(ctx, &db, &collection, min_id.as_ref(), &filter, first);
    if !by_id {
        sort(&mut docs, &sort_spec)?;
    }
    let docs: VecDeque<Document> = docs
        .into_iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(match limit.unsigned_abs() {
            0 => usize::MAX,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        })
        .map(|d| query::project(&d, &projection))
        .collect::<Result<_, _>>()?;
    let batch_size = batch_size.map_or(Some(101), |n| {
        Some(usize::try_from(n).unwrap_or(usize::MAX))
    });
    if super::cursors::drop_scan(ctx, docs.len().min(batch_size.unwrap_or(usize::MAX))) {
        return Ok(Document::new());
    }
    Ok(open_documents(
        ctx,
        &db,
        &collection,
        docs,
        batch_size,
        single_batch,
    ))
}

pub(crate) fn count(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    let collection = ctx.cmd.collection()?;
    ctx.require("find", &db, Some(&collection))?;
    let filter = document_option(ctx, "query")?;
    query::validate(&filter)?;
    let skip = positive(ctx, "skip")?.unwrap_or(0).max(0);
    let limit = positive(ctx, "limit")?.unwrap_or(0).unsigned_abs();
    let matched = if filter.is_empty() {
        let state = ctx.shared.sim.lock();
        state
            .databases
            .get(&db)
            .and_then(|d| d.get(&collection))
            .map_or(0, |c| c.docs.len())
    } else {
        documents(ctx, &db, &collection, None, &filter, None).len()
    };
    let mut n = (matched as u64).saturating_sub(skip.unsigned_abs());
    if limit > 0 {
        n = n.min(limit);
    }
    Ok(doc! {"n": i64::try_from(n).unwrap_or(i64::MAX)})
}

pub(crate) fn aggregate(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    let collection = match ctx.cmd.body.get("aggregate") {
        Some(Bson::String(name)) => name.clone(),
        _ => {
            return Err(CommandError::new(
                59,
                "the simulator runs collection aggregations only (no aggregate: 1 stages)",
            ));
        }
    };
    ctx.require("find", &db, Some(&collection))?;
    let Some(Bson::Array(pipeline)) = ctx.cmd.body.get("pipeline") else {
        return Err(CommandError::new(
            40414,
            "BSON field 'aggregate.pipeline' is missing but a required field",
        ));
    };
    let mut docs = documents(ctx, &db, &collection, None, &Document::new(), None);
    for stage in pipeline {
        let Bson::Document(stage) = stage else {
            return Err(CommandError::type_mismatch(
                "Each element of the 'pipeline' array must be an object",
            ));
        };
        docs = run_stage(docs, stage)?;
    }
    let batch_size = ctx
        .cmd
        .body
        .get_document("cursor")
        .ok()
        .and_then(|c| c.get("batchSize"))
        .and_then(integer)
        .map_or(Some(101), |n| {
            Some(usize::try_from(n).unwrap_or(usize::MAX))
        });
    Ok(open_documents(
        ctx,
        &db,
        &collection,
        docs.into(),
        batch_size,
        false,
    ))
}

fn run_stage(mut docs: Vec<Document>, stage: &Document) -> Result<Vec<Document>, CommandError> {
    let Some((name, arg)) = stage.iter().next() else {
        return Err(CommandError::new(
            40323,
            "A pipeline stage specification object must contain exactly one field.",
        ));
    };
    let count = |arg: &Bson| {
        integer(arg)
            .filter(|n| *n >= 0)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .ok_or_else(|| CommandError::bad_value(format!("invalid argument to {name} stage")))
    };
    match (name.as_str(), arg) {
        ("$match", Bson::Document(filter)) => {
            query::validate(filter)?;
            docs.retain(|d| query::matches(d, filter));
        }
        ("$sort", Bson::Document(spec)) => sort(&mut docs, spec)?,
        ("$skip", arg) => docs = docs.into_iter().skip(count(arg)?).collect(),
        ("$limit", arg) => docs.truncate(count(arg)?),
        ("$project", Bson::Document(spec)) => {
            docs = docs
                .iter()
                .map(|d| query::project(d, spec))
                .collect::<Result<_, _>>()?;
        }
        ("$count", Bson::String(field)) => {
            let n = i64::try_from(docs.len()).unwrap_or(i64::MAX);
            docs = if n == 0 {
                Vec::new()
            } else {
                vec![doc! {field: n}]
            };
        }
        ("$group", Bson::Document(spec)) => docs = group(&docs, spec)?,
        (other, _) => {
            return Err(CommandError::new(
                40324,
                format!(
                    "Unrecognized pipeline stage name: '{other}' (the simulator runs $match, $sort, $skip, $limit, $project, $count and $group on a constant key)"
                ),
            ));
        }
    }
    Ok(docs)
}

/// `$group` with a constant `_id` and `$sum` accumulators (of 1 or of a field): what counting
/// helpers (`countDocuments`) send.
fn group(docs: &[Document], spec: &Document) -> Result<Vec<Document>, CommandError> {
    let id = spec.get("_id").cloned().unwrap_or(Bson::Null);
    if matches!(&id, Bson::String(s) if s.starts_with('$')) {
        return Err(CommandError::new(
            40324,
            "the simulator's $group takes a constant _id only",
        ));
    }
    if docs.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = doc! {"_id": id};
    for (field, accumulator) in spec {
        if field == "_id" {
            continue;
        }
        let sum = match accumulator {
            Bson::Document(acc) => acc.get("$sum"),
            _ => None,
        }
        .ok_or_else(|| {
            CommandError::new(
                40324,
                format!("the simulator's $group supports $sum only (field {field})"),
            )
        })?;
        let total: f64 = docs
            .iter()
            .map(|d| match sum {
                Bson::String(path) if path.starts_with('$') => number(&path_value(d, &path[1..])),
                other => number(other),
            })
            .sum();
        let value = if total.fract() == 0.0 && total.abs() < 2f64.powi(31) {
            Bson::Int32(total as i32)
        } else {
            Bson::Double(total)
        };
        out.insert(field.clone(), value);
    }
    Ok(vec![out])
}

fn number(value: &Bson) -> f64 {
    match value {
        Bson::Int32(i) => f64::from(*i),
        Bson::Int64(i) => *i as f64,
        Bson::Double(d) => *d,
        _ => 0.0,
    }
}

/// `find` on `local.oplog.rs`: its entries' `ts`, `op` and `ns` in natural (oldest first) or
/// reverse (`sort: {$natural: -1}`) order, unfiltered, as the resume-window check reads it.
fn oplog(ctx: &mut Ctx<'_>) -> CommandResult {
    let filter = document_option(ctx, "filter")?;
    if !filter.is_empty() {
        return Err(CommandError::bad_value(
            "the simulator's oplog answers unfiltered reads only",
        ));
    }
    let sort_spec = document_option(ctx, "sort")?;
    let newest_first = sort_spec.get("$natural").and_then(integer) == Some(-1);
    let limit = positive(ctx, "limit")?.unwrap_or(0).unsigned_abs();
    let limit = usize::try_from(limit)
        .ok()
        .filter(|n| *n > 0)
        .unwrap_or(101);
    let entries: Vec<Document> = {
        let state = ctx.shared.sim.lock();
        let op = |e: &crate::state::Entry| match e.operation {
            edgebridge_mongo::port::OperationType::Insert => "i",
            edgebridge_mongo::port::OperationType::Delete => "d",
            _ => "u",
        };
        let doc = |e: &crate::state::Entry| {
            doc! {"ts": e.time, "op": op(e), "ns": format!("{}.{}", e.db, e.collection)}
        };
        if newest_first {
            state.oplog.iter().rev().take(limit).map(doc).collect()
        } else {
            state.oplog.iter().take(limit).map(doc).collect()
        }
    };
    let projection = document_option(ctx, "projection")?;
    let docs: VecDeque<Document> = entries
        .iter()
        .map(|d| query::project(d, &projection))
        .collect::<Result<_, _>>()?;
    Ok(open_documents(
        ctx,
        "local",
        "oplog.rs",
        docs,
        Some(limit),
        true,
    ))
}

//! Writes: `insert`, `update` and `delete` with several statements per command (in the body or
//! as document sequences), `ordered`, write errors with their statement index, upserts, and the
//! transaction, retryable-write and stepdown rules of [`super::txn`].

use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use edgebridge_mongo::port::{OperationType, UpdateModification, WriteOp};

use super::dispatch::{Ctx, integer};
use super::errors::{
    CommandError, CommandResult, RETRYABLE_WRITE_ERROR, TRANSIENT_TRANSACTION_ERROR,
};
use super::hello::{MAX_BSON_OBJECT_SIZE, MAX_WRITE_BATCH_SIZE};
use super::query;
use super::txn::{self, Mode};
use crate::order::Key;
use crate::writes::{Change, record, write};

/// How long a plain write waits for a transaction holding its document.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// One statement's effect, for the reply's counters.
#[derive(Default)]
struct Counts {
    n: i64,
    modified: i64,
    upserted: Vec<Document>,
}

/// What a statement does: the engine operations to apply, and how to count them.
enum Statement {
    Insert(Document),
    Update {
        filter: Document,
        update: UpdateKind,
        upsert: bool,
        multi: bool,
    },
    Delete {
        filter: Document,
        all: bool,
    },
}

enum UpdateKind {
    Replace(Document),
    Operators(Document),
    Pipeline(Vec<Document>),
}

fn too_large(size: usize) -> CommandError {
    CommandError::new(
        10334,
        format!(
            "object to insert too large. size in bytes: {size}, max size: {MAX_BSON_OBJECT_SIZE}"
        ),
    )
}

fn parse_statements(ctx: &Ctx<'_>) -> Result<Vec<Statement>, CommandError> {
    let (field, kind) = match ctx.cmd.name.as_str() {
        "insert" => ("documents", 0),
        "update" => ("updates", 1),
        _ => ("deletes", 2),
    };
    let docs = ctx.cmd.documents(field)?;
    if docs.is_empty() {
        return Err(CommandError::new(
            10,
            format!(
                "Write batch sizes must be between 1 and {MAX_WRITE_BATCH_SIZE}. Got 0 operations."
            ),
        ));
    }
    if docs.len() > usize::try_from(MAX_WRITE_BATCH_SIZE).unwrap_or(usize::MAX) {
        return Err(CommandError::new(
            10,
            format!(
                "Write batch sizes must be between 1 and {MAX_WRITE_BATCH_SIZE}. Got {} operations.",
                docs.len()
            ),
        ));
    }
    docs.into_iter()
        .map(|doc| match kind {
            0 => Ok(Statement::Insert(doc)),
            1 => {
                let filter = doc.get_document("q").cloned().unwrap_or_default();
                query::validate(&filter)?;
                let update = match doc.get("u") {
                    Some(Bson::Document(u))
                        if u.keys().next().is_some_and(|k| k.starts_with('$')) =>
                    {
                        UpdateKind::Operators(u.clone())
                    }
                    Some(Bson::Document(u)) => UpdateKind::Replace(u.clone()),
                    Some(Bson::Array(stages)) => UpdateKind::Pipeline(
                        stages
                            .iter()
                            .map(|stage| match stage {
                                Bson::Document(stage) => Ok(stage.clone()),
                                _ => Err(CommandError::new(
                                    14,
                                    "Each element of the 'pipeline' array must be an object",
                                )),
                            })
                            .collect::<Result<_, _>>()?,
                    ),
                    _ => {
                        return Err(CommandError::new(
                            40414,
                            "BSON field 'update.updates.u' is missing but a required field",
                        ));
                    }
                };
                let multi = matches!(doc.get("multi"), Some(Bson::Boolean(true)));
                if multi && matches!(update, UpdateKind::Replace(_)) {
                    return Err(CommandError::new(
                        9,
                        "multi update is not supported for replacement-style update",
                    ));
                }
                Ok(Statement::Update {
                    filter,
                    update,
                    upsert: matches!(doc.get("upsert"), Some(Bson::Boolean(true))),
                    multi,
                })
            }
            _ => {
                let filter = doc.get_document("q").cloned().unwrap_or_default();
                query::validate(&filter)?;
                let all = match doc.get("limit") {
                    Some(limit) => integer(limit) == Some(0),
                    None => {
                        return Err(CommandError::new(
                            40414,
                            "BSON field 'delete.deletes.limit' is missing but a required field",
                        ));
                    }
                };
                Ok(Statement::Delete { filter, all })
            }
        })
        .collect()
}

pub(crate) async fn insert(ctx: &mut Ctx<'_>) -> CommandResult {
    run(ctx, "insert").await
}

pub(crate) async fn update(ctx: &mut Ctx<'_>) -> CommandResult {
    run(ctx, "update").await
}

pub(crate) async fn delete(ctx: &mut Ctx<'_>) -> CommandResult {
    run(ctx, "remove").await
}

async fn run(ctx: &mut Ctx<'_>, action: &str) -> CommandResult {
    let db = ctx.cmd.db.clone();
    let collection = ctx.cmd.collection()?;
    ctx.require(action, &db, Some(&collection))?;
    if action == "update"
        && ctx
            .cmd
            .documents("updates")?
            .iter()
            .any(|u| matches!(u.get("upsert"), Some(Bson::Boolean(true))))
    {
        ctx.require("insert", &db, Some(&collection))?;
    }
    let statements = parse_statements(ctx)?;
    let ordered = !matches!(ctx.cmd.body.get("ordered"), Some(Bson::Boolean(false)));
    let mode = txn::begin(ctx)?;
    if let Some(reply) = txn::retried(ctx, &mode) {
        return Ok(reply);
    }
    {
        let mut state = ctx.shared.sim.lock();
        if let Some(error) = txn::step_down(ctx, &mut state) {
            return Err(match &mode {
                Mode::Transaction { session, .. } => {
                    txn::abort_session(ctx, &mut state, session);
                    error.label(TRANSIENT_TRANSACTION_ERROR)
                }
                Mode::Retryable { .. } => error.label(RETRYABLE_WRITE_ERROR),
                Mode::Plain => error,
            });
        }
    }
    let mut counts = Counts::default();
    let mut write_errors = Vec::new();
    for (index, statement) in statements.iter().enumerate() {
        match apply(ctx, &mode, &db, &collection, index, statement).await {
            Ok(c) => {
                counts.n += c.n;
                counts.modified += c.modified;
                counts.upserted.extend(c.upserted);
            }
            Err(error) => {
                if let Mode::Transaction { session, .. } = &mode {
                    // A failed statement aborts its transaction.
                    let mut state = ctx.shared.sim.lock();
                    txn::abort_session(ctx, &mut state, session);
                    if error.code == 112 || error.code == 251 {
                        return Err(error);
                    }
                }
                write_errors.push(error.write_error(index));
                if ordered || matches!(mode, Mode::Transaction { .. }) {
                    break;
                }
            }
        }
    }
    let mut reply = doc! {"n": counts.n};
    if ctx.cmd.name == "update" {
        reply.insert("nModified", counts.modified);
        if !counts.upserted.is_empty() {
            reply.insert("upserted", counts.upserted);
        }
    }
    if !write_errors.is_empty() {
        reply.insert("writeErrors", write_errors);
    }
    reply.insert("ok", 1.0);
    txn::remember(ctx, &mode, &reply);
    Ok(reply)
}

/// The `_id`s a filter selects (the first only, unless `all`), in `_id` order.
fn targets(ctx: &Ctx<'_>, db: &str, collection: &str, filter: &Document, all: bool) -> Vec<Key> {
    let state = ctx.shared.sim.lock();
    let Some(coll) = state.databases.get(db).and_then(|d| d.get(collection)) else {
        return Vec::new();
    };
    if let Some(id) = filter.get("_id")
        && filter.len() == 1
        && !matches!(id, Bson::Document(d) if d.keys().next().is_some_and(|k| k.starts_with('$')))
    {
        let key = Key(id.clone());
        return coll
            .docs
            .contains_key(&key)
            .then_some(key)
            .into_iter()
            .collect();
    }
    let found = coll
        .docs
        .iter()
        .filter(|(_, d)| query::matches(d, filter))
        .map(|(k, _)| k.clone());
    if all {
        found.collect()
    } else {
        found.take(1).collect()
    }
}

/// Applies one statement: its engine operations, each after waiting for (or conflicting with)
/// a transaction that holds the document.
async fn apply(
    ctx: &mut Ctx<'_>,
    mode: &Mode,
    db: &str,
    collection: &str,
    index: usize,
    statement: &Statement,
) -> Result<Counts, CommandError> {
    let mut counts = Counts::default();
    let mut matched = 0usize;
    let ops: Vec<(Option<Key>, WriteOp)> = match statement {
        Statement::Insert(document) => {
            let size = document.to_vec().map_or(0, |v| v.len());
            if size > usize::try_from(MAX_BSON_OBJECT_SIZE).unwrap_or(usize::MAX) {
                return Err(too_large(size));
            }
            let key = document.get("_id").cloned().map(Key);
            vec![(
                key,
                WriteOp::Insert {
                    collection: collection.to_owned(),
                    document: document.clone(),
                },
            )]
        }
        Statement::Update {
            filter,
            update,
            upsert,
            multi,
        } => {
            let found = targets(ctx, db, collection, filter, *multi);
            matched = found.len();
            if found.is_empty() {
                if !*upsert {
                    return Ok(counts);
                }
                let filter = query::equality_fields(filter);
                let key = filter.get("_id").cloned().map(Key);
                vec![(key, update_op(collection, filter, update, true))]
            } else {
                found
                    .into_iter()
                    .map(|key| {
                        let op = update_op(collection, doc! {"_id": key.0.clone()}, update, false);
                        (Some(key), op)
                    })
                    .collect()
            }
        }
        Statement::Delete { filter, all } => targets(ctx, db, collection, filter, *all)
            .into_iter()
            .map(|key| {
                let op = WriteOp::Delete {
                    collection: collection.to_owned(),
                    filter: doc! {"_id": key.0.clone()},
                };
                (Some(key), op)
            })
            .collect(),
    };
    for (key, op) in ops {
        let Some(summary) = apply_one(ctx, mode, db, collection, key.as_ref(), &op).await? else {
            continue;
        };
        match (&op, &summary.operation) {
            (WriteOp::Delete { .. } | WriteOp::Insert { .. }, _) => counts.n += 1,
            (_, OperationType::Insert) => {
                counts.n += 1;
                let id = summary.key.get("_id").cloned().unwrap_or(Bson::Null);
                counts.upserted.push(doc! {
                    "index": i32::try_from(index).unwrap_or(i32::MAX),
                    "_id": id,
                });
            }
            _ => counts.modified += 1,
        }
    }
    // Matched documents count in `n` whether or not the update changed them.
    counts.n += i64::try_from(matched).unwrap_or(i64::MAX);
    Ok(counts)
}

fn update_op(collection: &str, filter: Document, update: &UpdateKind, upsert: bool) -> WriteOp {
    match update {
        UpdateKind::Replace(replacement) => WriteOp::Upsert {
            collection: collection.to_owned(),
            filter,
            replacement: replacement.clone(),
        },
        UpdateKind::Operators(update) => WriteOp::Update {
            collection: collection.to_owned(),
            filter,
            update: UpdateModification::Operators(update.clone()),
            upsert,
        },
        UpdateKind::Pipeline(stages) => WriteOp::Update {
            collection: collection.to_owned(),
            filter,
            update: UpdateModification::Pipeline(stages.clone()),
            upsert,
        },
    }
}

/// One engine operation under the transaction rules. Returns what changed (for counting).
async fn apply_one(
    ctx: &mut Ctx<'_>,
    mode: &Mode,
    db: &str,
    collection: &str,
    key: Option<&Key>,
    op: &WriteOp,
) -> Result<Option<ChangeSummary>, CommandError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        {
            let mut state = ctx.shared.sim.lock();
            let held = key.is_some_and(|k| {
                txn::locked_by_other(ctx, &mut state, mode.session(), db, collection, k)
            });
            if !held {
                let db_existed = state.databases.contains_key(db);
                let created = !state
                    .databases
                    .get(db)
                    .is_some_and(|d| d.contains_key(collection));
                let change = write(&mut state, db, op)?;
                if let Some(c) = &change
                    && let Some(post) = &c.post
                {
                    let size = post.to_vec().map_or(0, |v| v.len());
                    if size > usize::try_from(MAX_BSON_OBJECT_SIZE).unwrap_or(usize::MAX) {
                        crate::writes::undo(
                            &mut state,
                            db,
                            std::slice::from_ref(&change),
                            &[],
                            true,
                        );
                        return Err(too_large(size));
                    }
                }
                let summary = change.as_ref().map(ChangeSummary::of);
                match mode {
                    Mode::Transaction { session, .. } => {
                        txn::add_change(
                            ctx,
                            session,
                            db,
                            db_existed,
                            created.then_some(collection),
                            change,
                        );
                    }
                    _ => record(&mut state, db, change, None, None),
                }
                return Ok(summary);
            }
            if matches!(mode, Mode::Transaction { .. }) {
                return Err(CommandError::new(
                    112,
                    "Caused by :: Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction.",
                )
                .label(TRANSIENT_TRANSACTION_ERROR));
            }
        }
        if Instant::now() >= deadline {
            return Err(CommandError::new(
                50,
                "operation exceeded time limit waiting for a transaction holding the document",
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What counting needs of a change.
struct ChangeSummary {
    operation: OperationType,
    key: Document,
}

impl ChangeSummary {
    fn of(change: &Change) -> Self {
        ChangeSummary {
            operation: change.operation.clone(),
            key: change.key.clone(),
        }
    }
}

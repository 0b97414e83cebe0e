//! Change streams: `aggregate` with `$changeStream` on a collection (`fullDocument`,
//! `fullDocumentBeforeChange`, `resumeAfter`, `startAfter`, `startAtOperationTime`, then
//! `$match` stages), and the batches `getMore` reads: events in oplog order, each batch with its
//! `postBatchResumeToken`, waiting up to `maxTimeMS` when nothing is new.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{Bson, DateTime, Document, doc};
use edgebridge_mongo::port::{OperationType, ResumeToken, StreamStart};

use super::cursors::{Cursor, CursorKind};
use super::dispatch::{Command, Ctx, integer, lsid_document};
use super::errors::{CommandError, CommandResult, RESUMABLE_CHANGE_STREAM_ERROR};
use super::{lock, query};
use crate::faults::take_queued;
use crate::state::{Entry, State};

/// How long a `getMore` waits for events when the client names no `maxTimeMS`.
const DEFAULT_AWAIT: Duration = Duration::from_secs(1);

pub(crate) struct ChangeCursor {
    db: String,
    collection: String,
    /// The last oplog sequence number this stream has moved past.
    position: u64,
    full_document: String,
    before_change: String,
    /// `$match` stages after `$changeStream`, applied to each event.
    filters: Vec<Document>,
    /// The event delivered once already under a duplicate fault: the next delivery moves on.
    redelivered: Option<u64>,
    /// The collection was dropped: the next batch is the `invalidate` event, and the end.
    invalidated: bool,
    /// The `topologyVersion` counter when the stream opened: a stepdown since interrupts it.
    topology: i64,
}

pub(crate) struct Batch {
    pub(crate) events: Vec<Document>,
    pub(crate) resume_token: Document,
    pub(crate) closed: bool,
}

pub(crate) fn is_change_stream(cmd: &Command) -> bool {
    matches!(
        cmd.body.get("pipeline"),
        Some(Bson::Array(stages)) if matches!(
            stages.first(),
            Some(Bson::Document(stage)) if stage.contains_key("$changeStream")
        )
    )
}

fn mode(spec: &Document, field: &str, allowed: &[&str]) -> Result<String, CommandError> {
    match spec.get(field) {
        None => Ok(allowed[0].to_owned()),
        Some(Bson::String(mode)) if allowed.contains(&mode.as_str()) => Ok(mode.clone()),
        Some(other) => Err(CommandError::bad_value(format!(
            "'{other}' is not a valid value for $changeStream.{field}"
        ))),
    }
}

pub(crate) async fn aggregate(ctx: &mut Ctx<'_>) -> CommandResult {
    let db = ctx.cmd.db.clone();
    let collection = match ctx.cmd.body.get("aggregate") {
        Some(Bson::String(name)) => name.clone(),
        _ => {
            return Err(CommandError::new(
                72,
                "the simulator opens change streams on one collection only",
            ));
        }
    };
    ctx.require("changeStream", &db, Some(&collection))?;
    ctx.require("find", &db, Some(&collection))?;
    let Some(Bson::Array(stages)) = ctx.cmd.body.get("pipeline") else {
        return Err(CommandError::bad_value("pipeline must be an array"));
    };
    let Some(Bson::Document(first)) = stages.first() else {
        return Err(CommandError::bad_value(
            "pipeline must start with $changeStream",
        ));
    };
    let spec = first
        .get_document("$changeStream")
        .cloned()
        .unwrap_or_default();
    if matches!(spec.get("allChangesForCluster"), Some(Bson::Boolean(true))) {
        return Err(CommandError::new(
            72,
            "the simulator opens change streams on one collection only",
        ));
    }
    let mut filters = Vec::new();
    for stage in &stages[1..] {
        match stage {
            Bson::Document(stage) if stage.len() == 1 && stage.contains_key("$match") => {
                let filter = stage.get_document("$match").cloned().unwrap_or_default();
                query::validate(&filter)?;
                filters.push(filter);
            }
            _ => {
                return Err(CommandError::new(
                    40324,
                    "the simulator's change streams take $match stages only after $changeStream",
                ));
            }
        }
    }
    let full_document = mode(
        &spec,
        "fullDocument",
        &["default", "updateLookup", "whenAvailable", "required"],
    )?;
    let before_change = mode(
        &spec,
        "fullDocumentBeforeChange",
        &["off", "whenAvailable", "required"],
    )?;
    let token = |field: &str| -> Result<Option<ResumeToken>, CommandError> {
        match spec.get(field) {
            None => Ok(None),
            Some(Bson::Document(token)) => Ok(Some(ResumeToken(token.clone()))),
            Some(_) => Err(CommandError::new(
                260,
                format!("{field} must be a resume token document"),
            )),
        }
    };
    let start = match (
        token("startAfter")?,
        token("resumeAfter")?,
        spec.get("startAtOperationTime"),
    ) {
        (Some(token), None, None) | (None, Some(token), None) => StreamStart::After(token),
        (None, None, Some(Bson::Timestamp(time))) => StreamStart::AtOperationTime(*time),
        (None, None, None) => StreamStart::Now,
        _ => {
            return Err(CommandError::new(
                40674,
                "Only one type of resume option is allowed, but multiple were found",
            ));
        }
    };
    let position = start_position(&ctx.shared.sim.lock(), &start)?;
    let mut cursor = ChangeCursor {
        db: db.clone(),
        collection: collection.clone(),
        position,
        full_document,
        before_change,
        filters,
        redelivered: None,
        invalidated: false,
        topology: ctx.shared.topology_counter(),
    };
    let batch_size = ctx
        .cmd
        .body
        .get_document("cursor")
        .ok()
        .and_then(|c| c.get("batchSize"))
        .and_then(integer)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let batch = next_batch(ctx, &mut cursor, batch_size, Some(Duration::ZERO)).await?;
    let ns = format!("{db}.{collection}");
    let id = if batch.closed || ctx.drop_reply {
        0
    } else {
        lock(&ctx.shared.cursors).add(Cursor {
            db,
            collection,
            kind: CursorKind::Change(cursor),
            user: ctx.conn.user.clone(),
        })
    };
    Ok(doc! {
        "cursor": {
            "firstBatch": batch.events,
            "postBatchResumeToken": batch.resume_token,
            "id": id,
            "ns": ns,
        }
    })
}

/// The oplog position a stream starts after.
fn start_position(state: &State, start: &StreamStart) -> Result<u64, CommandError> {
    Ok(match start {
        StreamStart::Now => state.next_seq - 1,
        StreamStart::After(token) => {
            let seq = state.seq_of(token)?;
            // The token's own entry must still be in the oplog.
            if state.truncated_through > 0 && seq <= state.truncated_through {
                return Err(history_lost());
            }
            seq
        }
        StreamStart::AtOperationTime(time) => {
            let key = |t: &bson::Timestamp| (t.time, t.increment);
            if state
                .oplog
                .front()
                .is_some_and(|e| key(&e.time) > key(time))
                && state.first_seq() > 1
            {
                return Err(history_lost());
            }
            state
                .oplog
                .iter()
                .take_while(|e| key(&e.time) < key(time))
                .last()
                .map_or(state.first_seq() - 1, |e| e.seq)
        }
    })
}

fn history_lost() -> CommandError {
    CommandError::new(
        286,
        "Resume of change stream was not possible, as the resume point may no longer be in the oplog.",
    )
}

/// The next batch: up to `batch_size` events, waiting up to `max_await` for the first.
pub(crate) async fn next_batch(
    ctx: &mut Ctx<'_>,
    cursor: &mut ChangeCursor,
    batch_size: Option<usize>,
    max_await: Option<Duration>,
) -> Result<Batch, CommandError> {
    let deadline = Instant::now() + max_await.unwrap_or(DEFAULT_AWAIT);
    let appended = Arc::clone(&ctx.shared.sim.lock().appended);
    if cursor.topology != ctx.shared.topology_counter() {
        // The primary stepped down since the stream opened: its operations were interrupted,
        // and a driver resumes the stream on the new primary.
        let mut error = CommandError::new(
            11602,
            "operation was interrupted because of a replica set state change",
        )
        .label(RESUMABLE_CHANGE_STREAM_ERROR);
        // As MongoDB 4.4+ does on state-change errors: a driver that has seen this topology
        // version already treats the error as stale and keeps the server selectable.
        error.extra = Some(Box::new(doc! {
            "topologyVersion": {
                "processId": ctx.shared.process_id,
                "counter": ctx.shared.topology_counter(),
            }
        }));
        return Err(error);
    }
    loop {
        while ctx.shared.sim.lock().streams_hung {
            // A server that stopped answering without closing the connection.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Created before the oplog is read, so an entry appended after the read still wakes it
        // (`notify_waiters` reaches every `Notified` that exists).
        let notified = appended.notified();
        {
            let mut state = ctx.shared.sim.lock();
            let batch = collect(ctx, &mut state, cursor, batch_size)?;
            if !batch.events.is_empty()
                || batch.closed
                || ctx.drop_reply
                || Instant::now() >= deadline
            {
                return Ok(batch);
            }
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(wait, notified).await;
    }
}

fn collect(
    ctx: &mut Ctx<'_>,
    state: &mut State,
    cursor: &mut ChangeCursor,
    batch_size: Option<usize>,
) -> Result<Batch, CommandError> {
    let token_at = |state: &State, seq: u64| state.token(seq).0;
    if cursor.invalidated {
        let event = doc! {
            "_id": token_at(state, cursor.position),
            "operationType": "invalidate",
            "clusterTime": state.clock,
            "wallTime": DateTime::now(),
        };
        return Ok(Batch {
            events: vec![event],
            resume_token: token_at(state, cursor.position),
            closed: true,
        });
    }
    // Faults queued while this getMore waited take effect now, as between in-process pulls.
    take_queued(&mut state.faults);
    if cursor.position + 1 < state.first_seq() {
        return Err(history_lost());
    }
    let limit = batch_size.filter(|n| *n > 0).unwrap_or(usize::MAX);
    let skip = usize::try_from((cursor.position + 1).saturating_sub(state.first_seq()))
        .unwrap_or(usize::MAX);
    let entries: Vec<Entry> = state
        .oplog
        .iter()
        .skip(skip)
        .filter(|e| e.seq > cursor.position)
        .cloned()
        .collect();
    let mut events = Vec::new();
    let mut position = cursor.position;
    for entry in entries {
        if entry.db != cursor.db || entry.collection != cursor.collection {
            position = entry.seq;
            continue;
        }
        if events.len() >= limit {
            break;
        }
        let event = event_document(state, cursor, &entry)?;
        if !cursor.filters.iter().all(|f| query::matches(&event, f)) {
            position = entry.seq;
            continue;
        }
        if let Some(remaining) = state.faults.drop_stream.as_mut() {
            if *remaining == 0 {
                state.faults.drop_stream = None;
                ctx.drop_reply = true;
                break;
            }
            *remaining -= 1;
        }
        if state.history {
            let line = format!(
                "delivered #{} to a stream at #{}",
                entry.seq, cursor.position
            );
            state.note(line);
        }
        events.push(event);
        if state.faults.duplicate_events > 0 && cursor.redelivered != Some(entry.seq) {
            // Delivered now and once more: the batch's resume point stays before it.
            state.faults.duplicate_events -= 1;
            cursor.redelivered = Some(entry.seq);
            position = entry.seq - 1;
            break;
        }
        position = entry.seq;
        if entry.operation == OperationType::Drop {
            cursor.invalidated = true;
            break;
        }
    }
    cursor.position = position;
    Ok(Batch {
        events,
        resume_token: token_at(state, position),
        closed: false,
    })
}

fn operation_name(op: &OperationType) -> String {
    match op {
        OperationType::Insert => "insert".into(),
        OperationType::Update => "update".into(),
        OperationType::Replace => "replace".into(),
        OperationType::Delete => "delete".into(),
        OperationType::Drop => "drop".into(),
        OperationType::Rename => "rename".into(),
        OperationType::DropDatabase => "dropDatabase".into(),
        OperationType::Invalidate => "invalidate".into(),
        OperationType::Other(name) => name.clone(),
    }
}

fn missing_image(which: &str, cursor: &ChangeCursor) -> CommandError {
    CommandError::new(
        47,
        format!(
            "Change stream was configured to require a {which} for all update, delete and replace events, but the {which} was not found for an event on {}.{}: changeStreamPreAndPostImages is not enabled",
            cursor.db, cursor.collection
        ),
    )
}

/// One change event as the server shapes it.
fn event_document(
    state: &State,
    cursor: &ChangeCursor,
    entry: &Entry,
) -> Result<Document, CommandError> {
    let mut event = doc! {
        "_id": state.token(entry.seq).0,
        "operationType": operation_name(&entry.operation),
        "clusterTime": entry.time,
        "wallTime": DateTime::from_millis(i64::from(entry.time.time) * 1000),
        "ns": {"db": entry.db.clone(), "coll": entry.collection.clone()},
    };
    if let Some(key) = &entry.key {
        event.insert("documentKey", key.clone());
    }
    match entry.operation {
        OperationType::Insert | OperationType::Replace => {
            if let Some(post) = &entry.post {
                event.insert("fullDocument", post.clone());
            }
        }
        OperationType::Update => {
            if let (Some(pre), Some(post)) = (&entry.pre, &entry.post) {
                event.insert("updateDescription", update_description(pre, post));
            }
            match cursor.full_document.as_str() {
                "updateLookup" => {
                    let current = entry
                        .key
                        .as_ref()
                        .and_then(|k| k.get("_id"))
                        .and_then(|id| {
                            state
                                .databases
                                .get(&entry.db)?
                                .get(&entry.collection)?
                                .docs
                                .get(&crate::order::Key(id.clone()))
                                .cloned()
                        });
                    event.insert("fullDocument", current.map_or(Bson::Null, Bson::Document));
                }
                "whenAvailable" | "required" => match (&entry.post, entry.images) {
                    (Some(post), true) => {
                        event.insert("fullDocument", post.clone());
                    }
                    _ if cursor.full_document == "required" => {
                        return Err(missing_image("post-image", cursor));
                    }
                    _ => {
                        event.insert("fullDocument", Bson::Null);
                    }
                },
                _ => {}
            }
        }
        _ => {}
    }
    let takes_pre_image = matches!(
        entry.operation,
        OperationType::Update | OperationType::Replace | OperationType::Delete
    );
    if takes_pre_image && cursor.before_change != "off" {
        match (&entry.pre, entry.images) {
            (Some(pre), true) => {
                event.insert("fullDocumentBeforeChange", pre.clone());
            }
            _ if cursor.before_change == "required" => {
                return Err(missing_image("pre-image", cursor));
            }
            _ => {
                event.insert("fullDocumentBeforeChange", Bson::Null);
            }
        }
    }
    if let Some(lsid) = &entry.lsid {
        event.insert("lsid", lsid_document(lsid));
    }
    if let Some(txn_number) = entry.txn_number {
        event.insert("txnNumber", txn_number);
    }
    Ok(event)
}

/// `updateDescription`: the top-level fields set and removed.
fn update_description(pre: &Document, post: &Document) -> Document {
    let mut updated = Document::new();
    for (key, value) in post {
        if pre.get(key) != Some(value) {
            updated.insert(key.clone(), value.clone());
        }
    }
    let removed: Vec<String> = pre
        .keys()
        .filter(|k| !post.contains_key(*k))
        .cloned()
        .collect();
    doc! {
        "updatedFields": updated,
        "removedFields": removed,
        "truncatedArrays": [],
    }
}

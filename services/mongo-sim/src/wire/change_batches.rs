//! The batches of a change stream: events in oplog order after the stream's position, at most
//! `batchSize` of them and at most 16 MiB together, each batch with its `postBatchResumeToken`,
//! waiting up to `maxTimeMS` when nothing is new. An event too large for a reply fails the
//! stream, or goes out as fragments when the pipeline asks for them (`event_fragments`). A
//! stepdown or election interrupts the stream, waiting or not.
//!
//! A batch reads only the oplog entries after the stream's position (the oplog is numbered
//! without gaps, so the first is found by arithmetic) and stops at its limits: the cost of a
//! `getMore` is what it delivers, not the length of the oplog's tail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{DateTime, Document, doc};
use edgebridge_mongo::port::OperationType;

use super::change_events::event_document;
use super::changes::{ChangeCursor, SplitEvent, history_lost};
use super::dispatch::Ctx;
use super::errors::{CommandError, RESUMABLE_CHANGE_STREAM_ERROR};
use super::event_fragments::{
    MAX_BATCH_BYTES, MAX_EVENT_BYTES, bson_size, cannot_resume_inside, fragment_token, needs_split,
    split, too_large,
};
use super::query;
use crate::faults::take_queued;
use crate::state::State;

/// How long a `getMore` waits for events when the client names no `maxTimeMS`.
const DEFAULT_AWAIT: Duration = Duration::from_secs(1);

pub(crate) struct Batch {
    pub(crate) events: Vec<Document>,
    pub(crate) resume_token: Document,
    pub(crate) closed: bool,
}

/// The events of a batch being filled, and its limits.
struct Filling {
    events: Vec<Document>,
    bytes: usize,
    limit: usize,
}

impl Filling {
    /// Whether a document of `size` bytes still fits (the first always does).
    fn fits(&self, size: usize) -> bool {
        self.events.len() < self.limit
            && (self.events.is_empty() || self.bytes + size <= MAX_BATCH_BYTES)
    }

    fn push(&mut self, document: Document, size: usize) {
        self.bytes += size;
        self.events.push(document);
    }
}

/// 11602: the stream's operations were interrupted by a stepdown or an election.
fn interrupted(ctx: &Ctx<'_>) -> CommandError {
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
    error
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
    loop {
        while ctx.shared.sim.lock().streams_hung {
            // A server that stopped answering without closing the connection.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Created before the oplog and the topology are read, so a change after the read
        // still wakes it (`notify_waiters` reaches every `Notified` that exists).
        let notified = appended.notified();
        let topology_changed = ctx.shared.topology_changed.notified();
        if cursor.topology != ctx.shared.topology_counter() {
            // The primary stepped down since the stream opened (or while this getMore waited):
            // its operations were interrupted, and a driver resumes on the new primary.
            return Err(interrupted(ctx));
        }
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
        tokio::select! {
            () = notified => {}
            () = topology_changed => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

fn collect(
    ctx: &mut Ctx<'_>,
    state: &mut State,
    cursor: &mut ChangeCursor,
    batch_size: Option<usize>,
) -> Result<Batch, CommandError> {
    if cursor.invalidated {
        let token = state.token(cursor.position).0;
        let event = doc! {
            "_id": token.clone(),
            "operationType": "invalidate",
            "clusterTime": state.clock,
            "wallTime": DateTime::now(),
        };
        return Ok(Batch {
            events: vec![event],
            resume_token: token,
            closed: true,
        });
    }
    // Faults queued while this getMore waited take effect now, as between in-process pulls.
    take_queued(&mut state.faults);
    if cursor.position + 1 < state.first_seq() {
        return Err(history_lost());
    }
    let mut batch = Filling {
        events: Vec::new(),
        bytes: 0,
        limit: batch_size.filter(|n| *n > 0).unwrap_or(usize::MAX),
    };
    if send_fragments(ctx, state, cursor, &mut batch) {
        collect_entries(ctx, state, cursor, &mut batch)?;
    }
    let resume_token = match &cursor.split {
        Some(split) => split.last_token.clone(),
        None => state.token(cursor.position).0,
    };
    Ok(Batch {
        events: batch.events,
        resume_token,
        closed: false,
    })
}

/// Adds the events of the oplog entries after the stream's position, moving it past them.
fn collect_entries(
    ctx: &mut Ctx<'_>,
    state: &mut State,
    cursor: &mut ChangeCursor,
    batch: &mut Filling,
) -> Result<(), CommandError> {
    let during = if ctx.cmd.name == "getMore" {
        "Executor error during getMore"
    } else {
        "PlanExecutor error during aggregation"
    };
    // Sequence numbers have no gaps: the entry after the position is found by arithmetic.
    let mut index = usize::try_from(cursor.position + 1 - state.first_seq()).unwrap_or(usize::MAX);
    while let Some(entry) = state.oplog.get(index) {
        index += 1;
        let seq = entry.seq;
        if entry.db != cursor.db || entry.collection != cursor.collection {
            cursor.position = seq;
            continue;
        }
        if batch.events.len() >= batch.limit {
            break;
        }
        let ends_stream = entry.operation == OperationType::Drop;
        let resuming_after = cursor
            .resume_fragment
            .take()
            .filter(|(at, _)| *at == seq)
            .map(|(_, fragment)| fragment);
        let event = event_document(state, cursor, entry)?;
        if !cursor.filters.iter().all(|f| query::matches(&event, f)) {
            cursor.position = seq;
            continue;
        }
        let size = bson_size(&event);
        if cursor.split_stage && needs_split(size) {
            let mut rest = split(state, seq, &event)?;
            let mut last_token = state.token(cursor.position).0;
            if let Some(fragment) = resuming_after {
                if fragment >= rest.len() {
                    return Err(cannot_resume_inside(
                        "Attempted to resume from a split event, but the resumed stream produced a different split. Ensure that the pipeline used to resume is the same as the original",
                    ));
                }
                rest.drain(..=fragment);
                last_token = fragment_token(state, seq, fragment);
            }
            cursor.split = Some(SplitEvent {
                seq,
                rest,
                last_token,
            });
            if !send_fragments(ctx, state, cursor, batch) {
                return Ok(());
            }
            continue;
        }
        if resuming_after.is_some() {
            return Err(cannot_resume_inside(
                "Attempted to resume from a split event fragment, but the event in the resumed stream was not large enough to be split",
            ));
        }
        if size > MAX_EVENT_BYTES {
            // The whole batch fails, as the server's does: the stream cannot go past it.
            return Err(too_large(size, &state.token(seq).0, during));
        }
        if !batch.fits(size) {
            break;
        }
        if stream_drops(ctx, state) {
            break;
        }
        if state.history {
            let line = format!("delivered #{seq} to a stream at #{}", cursor.position);
            state.note(line);
        }
        batch.push(event, size);
        if state.faults.duplicate_events > 0 && cursor.redelivered != Some(seq) {
            // Delivered now and once more: the batch's resume point stays before it.
            state.faults.duplicate_events -= 1;
            cursor.redelivered = Some(seq);
            cursor.position = seq - 1;
            break;
        }
        cursor.position = seq;
        if ends_stream {
            cursor.invalidated = true;
            break;
        }
    }
    Ok(())
}

/// Sends what fits of an event partly sent as fragments. Returns whether the stream is past it
/// (or was not inside one): the batch may go on with the events after it.
fn send_fragments(
    ctx: &mut Ctx<'_>,
    state: &mut State,
    cursor: &mut ChangeCursor,
    batch: &mut Filling,
) -> bool {
    let Some(split) = cursor.split.as_mut() else {
        return true;
    };
    while let Some(fragment) = split.rest.front() {
        let size = bson_size(fragment);
        if !batch.fits(size) || stream_drops(ctx, state) {
            return false;
        }
        if let Some(fragment) = split.rest.pop_front() {
            split.last_token = fragment.get_document("_id").cloned().unwrap_or_default();
            batch.push(fragment, size);
        }
    }
    cursor.position = split.seq;
    cursor.split = None;
    true
}

/// A dropped-stream fault (`Fault::DropStream`): whether the reply carrying the next document
/// is lost with its connection.
fn stream_drops(ctx: &mut Ctx<'_>, state: &mut State) -> bool {
    let Some(remaining) = state.faults.drop_stream.as_mut() else {
        return false;
    };
    if *remaining == 0 {
        state.faults.drop_stream = None;
        ctx.drop_reply = true;
        return true;
    }
    *remaining -= 1;
    false
}

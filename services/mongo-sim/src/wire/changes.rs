//! Change streams: `aggregate` with `$changeStream` on a collection (`fullDocument`,
//! `fullDocumentBeforeChange`, `resumeAfter`, `startAfter`, `startAtOperationTime`, then
//! `$match` stages and a last `$changeStreamSplitLargeEvent`), opening the stream's cursor. The
//! batches `getMore` reads are `change_batches`; the events' shape is `change_events`, large
//! events' fragments `event_fragments`. A standalone server has no change streams.

use std::collections::VecDeque;
use std::time::Duration;

use bson::{Bson, Document, doc};
use edgebridge_mongo::port::{ResumeToken, StreamStart};

use super::change_batches::next_batch;
use super::cursors::{Cursor, CursorKind};
use super::dispatch::{Command, Ctx, integer};
use super::errors::{CommandError, CommandResult};
use super::event_fragments::{SPLIT_STAGE, cannot_resume_inside, parse_token};
use super::{lock, query};
use crate::state::State;

pub(crate) struct ChangeCursor {
    pub(super) db: String,
    pub(super) collection: String,
    /// The last oplog sequence number this stream has moved past.
    pub(super) position: u64,
    pub(super) full_document: String,
    pub(super) before_change: String,
    /// `$match` stages after `$changeStream`, applied to each event.
    pub(super) filters: Vec<Document>,
    /// The pipeline ends with `$changeStreamSplitLargeEvent`: large events come as fragments.
    pub(super) split_stage: bool,
    /// An event partly sent as fragments: the rest go out before anything after it.
    pub(super) split: Option<SplitEvent>,
    /// Resumed from a fragment's token: the event at this oplog number, and the fragment of it
    /// (0-based) the client had; the stream goes on with the next one.
    pub(super) resume_fragment: Option<(u64, usize)>,
    /// The event delivered once already under a duplicate fault: the next delivery moves on.
    pub(super) redelivered: Option<u64>,
    /// The collection was dropped: the next batch is the `invalidate` event, and the end.
    pub(super) invalidated: bool,
    /// The `topologyVersion` counter when the stream opened: a stepdown since interrupts it.
    pub(super) topology: i64,
}

/// The fragments of one event still to send.
pub(crate) struct SplitEvent {
    /// The event's oplog number: the stream moves past it with its last fragment.
    pub(super) seq: u64,
    pub(super) rest: VecDeque<Document>,
    /// The resume token of the last fragment sent (where a batch ending here resumes).
    pub(super) last_token: Document,
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
    if ctx.shared.sim.standalone() {
        // Change streams read the oplog, which a standalone server does not keep.
        return Err(CommandError::new(
            40573,
            "The $changeStream stage is only supported on replica sets",
        ));
    }
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
    let (filters, split_stage) = later_stages(&stages[1..])?;
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
    let start = stream_start(&spec)?;
    let (position, resume_fragment) = start_position(&ctx.shared.sim.lock(), &start)?;
    if resume_fragment.is_some() && !split_stage {
        return Err(cannot_resume_inside(
            "To resume from a split event, the $changeStream pipeline must include a $changeStreamSplitLargeEvent stage",
        ));
    }
    let mut cursor = ChangeCursor {
        db: db.clone(),
        collection: collection.clone(),
        position,
        full_document,
        before_change,
        filters,
        split_stage,
        split: None,
        resume_fragment,
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
            kind: CursorKind::Change(Box::new(cursor)),
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

/// The stages after `$changeStream`: `$match` filters, and whether the pipeline ends with
/// `$changeStreamSplitLargeEvent` (which must be last, as on MongoDB).
fn later_stages(stages: &[Bson]) -> Result<(Vec<Document>, bool), CommandError> {
    let mut filters = Vec::new();
    let mut split_stage = false;
    for (index, stage) in stages.iter().enumerate() {
        match stage {
            Bson::Document(stage) if stage.len() == 1 && stage.contains_key("$match") => {
                let filter = stage.get_document("$match").cloned().unwrap_or_default();
                query::validate(&filter)?;
                filters.push(filter);
            }
            Bson::Document(stage) if stage.len() == 1 && stage.contains_key(SPLIT_STAGE) => {
                if !matches!(stage.get(SPLIT_STAGE), Some(Bson::Document(spec)) if spec.is_empty())
                {
                    return Err(CommandError::new(
                        7_182_800,
                        "$changeStreamSplitLargeEvent spec should be an empty object",
                    ));
                }
                if index + 1 != stages.len() {
                    return Err(CommandError::new(
                        7_182_802,
                        "$changeStreamSplitLargeEvent must be the last stage in the pipeline",
                    ));
                }
                split_stage = true;
            }
            _ => {
                return Err(CommandError::new(
                    40324,
                    "the simulator's change streams take $match stages only after $changeStream (and $changeStreamSplitLargeEvent last)",
                ));
            }
        }
    }
    Ok((filters, split_stage))
}

/// Where the stream starts: `startAfter`, `resumeAfter`, `startAtOperationTime` or now.
fn stream_start(spec: &Document) -> Result<StreamStart, CommandError> {
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
    match (
        token("startAfter")?,
        token("resumeAfter")?,
        spec.get("startAtOperationTime"),
    ) {
        (Some(token), None, None) | (None, Some(token), None) => Ok(StreamStart::After(token)),
        (None, None, Some(Bson::Timestamp(time))) => Ok(StreamStart::AtOperationTime(*time)),
        (None, None, None) => Ok(StreamStart::Now),
        _ => Err(CommandError::new(
            40674,
            "Only one type of resume option is allowed, but multiple were found",
        )),
    }
}

/// The oplog position a stream starts after, and for a fragment's token, the event and the
/// fragment it resumes after.
fn start_position(
    state: &State,
    start: &StreamStart,
) -> Result<(u64, Option<(u64, usize)>), CommandError> {
    Ok(match start {
        StreamStart::Now => (state.next_seq - 1, None),
        StreamStart::After(token) => {
            let (seq, fragment) = parse_token(state, token)?;
            // The token's own entry must still be in the oplog.
            if state.truncated_through > 0 && seq <= state.truncated_through {
                return Err(history_lost());
            }
            match fragment {
                // Inside an event: the stream reads it again and skips the fragments sent.
                Some(fragment) => (seq - 1, Some((seq, fragment))),
                None => (seq, None),
            }
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
            let position = state
                .oplog
                .iter()
                .take_while(|e| key(&e.time) < key(time))
                .last()
                .map_or(state.first_seq() - 1, |e| e.seq);
            (position, None)
        }
    })
}

pub(crate) fn history_lost() -> CommandError {
    CommandError::new(
        286,
        "Resume of change stream was not possible, as the resume point may no longer be in the oplog.",
    )
}

//! Server cursors: the rest of a `find` or `aggregate` result, or a change stream, fetched with
//! `getMore` and closed with `killCursors` (or by being exhausted).

use std::collections::{HashMap, VecDeque};

use bson::{Bson, Document, doc};

use super::change_batches;
use super::changes::ChangeCursor;
use super::dispatch::{Ctx, integer, millis};
use super::errors::{CommandError, CommandResult};
use super::hello::MAX_BSON_OBJECT_SIZE;
use super::lock;

pub(crate) enum CursorKind {
    /// Documents still to send, computed when the query ran.
    Documents(VecDeque<Document>),
    Change(Box<ChangeCursor>),
}

pub(crate) struct Cursor {
    pub(crate) db: String,
    pub(crate) collection: String,
    pub(crate) kind: CursorKind,
    /// Who opened it: another user may not continue it.
    pub(crate) user: Option<String>,
}

#[derive(Default)]
pub(crate) struct Cursors {
    last: i64,
    open: HashMap<i64, Cursor>,
}

impl Cursors {
    pub(crate) fn add(&mut self, cursor: Cursor) -> i64 {
        // Ids look like the server's: large, and never 0 (which means "exhausted").
        self.last += 1;
        let id = 0x3A5F_0000_0000 + self.last;
        self.open.insert(id, cursor);
        id
    }
}

/// Takes up to `batch_size` documents off the front (and at most 16 MiB of them, as a reply
/// must fit), never fewer than one when any are left.
pub(crate) fn take_batch(
    docs: &mut VecDeque<Document>,
    batch_size: Option<usize>,
) -> Vec<Document> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let limit = usize::try_from(MAX_BSON_OBJECT_SIZE).unwrap_or(usize::MAX);
    while let Some(next) = docs.front() {
        if batch_size.is_some_and(|n| out.len() >= n) {
            break;
        }
        let size = next.to_vec().map_or(0, |v| v.len());
        if !out.is_empty() && bytes + size > limit {
            break;
        }
        bytes += size;
        out.extend(docs.pop_front());
    }
    out
}

/// The `cursor` sub-document of a reply.
pub(crate) fn cursor_reply(id: i64, ns: &str, batch_field: &str, batch: Vec<Document>) -> Document {
    doc! {"cursor": {batch_field: batch, "id": id, "ns": ns}}
}

/// A query's result as a cursor reply: the first batch, and a cursor for the rest.
pub(crate) fn open_documents(
    ctx: &Ctx<'_>,
    db: &str,
    collection: &str,
    mut docs: VecDeque<Document>,
    batch_size: Option<usize>,
    single_batch: bool,
) -> Document {
    let first = take_batch(&mut docs, batch_size);
    let ns = format!("{db}.{collection}");
    let id = if docs.is_empty() || single_batch {
        0
    } else {
        lock(&ctx.shared.cursors).add(Cursor {
            db: db.to_owned(),
            collection: collection.to_owned(),
            kind: CursorKind::Documents(docs),
            user: ctx.conn.user.clone(),
        })
    };
    cursor_reply(id, &ns, "firstBatch", first)
}

/// A scan fault (`Fault::DropScan`): the reply carrying document number `after_docs` of the
/// scan is lost with its connection. Returns whether this reply is that one.
pub(crate) fn drop_scan(ctx: &mut Ctx<'_>, batch_len: usize) -> bool {
    let mut state = ctx.shared.sim.lock();
    let Some(after_docs) = state.faults.drop_scan.take() else {
        return false;
    };
    if (after_docs as usize) < batch_len {
        ctx.drop_reply = true;
        return true;
    }
    // The batch ended before the drop point: the fault waits for the next one.
    state.faults.drop_scan = Some(after_docs - batch_len as u32);
    false
}

pub(crate) async fn get_more(ctx: &mut Ctx<'_>) -> CommandResult {
    let cmd = ctx.cmd;
    let id = match cmd.body.get("getMore") {
        Some(Bson::Int64(id)) => *id,
        other => {
            return Err(CommandError::type_mismatch(format!(
                "BSON field 'getMore.getMore' is the wrong type '{}', expected type 'long'",
                super::dispatch::type_name(other)
            )));
        }
    };
    let collection = cmd
        .body
        .get_str("collection")
        .unwrap_or_default()
        .to_owned();
    let batch_size = match cmd.body.get("batchSize") {
        Some(value) => integer(value)
            .filter(|n| *n >= 0)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
            .filter(|n| *n > 0),
        None => None,
    };
    let max_await = millis(cmd, "maxTimeMS")?;
    let Some(mut cursor) = lock(&ctx.shared.cursors).open.remove(&id) else {
        return Err(CommandError::new(43, format!("cursor id {id} not found")));
    };
    if cursor.db != cmd.db || cursor.collection != collection || cursor.user != ctx.conn.user {
        let mismatch = cursor.user != ctx.conn.user;
        lock(&ctx.shared.cursors).open.insert(id, cursor);
        return Err(if mismatch {
            CommandError::new(
                13,
                format!("cursor id {id} was not created by the authenticated user"),
            )
        } else {
            CommandError::new(
                13,
                format!(
                    "Requested getMore on namespace '{}.{collection}', but cursor belongs to a different namespace",
                    cmd.db
                ),
            )
        });
    }
    let ns = format!("{}.{}", cursor.db, cursor.collection);
    match &mut cursor.kind {
        CursorKind::Documents(docs) => {
            let batch = take_batch(docs, batch_size);
            if drop_scan(ctx, batch.len()) {
                return Ok(Document::new());
            }
            let live = !docs.is_empty();
            let reply_id = if live { id } else { 0 };
            if live {
                lock(&ctx.shared.cursors).open.insert(id, cursor);
            }
            Ok(cursor_reply(reply_id, &ns, "nextBatch", batch))
        }
        CursorKind::Change(stream) => {
            let outcome = change_batches::next_batch(ctx, stream, batch_size, max_await).await;
            match outcome {
                Ok(batch) => {
                    let reply_id = if batch.closed { 0 } else { id };
                    // A reply lost to a dropped connection takes its cursor with it.
                    if !batch.closed && !ctx.drop_reply {
                        lock(&ctx.shared.cursors).open.insert(id, cursor);
                    }
                    let mut reply = cursor_reply(reply_id, &ns, "nextBatch", batch.events);
                    if let Ok(inner) = reply.get_document_mut("cursor") {
                        inner.insert("postBatchResumeToken", batch.resume_token);
                    }
                    Ok(reply)
                }
                // A failed change stream's cursor is gone, as on the server.
                Err(error) => Err(error),
            }
        }
    }
}

pub(crate) fn kill_cursors(ctx: &mut Ctx<'_>) -> CommandResult {
    let ids = match ctx.cmd.body.get("cursors") {
        Some(Bson::Array(ids)) => ids.clone(),
        _ => {
            return Err(CommandError::new(
                40414,
                "BSON field 'killCursors.cursors' is missing but a required field",
            ));
        }
    };
    let mut killed = Vec::new();
    let mut not_found = Vec::new();
    let mut cursors = lock(&ctx.shared.cursors);
    for id in ids {
        let Bson::Int64(n) = id else { continue };
        if cursors.open.remove(&n).is_some() {
            killed.push(n);
        } else {
            not_found.push(n);
        }
    }
    Ok(doc! {
        "cursorsKilled": killed,
        "cursorsNotFound": not_found,
        "cursorsAlive": Vec::<i64>::new(),
        "cursorsUnknown": Vec::<i64>::new(),
    })
}

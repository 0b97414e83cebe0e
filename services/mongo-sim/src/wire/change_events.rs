//! Change events as the server shapes them: `_id` (the resume token), `operationType`,
//! `clusterTime`, `wallTime`, `ns`, `documentKey`, `updateDescription`, the full document and the
//! pre-image as the stream asked for them, and the session of a transaction's change.

use bson::{Bson, DateTime, Document, doc};
use edgebridge_mongo::port::OperationType;

use super::changes::ChangeCursor;
use super::dispatch::lsid_document;
use super::errors::CommandError;
use crate::state::{Entry, State};

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
pub(crate) fn event_document(
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

//! Writes: applying one operation to the state, recording it in the oplog, undoing a transaction.

use bson::{Bson, Document, doc};
use edgebridge_mongo::PortError;
use edgebridge_mongo::port::{OperationType, PortResult, SessionId, UpdateModification, WriteOp};

use crate::order::{self, Key};
use crate::schema;
use crate::state::{Collection, CollectionOptions, Entry, State};
use crate::update_ops::{apply_operators, pipeline};

/// What one write did, before it is recorded in the oplog.
pub(crate) struct Change {
    pub(crate) collection: String,
    pub(crate) operation: OperationType,
    pub(crate) key: Document,
    pub(crate) pre: Option<Document>,
    pub(crate) post: Option<Document>,
    pub(crate) images: bool,
}

pub(crate) fn record(
    state: &mut State,
    db: &str,
    change: Option<Change>,
    lsid: Option<&SessionId>,
    txn_number: Option<i64>,
) {
    let Some(change) = change else { return };
    if lsid.is_some() {
        *state
            .session_writes
            .entry((db.to_owned(), change.collection.clone()))
            .or_default() += 1;
    }
    let time = state.tick();
    if state.history {
        let line = format!(
            "change #{} {db}.{} {:?} {} {}post={}",
            state.next_seq,
            change.collection,
            change.operation,
            change.key,
            if lsid.is_some() { "(session) " } else { "" },
            change
                .post
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string)
        );
        state.note(line);
    }
    state.append(Entry {
        seq: 0,
        time,
        db: db.to_owned(),
        collection: change.collection,
        operation: change.operation,
        key: Some(change.key),
        post: change.post,
        pre: change.pre,
        images: change.images,
        lsid: lsid.cloned(),
        txn_number,
    });
}

pub(crate) fn matches(doc: &Document, filter: &Document) -> bool {
    filter.iter().all(|(k, v)| {
        doc.get(k)
            .is_some_and(|have| order::compare(have, v) == std::cmp::Ordering::Equal)
    })
}

/// The key of the document `filter` selects.
fn existing_key(coll: &Collection, filter: &Document) -> Option<Key> {
    if let Some(id) = filter.get("_id") {
        let key = Key(id.clone());
        return coll
            .docs
            .get(&key)
            .filter(|d| matches(d, filter))
            .map(|_| key);
    }
    coll.docs
        .iter()
        .find(|(_, d)| matches(d, filter))
        .map(|(k, _)| k.clone())
}

/// Whether `op` selects a stored document: what MongoDB counts as matched, whether the write
/// then changes it or not.
pub(crate) fn selects(state: &State, db: &str, op: &WriteOp) -> bool {
    let (WriteOp::Upsert { filter, .. }
    | WriteOp::Update { filter, .. }
    | WriteOp::Delete { filter, .. }) = op
    else {
        return false;
    };
    state
        .databases
        .get(db)
        .and_then(|d| d.get(op.collection()))
        .is_some_and(|coll| existing_key(coll, filter).is_some())
}

/// Whether two documents are the same bytes: how MongoDB tells an update that changes nothing
/// (no oplog entry, no change event, `nModified` 0). Field order and numeric types count.
fn same_bytes(a: &Document, b: &Document) -> bool {
    matches!((a.to_vec(), b.to_vec()), (Ok(x), Ok(y)) if x == y)
}

fn new_object_id(state: &mut State) -> Bson {
    let mut bytes = [0u8; 12];
    bytes[4..].copy_from_slice(&state.new_oid_seq().to_be_bytes());
    Bson::ObjectId(bson::oid::ObjectId::from_bytes(bytes))
}

/// A pipeline's document as MongoDB stores it in place of `original`: `_id` first, the
/// original's when the new document has none (a new ObjectId on an insert without one); a
/// different `_id` is refused.
fn replaced(state: &mut State, original: &Document, mut output: Document) -> PortResult<Document> {
    let id = match (original.get("_id"), output.remove("_id")) {
        (Some(old), Some(new)) if order::compare(old, &new) != std::cmp::Ordering::Equal => {
            return Err(PortError::server(
                66,
                format!(
                    "After applying the update, the (immutable) field '_id' was found to have been altered to _id: {new}"
                ),
            ));
        }
        (_, Some(new)) => new,
        (Some(old), None) => old.clone(),
        (None, None) => new_object_id(state),
    };
    let mut document = doc! {"_id": id};
    document.extend(output);
    Ok(document)
}

/// Applies one write to the state. `Ok(None)`: nothing changed (a delete or an update that
/// matched nothing, an update or a replacement that leaves the document as it was).
pub(crate) fn write(state: &mut State, db: &str, op: &WriteOp) -> PortResult<Option<Change>> {
    let name = op.collection().to_owned();
    if !state
        .databases
        .get(db)
        .is_some_and(|d| d.contains_key(&name))
    {
        // Like MongoDB, writes create the collection implicitly.
        state
            .databases
            .entry(db.to_owned())
            .or_default()
            .insert(name.clone(), Collection::new(CollectionOptions::default()));
    }
    let coll = state.collection(db, &name)?;
    let images = coll.options.pre_and_post_images;
    match op {
        WriteOp::Insert { document, .. } => {
            let mut document = document.clone();
            if !document.contains_key("_id") {
                let mut bytes = [0u8; 12];
                let n = state.new_oid_seq().to_be_bytes();
                bytes[4..].copy_from_slice(&n);
                let mut with_id = doc! {"_id": bson::oid::ObjectId::from_bytes(bytes)};
                with_id.extend(document);
                document = with_id;
            }
            let coll = state.collection(db, &name)?;
            check_document(coll, &document, None)?;
            let id = document.get("_id").cloned().unwrap_or(Bson::Null);
            coll.docs.insert(Key(id.clone()), document.clone());
            Ok(Some(Change {
                collection: name,
                operation: OperationType::Insert,
                key: doc! {"_id": id},
                pre: None,
                post: Some(document),
                images,
            }))
        }
        WriteOp::Upsert {
            filter,
            replacement,
            ..
        } => {
            let found = existing_key(coll, filter);
            let mut document = Document::new();
            let id = match &found {
                Some(key) => key.0.clone(),
                None => match filter.get("_id").or_else(|| replacement.get("_id")) {
                    Some(id) => id.clone(),
                    None => {
                        let mut bytes = [0u8; 12];
                        bytes[4..].copy_from_slice(&state.new_oid_seq().to_be_bytes());
                        Bson::ObjectId(bson::oid::ObjectId::from_bytes(bytes))
                    }
                },
            };
            document.insert("_id", id.clone());
            if found.is_none() {
                // An upsert inserts the filter's equality fields too.
                for (k, v) in filter {
                    document.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in replacement {
                if k != "_id" {
                    document.insert(k.clone(), v.clone());
                }
            }
            if let Some(new_id) = replacement.get("_id")
                && order::compare(new_id, &id) != std::cmp::Ordering::Equal
            {
                return Err(PortError::server(
                    66,
                    "the (immutable) field '_id' was found to have been altered",
                ));
            }
            let coll = state.collection(db, &name)?;
            let pre = found.as_ref().and_then(|k| coll.docs.get(k).cloned());
            if pre.as_ref().is_some_and(|pre| same_bytes(pre, replacement)) {
                // MongoDB compares the stored document with the replacement as sent (so one
                // without `_id` always writes): the same bytes, and nothing is written.
                return Ok(None);
            }
            check_document(coll, &document, found.as_ref())?;
            coll.docs.insert(Key(id.clone()), document.clone());
            Ok(Some(Change {
                collection: name,
                operation: if pre.is_some() {
                    OperationType::Replace
                } else {
                    OperationType::Insert
                },
                key: doc! {"_id": id},
                pre,
                post: Some(document),
                images,
            }))
        }
        WriteOp::Update {
            filter,
            update,
            upsert,
            ..
        } => {
            let found = existing_key(coll, filter);
            let pre = found.as_ref().and_then(|k| coll.docs.get(k).cloned());
            if pre.is_none() && !*upsert {
                return Ok(None);
            }
            let document = match update {
                UpdateModification::Operators(operators) => {
                    let mut document = match &pre {
                        Some(doc) => doc.clone(),
                        None => {
                            let mut doc = doc! {"_id": match filter.get("_id") {
                                Some(id) => id.clone(),
                                None => new_object_id(state),
                            }};
                            for (k, v) in filter {
                                doc.insert(k.clone(), v.clone());
                            }
                            doc
                        }
                    };
                    apply_operators(&mut document, operators)?;
                    if pre.as_ref().is_some_and(|pre| same_bytes(pre, &document)) {
                        // Every operator was a no-op: MongoDB writes no oplog entry, so no
                        // change event.
                        return Ok(None);
                    }
                    document
                }
                UpdateModification::Pipeline(stages) => {
                    // With no match, MongoDB runs the pipeline on the filter's equality fields.
                    let original = pre.clone().unwrap_or_else(|| filter.clone());
                    let output = pipeline::run(&original, stages)?;
                    if pre.is_some() && same_bytes(&original, &output) {
                        // MongoDB compares what the pipeline made with the stored document as
                        // they are: the same bytes, and nothing is written.
                        return Ok(None);
                    }
                    replaced(state, &original, output)?
                }
            };
            let id = document.get("_id").cloned().unwrap_or(Bson::Null);
            if let Some(key) = &found
                && order::compare(&key.0, &id) != std::cmp::Ordering::Equal
            {
                return Err(PortError::server(
                    66,
                    "the (immutable) field '_id' was found to have been altered",
                ));
            }
            let coll = state.collection(db, &name)?;
            check_document(coll, &document, found.as_ref())?;
            coll.docs.insert(Key(id.clone()), document.clone());
            Ok(Some(Change {
                collection: name,
                operation: if pre.is_some() {
                    OperationType::Update
                } else {
                    OperationType::Insert
                },
                key: doc! {"_id": id},
                pre,
                post: Some(document),
                images,
            }))
        }
        WriteOp::Delete { filter, .. } => {
            let Some(key) = existing_key(coll, filter) else {
                return Ok(None);
            };
            let pre = coll.docs.remove(&key);
            Ok(Some(Change {
                collection: name,
                operation: OperationType::Delete,
                key: doc! {"_id": key.0},
                pre,
                post: None,
                images,
            }))
        }
    }
}

/// The validator and unique indexes. `replacing`: the key of the document being replaced.
pub(crate) fn check_document(
    coll: &Collection,
    doc: &Document,
    replacing: Option<&Key>,
) -> PortResult<()> {
    if let Some(validator) = &coll.options.validator
        && let Err(reason) = schema::validate(validator, doc)
    {
        return Err(PortError::server(
            121,
            format!("Document failed validation: {reason}"),
        ));
    }
    let id = Key(doc.get("_id").cloned().unwrap_or(Bson::Null));
    if replacing.is_none() && coll.docs.contains_key(&id) {
        return Err(PortError::server(
            11000,
            format!("E11000 duplicate key error: _id {}", id.0),
        ));
    }
    match coll.unique_conflict(doc, &id) {
        Some(message) => Err(PortError::server(11000, message)),
        None => Ok(()),
    }
}

/// Takes back a failed transaction's writes: each document as it was before the first of them,
/// and the collections they created.
pub(crate) fn undo(
    state: &mut State,
    db: &str,
    changes: &[Option<Change>],
    created: &[String],
    db_existed: bool,
) {
    for change in changes.iter().rev().flatten() {
        let Ok(coll) = state.collection(db, &change.collection) else {
            continue;
        };
        // The document as it was keys itself: a delete's filter may have named its `_id` with
        // another numeric type (5.0 for 5), and the stored `_id` must come back as it was.
        let id = |d: &Document| Key(d.get("_id").cloned().unwrap_or(Bson::Null));
        match &change.pre {
            Some(pre) => {
                coll.docs.remove(&id(pre));
                coll.docs.insert(id(pre), pre.clone());
            }
            None => {
                coll.docs.remove(&id(&change.key));
            }
        }
    }
    if let Some(d) = state.databases.get_mut(db) {
        for name in created {
            d.remove(name);
        }
    }
    if !db_existed {
        state.databases.remove(db);
    }
}

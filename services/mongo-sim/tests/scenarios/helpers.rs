//! Reading change streams, scanning and building write-back operations: what every scenario
//! does.

use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use edgebridge_mongo::PortError;
use edgebridge_mongo::port::{ChangeEvent, ChangeStream, MongoPort, WriteOp};

use crate::deployment::Polls;

/// The next change event; an empty batch means "ask again". Fails the test when none comes.
pub(crate) async fn next_event(stream: &mut dyn ChangeStream, polls: Polls) -> ChangeEvent {
    for _ in 0..polls.max {
        match stream.next().await {
            Ok(Some(event)) => return event,
            Ok(None) => pause(polls).await,
            Err(e) => panic!("the change stream failed while an event was expected: {e:?}"),
        }
    }
    panic!(
        "no change event arrived within {} polls of the change stream",
        polls.max
    );
}

/// The error the stream fails with; fails the test on an event or when no error comes.
pub(crate) async fn next_error(stream: &mut dyn ChangeStream, polls: Polls) -> PortError {
    for _ in 0..polls.max {
        match stream.next().await {
            Ok(Some(event)) => panic!("expected the change stream to fail, got {event:?}"),
            Ok(None) => pause(polls).await,
            Err(e) => return e,
        }
    }
    panic!("the change stream did not fail within {} polls", polls.max);
}

/// The stream has nothing more: its next answer is an empty batch.
pub(crate) async fn assert_no_more_events(stream: &mut dyn ChangeStream, what: &str) {
    match stream.next().await {
        Ok(None) => {}
        Ok(Some(event)) => panic!("{what}: expected no further event, got {event:?}"),
        Err(e) => panic!("{what}: expected an empty batch, the stream failed: {e:?}"),
    }
}

pub(crate) async fn pause(polls: Polls) {
    if let Some(pause) = polls.pause {
        tokio::time::sleep(pause).await;
    }
}

pub(crate) fn id_of(document: &Document) -> Bson {
    document
        .get("_id")
        .cloned()
        .expect("every document has an _id")
}

pub(crate) fn key_id(event: &ChangeEvent) -> Bson {
    id_of(
        event
            .document_key
            .as_ref()
            .expect("the change event has a document key"),
    )
}

/// Every document, read in batches of `batch_size`, each batch after the last `_id` seen.
pub(crate) async fn scan_all(
    port: &dyn MongoPort,
    db: &str,
    coll: &str,
    batch_size: u32,
) -> Vec<Document> {
    let mut out: Vec<Document> = Vec::new();
    loop {
        let after = out.last().map(id_of);
        let batch = port
            .scan(db, coll, after.as_ref(), batch_size)
            .await
            .expect("scan succeeds");
        assert!(
            batch.len() <= batch_size as usize,
            "a scan returned {} documents for a batch size of {batch_size}",
            batch.len()
        );
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

pub(crate) fn upsert(coll: &str, document: Document) -> WriteOp {
    WriteOp::Upsert {
        collection: coll.to_owned(),
        filter: doc! { "_id": id_of(&document) },
        replacement: document,
    }
}

pub(crate) fn delete(coll: &str, id: impl Into<Bson>) -> WriteOp {
    WriteOp::Delete {
        collection: coll.to_owned(),
        filter: doc! { "_id": id.into() },
    }
}

pub(crate) fn oid(n: u8) -> ObjectId {
    let mut bytes = [0x65; 12];
    bytes[11] = n;
    ObjectId::from_bytes(bytes)
}

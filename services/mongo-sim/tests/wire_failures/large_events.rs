//! Change events too large for a reply: the stream fails at one, or sends it as fragments
//! under `$changeStreamSplitLargeEvent`; a batch holds at most 16 MiB.

use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use edgebridge_mongo_sim::{CollectionOptions, Simulator, WireServer};
use futures_util::StreamExt;
use mongodb::Client;
use mongodb::change_stream::event::ResumeToken;
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType};

use crate::{RawConnection, client, payload, server_code, start};

/// A collection with pre- and post-images holding one ~9 MB document, and a stream on it asking
/// for both images (`required`): an update's event is over 18 MB.
async fn large_update_stream(
    seed: u64,
    pipeline: Vec<Document>,
) -> (
    Simulator,
    WireServer,
    Client,
    mongodb::change_stream::ChangeStream<Document>,
) {
    let sim = Simulator::new(seed);
    sim.create_collection("shop", "items", CollectionOptions::ready());
    sim.insert(
        "shop",
        "items",
        doc! {"_id": 1, "n": 0, "payload": payload(9_000_000)},
    )
    .unwrap();
    let server = start(&sim).await;
    let client = client(&server.uri(), Duration::from_secs(5)).await;
    let stream = client
        .database("shop")
        .collection::<Document>("items")
        .watch()
        .pipeline(pipeline)
        .full_document(FullDocumentType::Required)
        .full_document_before_change(FullDocumentBeforeChangeType::Required)
        .await
        .expect("the stream opens")
        .with_type::<Document>();
    sim.update("shop", "items", &Bson::Int32(1), doc! {"n": 1})
        .unwrap();
    (sim, server, client, stream)
}

#[tokio::test]
async fn an_event_too_large_for_a_reply_fails_the_stream_with_bson_object_too_large() {
    let (_sim, _server, _client, mut stream) = large_update_stream(201, Vec::new()).await;
    let error = stream
        .next()
        .await
        .expect("an outcome")
        .expect_err("the event cannot be sent");
    assert_eq!(server_code(&error), Some(10334), "{error:?}");
}

/// The event's fields, from its fragments: each field in exactly one fragment.
fn reassemble(fragments: &[Document]) -> Document {
    let mut event = Document::new();
    for fragment in fragments {
        for (key, value) in fragment {
            if key == "_id" || key == "splitEvent" {
                continue;
            }
            assert!(!event.contains_key(key), "{key} in two fragments");
            event.insert(key.clone(), value.clone());
        }
    }
    event
}

#[tokio::test]
async fn a_large_event_comes_as_fragments_under_the_split_stage_and_resumes_between_them() {
    let split = vec![doc! {"$changeStreamSplitLargeEvent": {}}];
    let (_sim, _server, client, mut stream) = large_update_stream(202, split.clone()).await;
    let mut fragments = Vec::new();
    for _ in 0..2 {
        let fragment = stream
            .next()
            .await
            .expect("a fragment")
            .expect("fragments can be sent");
        assert!(fragment.to_vec().unwrap().len() < 16 * 1024 * 1024);
        fragments.push(fragment);
    }
    for (n, fragment) in fragments.iter().enumerate() {
        assert_eq!(
            fragment.get_document("splitEvent").unwrap(),
            &doc! {"fragment": n as i32 + 1, "of": 2},
        );
    }
    let event = reassemble(&fragments);
    let mut keys: Vec<&str> = event.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "clusterTime",
            "documentKey",
            "fullDocument",
            "fullDocumentBeforeChange",
            "ns",
            "operationType",
            "updateDescription",
            "wallTime",
        ]
    );
    assert_eq!(event.get_str("operationType").unwrap(), "update");
    assert_eq!(
        event
            .get_document("fullDocument")
            .unwrap()
            .get_i32("n")
            .ok(),
        Some(1)
    );
    assert_eq!(
        event
            .get_document("fullDocumentBeforeChange")
            .unwrap()
            .get_i32("n")
            .ok(),
        Some(0)
    );
    // Resuming after the first fragment gives the second; after the last, what follows.
    let coll = client.database("shop").collection::<Document>("items");
    let token = |fragment: &Document| -> ResumeToken {
        bson::deserialize_from_bson(fragment.get("_id").unwrap().clone()).unwrap()
    };
    let mut resumed = coll
        .watch()
        .pipeline(split.clone())
        .full_document(FullDocumentType::Required)
        .full_document_before_change(FullDocumentBeforeChangeType::Required)
        .resume_after(token(&fragments[0]))
        .await
        .expect("resumes inside the event")
        .with_type::<Document>();
    let next = resumed.next().await.unwrap().unwrap();
    assert_eq!(next, fragments[1]);
    let mut after = coll
        .watch()
        .pipeline(split)
        .start_after(token(&fragments[1]))
        .full_document(FullDocumentType::Required)
        .full_document_before_change(FullDocumentBeforeChangeType::Required)
        .await
        .expect("resumes after the event")
        .with_type::<Document>();
    coll.insert_one(doc! {"_id": 2}).await.unwrap();
    let next = after.next().await.unwrap().unwrap();
    assert_eq!(next.get_str("operationType").ok(), Some("insert"));
    assert_eq!(
        next.get_document("documentKey").ok(),
        Some(&doc! {"_id": 2})
    );
    // Without the stage, a fragment's token cannot be resumed from.
    let error = coll
        .watch()
        .resume_after(token(&fragments[0]))
        .await
        .expect_err("needs the split stage");
    assert_eq!(server_code(&error), Some(280));
}

#[tokio::test]
async fn the_split_stage_must_be_the_last() {
    let sim = Simulator::new(203);
    sim.create_collection("shop", "items", CollectionOptions::ready());
    let server = start(&sim).await;
    let client = client(&server.uri(), Duration::from_secs(5)).await;
    let error = client
        .database("shop")
        .collection::<Document>("items")
        .watch()
        .pipeline([
            doc! {"$changeStreamSplitLargeEvent": {}},
            doc! {"$match": {"operationType": "insert"}},
        ])
        .await
        .expect_err("not last");
    assert_eq!(server_code(&error), Some(7_182_802));
}

#[tokio::test]
async fn a_get_more_sends_at_most_16_mib_of_events_and_the_rest_next_time() {
    let sim = Simulator::new(204);
    sim.create_collection("shop", "items", CollectionOptions::default());
    let server = start(&sim).await;
    let mut raw = RawConnection::open(server.address()).await;
    let opened = raw
        .run(doc! {
            "aggregate": "items", "pipeline": [{"$changeStream": {}}], "cursor": {}, "$db": "shop",
        })
        .await;
    let id = opened
        .get_document("cursor")
        .unwrap()
        .get_i64("id")
        .unwrap();
    for n in 0..3 {
        sim.insert(
            "shop",
            "items",
            doc! {"_id": n, "payload": payload(6_000_000)},
        )
        .unwrap();
    }
    let mut sizes = Vec::new();
    let mut seen = 0;
    while seen < 3 {
        let reply = raw
            .run(doc! {"getMore": id, "collection": "items", "$db": "shop"})
            .await;
        let batch = reply
            .get_document("cursor")
            .and_then(|c| c.get_array("nextBatch"))
            .unwrap_or_else(|_| panic!("{reply}"));
        seen += batch.len();
        sizes.push(batch.len());
    }
    assert_eq!(sizes, [2, 1], "two 6 MB events fit in 16 MiB, three do not");
}

#[tokio::test]
async fn a_get_more_costs_what_it_delivers_not_the_length_of_the_oplog_after_it() {
    let sim = Simulator::new(205);
    sim.create_collection("shop", "items", CollectionOptions::default());
    let server = start(&sim).await;
    let mut raw = RawConnection::open(server.address()).await;
    let opened = raw
        .run(doc! {
            "aggregate": "items", "pipeline": [{"$changeStream": {}}], "cursor": {}, "$db": "shop",
        })
        .await;
    let id = opened
        .get_document("cursor")
        .unwrap()
        .get_i64("id")
        .unwrap();
    // A long oplog after the stream's position (other applications' writes).
    for n in 0..30_000 {
        sim.insert("shop", "items", doc! {"_id": n, "note": "x".repeat(200)})
            .unwrap();
    }
    // One event per getMore: each would clone the whole tail if it read it all.
    let started = Instant::now();
    for n in 0..100 {
        let reply = raw
            .run(doc! {"getMore": id, "collection": "items", "batchSize": 1, "$db": "shop"})
            .await;
        let batch = reply
            .get_document("cursor")
            .and_then(|c| c.get_array("nextBatch"))
            .unwrap_or_else(|_| panic!("{reply}"));
        let event = batch[0].as_document().unwrap();
        assert_eq!(
            event.get_document("documentKey").ok(),
            Some(&doc! {"_id": n})
        );
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(3),
        "100 getMores took {elapsed:?}"
    );
}

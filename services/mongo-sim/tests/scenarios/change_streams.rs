//! Change streams: events with images (b), resuming after an event (c), idle advance of the
//! resume token (d), and a collection without images (h).

use bson::{Bson, doc};
use edgebridge_mongo::port::{OperationType, StreamStart};
use edgebridge_mongo::{ErrorClass, ErrorKind};
use edgebridge_mongo_sim::CollectionOptions;

use crate::deployment::Deployment;
use crate::helpers::{assert_no_more_events, key_id, next_error, next_event, pause};

// ---------------------------------------------------------------------------------------------
// (b) Change events with images
// ---------------------------------------------------------------------------------------------

async fn change_events(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "orders", CollectionOptions::ready()).await;
    let mut stream = d
        .port()
        .watch(db, "orders", StreamStart::Now)
        .await
        .expect("watch opens");

    d.insert(db, "orders", doc! { "_id": 1, "status": "new" })
        .await;
    d.update_set(db, "orders", Bson::Int32(1), doc! { "status": "paid" })
        .await;
    d.delete(db, "orders", Bson::Int32(1)).await;

    let insert = next_event(stream.as_mut(), d.polls()).await;
    assert_eq!(insert.operation, OperationType::Insert);
    assert_eq!(insert.collection, "orders");
    assert_eq!(insert.document_key, Some(doc! { "_id": 1 }));
    assert_eq!(
        insert.full_document,
        Some(doc! { "_id": 1, "status": "new" }),
        "an insert carries the inserted document"
    );
    assert_eq!(insert.full_document_before_change, None);
    assert_eq!(insert.lsid, None, "another application's write has no lsid");
    assert_eq!(insert.txn_number, None);

    let update = next_event(stream.as_mut(), d.polls()).await;
    assert_eq!(update.operation, OperationType::Update);
    assert_eq!(update.document_key, Some(doc! { "_id": 1 }));
    assert_eq!(
        update.full_document,
        Some(doc! { "_id": 1, "status": "paid" }),
        "an update carries the post-image"
    );
    assert_eq!(
        update.full_document_before_change,
        Some(doc! { "_id": 1, "status": "new" }),
        "an update carries the pre-image"
    );
    assert_eq!(update.lsid, None, "another application's write has no lsid");

    let delete = next_event(stream.as_mut(), d.polls()).await;
    assert_eq!(delete.operation, OperationType::Delete);
    assert_eq!(delete.document_key, Some(doc! { "_id": 1 }));
    assert_eq!(delete.full_document, None);
    assert_eq!(
        delete.full_document_before_change,
        Some(doc! { "_id": 1, "status": "paid" }),
        "a delete carries the pre-image"
    );
    assert_eq!(delete.lsid, None, "another application's write has no lsid");

    assert!(
        insert.cluster_time <= update.cluster_time && update.cluster_time <= delete.cluster_time,
        "events come in cluster time order"
    );
}

on_both!(
    change_events,
    change_events_on_simulator,
    change_events_on_mongodb
);

// ---------------------------------------------------------------------------------------------
// (c) Resuming after an event
// ---------------------------------------------------------------------------------------------

async fn resume_after_event(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "orders", CollectionOptions::ready()).await;
    let port = d.port();
    let mut stream = port
        .watch(db, "orders", StreamStart::Now)
        .await
        .expect("watch opens");
    for n in 0..5 {
        d.insert(db, "orders", doc! { "_id": n, "n": n }).await;
    }
    let mut events = Vec::new();
    for _ in 0..5 {
        events.push(next_event(stream.as_mut(), d.polls()).await);
    }
    drop(stream);

    let k = 1;
    let mut resumed = port
        .watch(db, "orders", StreamStart::After(events[k].token.clone()))
        .await
        .expect("watch resumes after event k");
    let mut ids = Vec::new();
    for _ in k + 1..events.len() {
        ids.push(key_id(&next_event(resumed.as_mut(), d.polls()).await));
    }
    assert_eq!(
        ids,
        vec![Bson::Int32(2), Bson::Int32(3), Bson::Int32(4)],
        "resuming after event {k} yields exactly the events after it"
    );
    assert_no_more_events(resumed.as_mut(), "after the last resumed event").await;
}

on_both!(
    resume_after_event,
    resume_after_event_on_simulator,
    resume_after_event_on_mongodb
);

// ---------------------------------------------------------------------------------------------
// (d) Idle advance
// ---------------------------------------------------------------------------------------------

async fn idle_advance(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "orders", CollectionOptions::ready()).await;
    d.setup(db, "audit", CollectionOptions::ready()).await;
    let port = d.port();
    let mut stream = port
        .watch(db, "orders", StreamStart::Now)
        .await
        .expect("watch opens");
    let initial = stream.resume_token();
    assert!(
        initial.is_some(),
        "a freshly opened stream has a resume token"
    );

    for n in 0..3 {
        d.insert(db, "audit", doc! { "_id": n }).await;
    }

    // Only the other collection changed: empty batches, and the token moves past those writes.
    let polls = d.polls();
    let mut advanced = None;
    for _ in 0..polls.max {
        match stream.next().await {
            Ok(None) if stream.resume_token() != initial => {
                advanced = stream.resume_token();
                break;
            }
            Ok(None) => pause(polls).await,
            Ok(Some(event)) => {
                panic!("a stream on orders returned an event of another collection: {event:?}")
            }
            Err(e) => panic!("the idle change stream failed: {e:?}"),
        }
    }
    let advanced = advanced.unwrap_or_else(|| {
        panic!(
            "the resume token did not advance within {} empty batches after writes to another collection",
            polls.max
        )
    });
    drop(stream);

    d.insert(db, "orders", doc! { "_id": "later" }).await;
    let mut resumed = port
        .watch(db, "orders", StreamStart::After(advanced))
        .await
        .expect("watch resumes after an idle token");
    let event = next_event(resumed.as_mut(), d.polls()).await;
    assert_eq!(
        event.collection, "orders",
        "resuming after an idle token returns no event of another collection"
    );
    assert_eq!(event.operation, OperationType::Insert);
    assert_eq!(
        event.document_key,
        Some(doc! { "_id": "later" }),
        "resuming after an idle token returns the next write to the watched collection"
    );
    assert_no_more_events(resumed.as_mut(), "after the later write").await;
}

on_both!(
    idle_advance,
    idle_advance_on_simulator,
    idle_advance_on_mongodb
);

// ---------------------------------------------------------------------------------------------
// (h) Images off
// ---------------------------------------------------------------------------------------------

async fn images_off(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "plain", CollectionOptions::default()).await;
    d.insert(db, "plain", doc! { "_id": 1, "qty": 1 }).await;
    let mut stream = d
        .port()
        .watch(db, "plain", StreamStart::Now)
        .await
        .expect("watch opens");

    d.update_set(db, "plain", Bson::Int32(1), doc! { "qty": 2 })
        .await;

    let err = next_error(stream.as_mut(), d.polls()).await;
    assert_eq!(
        err.kind,
        ErrorKind::ImagesUnavailable,
        "an update on a collection without pre- and post-images cannot be delivered: {err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
}

on_both!(images_off, images_off_on_simulator, images_off_on_mongodb);

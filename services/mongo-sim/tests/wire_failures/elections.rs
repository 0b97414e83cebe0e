//! The deployment's kind and elections: a standalone server has no change streams; during an
//! election no member is primary, afterwards a new one is.

use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use edgebridge_mongo_sim::{CollectionOptions, Simulator};
use mongodb::error::ErrorKind;

use crate::{RawConnection, client, code, server_code, start};

#[tokio::test]
async fn a_standalone_server_refuses_change_streams() {
    let sim = Simulator::new(301);
    sim.create_collection("shop", "items", CollectionOptions::ready());
    sim.set_standalone(true);
    let server = start(&sim).await;
    let uri = format!("mongodb://{}/", server.address());
    let client = client(&uri, Duration::from_secs(5)).await;
    let error = client
        .database("shop")
        .collection::<Document>("items")
        .watch()
        .await
        .expect_err("no change streams on a standalone server");
    assert_eq!(server_code(&error), Some(40573), "{error:?}");
}

fn counter(hello: &Document) -> i64 {
    hello
        .get_document("topologyVersion")
        .unwrap()
        .get_i64("counter")
        .unwrap()
}

/// Polls `hello` on a raw connection until `done` holds, for at most `limit`.
async fn hello_until(
    raw: &mut RawConnection,
    limit: Duration,
    done: impl Fn(&Document) -> bool,
) -> Document {
    let deadline = Instant::now() + limit;
    loop {
        let hello = raw.run(doc! {"hello": 1, "$db": "admin"}).await;
        if done(&hello) {
            return hello;
        }
        assert!(Instant::now() < deadline, "hello never changed: {hello}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn during_an_election_no_member_is_primary_and_afterwards_a_new_one_is() {
    let sim = Simulator::new(401);
    sim.create_collection("shop", "items", CollectionOptions::ready());
    let server = start(&sim).await;
    let client = client(&server.uri(), Duration::from_millis(300)).await;
    let coll = client.database("shop").collection::<Document>("items");
    coll.insert_one(doc! {"_id": 0}).await.expect("a primary");
    let mut raw = RawConnection::open(server.address()).await;
    let before = raw.run(doc! {"hello": 1, "$db": "admin"}).await;
    let stream_opened = raw
        .run(doc! {
            "aggregate": "items", "pipeline": [{"$changeStream": {}}], "cursor": {}, "$db": "shop",
        })
        .await;
    let stream = stream_opened
        .get_document("cursor")
        .unwrap()
        .get_i64("id")
        .unwrap();
    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .unwrap();

    let window = Duration::from_millis(1500);
    let held = Instant::now();
    sim.hold_election(window);

    let during = raw.run(doc! {"hello": 1, "$db": "admin"}).await;
    assert_eq!(
        during.get_bool("isWritablePrimary").ok(),
        Some(false),
        "{during}"
    );
    assert_eq!(during.get_bool("secondary").ok(), Some(true));
    assert!(!during.contains_key("primary") && !during.contains_key("electionId"));
    let during = hello_until(&mut raw, Duration::from_secs(1), |h| {
        counter(h) > counter(&before)
    })
    .await;
    assert_eq!(during.get_bool("isWritablePrimary").ok(), Some(false));
    // What a secondary answers.
    let insert = raw
        .run(doc! {"insert": "items", "documents": [{"_id": 9}], "$db": "shop"})
        .await;
    assert_eq!(code(&insert), Some(10107), "{insert}");
    assert!(insert.get_document("topologyVersion").is_ok());
    let find = raw.run(doc! {"find": "items", "$db": "shop"}).await;
    assert_eq!(code(&find), Some(13435), "{find}");
    let secondary_read = raw
        .run(doc! {
            "find": "items", "$db": "shop", "$readPreference": {"mode": "secondaryPreferred"},
        })
        .await;
    assert_eq!(
        secondary_read.get_f64("ok").ok(),
        Some(1.0),
        "{secondary_read}"
    );
    let get_more = raw
        .run(doc! {"getMore": stream, "collection": "items", "$db": "shop"})
        .await;
    assert_eq!(code(&get_more), Some(11602), "{get_more}");
    assert!(
        sim.find("shop", "items", &Bson::Int32(1)).is_none(),
        "the transaction is aborted"
    );
    let error = coll
        .insert_one(doc! {"_id": 2})
        .await
        .expect_err("no primary to write to");
    let not_primary = matches!(server_code(&error), Some(10107 | 13435))
        || matches!(error.kind.as_ref(), ErrorKind::ServerSelection { .. });
    assert!(not_primary, "{error:?}");
    assert!(
        held.elapsed() < window,
        "the checks ran within the election"
    );

    // Afterwards: a new primary, with a new electionId and topologyVersion.
    let deadline = held + window + Duration::from_secs(10);
    loop {
        match coll.insert_one(doc! {"_id": 3}).await {
            Ok(_) => break,
            Err(error) => assert!(Instant::now() < deadline, "no new primary: {error:?}"),
        }
    }
    assert!(
        held.elapsed() >= window,
        "no primary before the election ends"
    );
    let after = hello_until(&mut raw, Duration::from_secs(1), |h| {
        h.get_bool("isWritablePrimary").ok() == Some(true)
    })
    .await;
    assert!(counter(&after) > counter(&during));
    let election = |h: &Document| h.get_object_id("electionId").unwrap();
    assert!(election(&after) > election(&before), "{after}");
    assert!(
        session.commit_transaction().await.is_err(),
        "aborted by the stepdown"
    );
}

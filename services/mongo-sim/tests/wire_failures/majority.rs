//! A primary-secondary-arbiter set with its secondary down: what needs a majority's
//! acknowledgement waits for it.

use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use edgebridge_mongo_sim::{CollectionOptions, Simulator};
use mongodb::error::{ErrorKind, UNKNOWN_TRANSACTION_COMMIT_RESULT, WriteFailure};
use mongodb::options::{Acknowledgment, WriteConcern};

use crate::{client, start};

#[tokio::test]
async fn a_write_needing_a_majority_waits_for_it_and_times_out_with_wtimeout() {
    let sim = Simulator::new(501);
    sim.create_collection("shop", "items", CollectionOptions::ready());
    let server = start(&sim).await;
    let client = client(&server.uri(), Duration::from_secs(5)).await;
    let coll = client.database("shop").collection::<Document>("items");
    sim.set_majority_unavailable(true);
    let majority = |wtimeout: Option<Duration>| {
        let mut concern = WriteConcern::majority();
        concern.w_timeout = wtimeout;
        concern
    };
    // With wtimeout: applied, then answered after wtimeout with a write concern error.
    let started = Instant::now();
    let error = coll
        .insert_one(doc! {"_id": 1})
        .write_concern(majority(Some(Duration::from_millis(200))))
        .await
        .expect_err("not acknowledged by a majority");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let ErrorKind::Write(WriteFailure::WriteConcernError(wc)) = error.kind.as_ref() else {
        panic!("expected a write concern error, got {error:?}");
    };
    assert_eq!(
        (wc.code, wc.code_name.as_str()),
        (64, "WriteConcernTimeout")
    );
    assert!(
        sim.find("shop", "items", &Bson::Int32(1)).is_some(),
        "applied"
    );
    // w:1 answers at once, and so does ping.
    coll.insert_one(doc! {"_id": 2}).await.expect("w:1");
    client
        .database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .expect("ping");
    // Without wtimeout: no answer until the majority is back.
    let waiting = tokio::spawn({
        let coll = coll.clone();
        async move {
            coll.insert_one(doc! {"_id": 3})
                .write_concern(majority(None))
                .await
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.find("shop", "items", &Bson::Int32(3)).is_none() {
        assert!(Instant::now() < deadline, "the write is applied");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "answered without a majority");
    sim.set_majority_unavailable(false);
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("answered once the majority is back")
        .unwrap()
        .expect("acknowledged");
}

#[tokio::test]
async fn a_commit_needing_a_majority_times_out_as_an_unknown_commit_result() {
    let sim = Simulator::new(502);
    sim.create_collection("shop", "items", CollectionOptions::ready());
    let server = start(&sim).await;
    let client = client(&server.uri(), Duration::from_secs(5)).await;
    let coll = client.database("shop").collection::<Document>("items");
    sim.set_majority_unavailable(true);
    let mut session = client.start_session().await.unwrap();
    session
        .start_transaction()
        .write_concern(
            WriteConcern::builder()
                .w(Acknowledgment::Majority)
                .w_timeout(Duration::from_millis(200))
                .build(),
        )
        .await
        .unwrap();
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .unwrap();
    let error = session
        .commit_transaction()
        .await
        .expect_err("not acknowledged by a majority");
    assert!(
        error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT),
        "{error:?}"
    );
    assert!(
        sim.find("shop", "items", &Bson::Int32(1)).is_some(),
        "committed on the primary"
    );
}

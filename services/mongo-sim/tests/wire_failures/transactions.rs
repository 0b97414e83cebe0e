//! Transactions on a session: a newer one aborts the one still open.

use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use edgebridge_mongo_sim::{CollectionOptions, Simulator};

use crate::{RawConnection, client, code, lsid, start};

#[tokio::test]
async fn a_newer_transaction_on_the_session_aborts_the_open_one_and_frees_its_documents() {
    let sim = Simulator::new(101);
    sim.create_collection("shop", "items", CollectionOptions::ready());
    sim.insert("shop", "items", doc! {"_id": 0, "n": 0})
        .unwrap();
    let server = start(&sim).await;
    let mut raw = RawConnection::open(server.address()).await;
    let txn = |number: i64, start: bool, body: Document| {
        let mut command = body;
        let db = if command.contains_key("commitTransaction") {
            "admin"
        } else {
            "shop"
        };
        command.insert("lsid", lsid(7));
        command.insert("txnNumber", number);
        command.insert("autocommit", false);
        if start {
            command.insert("startTransaction", true);
        }
        command.insert("$db", db);
        command
    };
    // Transaction 1 inserts a document and updates another, then is left open.
    let reply = raw
        .run(txn(
            1,
            true,
            doc! {"insert": "items", "documents": [{"_id": 1}]},
        ))
        .await;
    assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply}");
    let reply = raw
        .run(txn(
            1,
            false,
            doc! {"update": "items", "updates": [{"q": {"_id": 0}, "u": {"$set": {"n": 1}}}]},
        ))
        .await;
    assert_eq!(reply.get_i64("nModified").ok(), Some(1), "{reply}");
    // Transaction 2 on the same session: MongoDB aborts transaction 1.
    let reply = raw
        .run(txn(
            2,
            true,
            doc! {"insert": "items", "documents": [{"_id": 2}]},
        ))
        .await;
    assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply}");
    let reply = raw.run(txn(2, false, doc! {"commitTransaction": 1})).await;
    assert_eq!(reply.get_f64("ok").ok(), Some(1.0), "{reply}");
    assert!(
        sim.find("shop", "items", &Bson::Int32(1)).is_none(),
        "txn 1's insert is gone"
    );
    assert_eq!(
        sim.find("shop", "items", &Bson::Int32(0)),
        Some(doc! {"_id": 0, "n": 0}),
        "txn 1's update is undone"
    );
    assert!(sim.find("shop", "items", &Bson::Int32(2)).is_some());
    // Transaction 1's document is not locked: another application's write goes through at once.
    let client = client(&server.uri(), Duration::from_secs(5)).await;
    let started = Instant::now();
    client
        .database("shop")
        .collection::<Document>("items")
        .update_one(doc! {"_id": 0}, doc! {"$set": {"n": 5}})
        .await
        .expect("not locked");
    assert!(started.elapsed() < Duration::from_secs(1));
    // Transaction 1 cannot go on.
    let reply = raw
        .run(txn(
            1,
            false,
            doc! {"insert": "items", "documents": [{"_id": 3}]},
        ))
        .await;
    assert_eq!(code(&reply), Some(225), "{reply}");
}

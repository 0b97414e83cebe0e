//! Users, privileges and collection options.

use super::*;

// ---------------------------------------------------------------------------------------------
// Users, privileges, collection options
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_read_only_user_cannot_commit() {
    let sim = simulator(1);
    sim.add_user(SimUser::read_only("reader", "pw", DB));
    let port = connect_as(&sim, "mongodb://reader:pw@sim.example.net/").await;
    let mut session = port.start_session().await.expect("a session starts");

    let err = session
        .commit(DB, &[upsert(1)])
        .await
        .expect_err("a read-only user may not write");
    assert_eq!(err.error.kind, ErrorKind::Unauthorized, "{err:?}");
    assert_eq!(err.error.class(), ErrorClass::Permanent);
    assert_eq!(
        err.op_index, None,
        "a missing privilege is no one document's fault"
    );
    assert!(sim.documents(DB, COLL).is_empty());
}

#[tokio::test]
async fn a_wrong_password_fails_authentication() {
    let sim = simulator(1);
    sim.add_user(SimUser::read_write("app", "right", DB));
    let port = connect_as(&sim, "mongodb://app:wrong@sim.example.net/").await;

    let err = port.ping().await.expect_err("the password is wrong");
    assert_eq!(err.kind, ErrorKind::Authentication, "{err:?}");
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn list_collections_reports_capped_collections() {
    let sim = simulator(1);
    sim.create_collection(
        DB,
        "logs",
        CollectionOptions {
            capped: true,
            ..Default::default()
        },
    );
    let port = connect(&sim).await;

    let infos = port.list_collections(DB).await.expect("list collections");
    let capped = |name: &str| {
        infos
            .iter()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("{name} is listed"))
            .capped
    };
    assert!(capped("logs"), "logs is capped");
    assert!(!capped(COLL), "orders is not capped");
}

#[tokio::test]
async fn watching_needs_the_change_stream_privilege() {
    let sim = simulator(1);
    sim.add_user(SimUser::with_actions("finder", "pw", DB, &["find"]));
    sim.add_user(SimUser::read_only("reader", "pw", DB));

    let finder = connect_as(&sim, "mongodb://finder:pw@sim.example.net/").await;
    let err = watch_error(finder.watch(DB, COLL, StreamStart::Now).await);
    assert_eq!(err.kind, ErrorKind::Unauthorized, "{err:?}");

    let reader = connect_as(&sim, "mongodb://reader:pw@sim.example.net/").await;
    assert!(
        reader.watch(DB, COLL, StreamStart::Now).await.is_ok(),
        "a user with changeStream may watch"
    );
}

#[tokio::test]
async fn a_commit_whose_answer_is_lost_is_reported_as_unknown_but_applied() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    let mut session = port.start_session().await.expect("a session");
    sim.inject(Fault::CommitOutcomeUnknown { count: 1 });
    let err = session
        .commit(DB, &[upsert(1)])
        .await
        .expect_err("the answer is lost");
    assert_eq!(err.error.kind, ErrorKind::CommitOutcomeUnknown);
    assert_eq!(err.op_index, None);
    assert_eq!(
        ids(&sim.documents(DB, COLL)),
        int_ids(1..2),
        "the writes are there: a retry must be idempotent"
    );
}

#[tokio::test]
async fn update_operators_follow_mongodb() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    let mut session = port.start_session().await.expect("a session");
    sim.insert(DB, COLL, doc! {"_id": 1, "a": {"b": 1}, "arr": [1, 2]})
        .unwrap();
    let update = |u: Document| WriteOp::Update {
        collection: COLL.into(),
        filter: doc! {"_id": 1},
        update: u.into(),
        upsert: false,
    };
    // Overlapping paths are refused, like MongoDB's "would create a conflict".
    let err = session
        .commit(DB, &[update(doc! {"$set": {"a": 1, "a.b": 2}})])
        .await
        .expect_err("conflicting paths");
    assert_eq!(err.error.code, Some(40));
    // $unset of an array element leaves null in its place.
    session
        .commit(
            DB,
            &[update(doc! {"$unset": {"arr.0": ""}, "$set": {"a.c": 3}})],
        )
        .await
        .expect("commits");
    assert_eq!(
        sim.find(DB, COLL, &Bson::Int32(1)).unwrap(),
        doc! {"_id": 1, "a": {"b": 1, "c": 3}, "arr": [Bson::Null, 2]}
    );
    // An update that changes nothing makes no change event.
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    session
        .commit(DB, &[update(doc! {"$set": {"a.c": 3}})])
        .await
        .expect("commits");
    assert_no_more_events(stream.as_mut()).await;
    // Two upserts without _id in one transaction get two ids.
    let insert = |n: i32| WriteOp::Update {
        collection: COLL.into(),
        filter: doc! {"n": n},
        update: doc! {"$set": {"v": n}}.into(),
        upsert: true,
    };
    session
        .commit(DB, &[insert(7), insert(8)])
        .await
        .expect("both upsert");
    assert_eq!(sim.documents(DB, COLL).len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Failed transactions

/// A failed transaction leaves nothing behind: not a database or collection it created, not a
/// document it deleted under another numeric type of its `_id` (the document comes back with
/// its own `_id`).
#[tokio::test]
async fn a_failed_transaction_leaves_no_trace() {
    let sim = simulator(7);
    sim.insert(DB, COLL, doc! { "_id": 5_i32, "n": 1 })
        .expect("another application's insert succeeds");
    sim.create_unique_index(DB, COLL, "sku");
    sim.insert(DB, COLL, doc! { "_id": 6_i32, "sku": "a" })
        .expect("another application's insert succeeds");
    let port = connect(&sim).await;
    let mut session = port.start_session().await.expect("a session starts");
    let err = session
        .commit(
            DB,
            &[
                WriteOp::Delete {
                    collection: COLL.to_owned(),
                    filter: doc! { "_id": 5.0_f64 },
                },
                WriteOp::Insert {
                    collection: "audit".to_owned(),
                    document: doc! { "_id": 1 },
                },
                WriteOp::Insert {
                    collection: COLL.to_owned(),
                    document: doc! { "_id": 7_i32, "sku": "a" },
                },
            ],
        )
        .await
        .expect_err("a duplicate unique key fails the transaction");
    assert_eq!(err.op_index, Some(2), "{err:?}");
    let docs = port
        .scan(DB, COLL, None, 10)
        .await
        .expect("the collection scans");
    assert_eq!(
        docs,
        vec![
            doc! { "_id": 5_i32, "n": 1 },
            doc! { "_id": 6_i32, "sku": "a" }
        ]
    );
    assert!(
        !port
            .list_collections(DB)
            .await
            .expect("collections list")
            .iter()
            .any(|c| c.name == "audit"),
        "the collection the failed transaction created is gone"
    );

    session
        .commit(
            "fresh",
            &[
                WriteOp::Insert {
                    collection: "things".to_owned(),
                    document: doc! { "_id": 1 },
                },
                WriteOp::Update {
                    collection: "things".to_owned(),
                    filter: doc! { "_id": 1 },
                    update: doc! { "$set": { "": 1 } }.into(),
                    upsert: false,
                },
            ],
        )
        .await
        .expect_err("an invalid update path fails the transaction");
    assert!(
        !port
            .list_database_names()
            .await
            .expect("databases list")
            .contains(&"fresh".to_owned()),
        "the database the failed transaction created is gone"
    );
}

//! What only the simulator can be made to do on demand: lose oplog history, drop connections
//! mid-batch or mid-stream, step the primary down, answer slowly, refuse a user. Each test states
//! what the sync engine may rely on when that happens.

use std::sync::Arc;
use std::time::Duration;

use bson::{Bson, Document, doc};
use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::port::{
    ChangeEvent, ChangeStream, ConnectOptions, MongoConnector, MongoPort, PortResult, ResumeToken,
    SessionId, StreamStart, WriteOp,
};
use edgebridge_mongo::{ErrorClass, ErrorKind, PortError};
use edgebridge_mongo_sim::{CollectionOptions, Fault, SimUser, Simulator};

const DB: &str = "app";
const COLL: &str = "orders";

/// A simulator with a resolvable host and one ready collection, `app.orders`.
fn simulator(seed: u64) -> Simulator {
    let sim = Simulator::new(seed);
    sim.add_host(
        "sim.example.net",
        &["203.0.113.10".parse().expect("an IP address")],
    );
    sim.create_collection(DB, COLL, CollectionOptions::ready());
    sim
}

async fn connect_as(sim: &Simulator, uri: &str) -> Arc<dyn MongoPort> {
    sim.connector()
        .connect(
            &MongoUri::parse(uri).expect("the connection string parses"),
            &ConnectOptions::default(),
        )
        .await
        .expect("the simulator connects")
}

async fn connect(sim: &Simulator) -> Arc<dyn MongoPort> {
    connect_as(sim, "mongodb://sim.example.net/").await
}

async fn watch(port: &dyn MongoPort, start: StreamStart) -> Box<dyn ChangeStream> {
    port.watch(DB, COLL, start).await.expect("watch opens")
}

/// The error a `watch` that must fail fails with.
fn watch_error(result: PortResult<Box<dyn ChangeStream>>) -> PortError {
    match result {
        Ok(_) => panic!("expected watch to fail, it opened a stream"),
        Err(e) => e,
    }
}

/// The next event; the simulator answers at once, so an empty batch means there is none.
async fn next_event(stream: &mut dyn ChangeStream) -> ChangeEvent {
    match stream.next().await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("expected a change event, got an empty batch"),
        Err(e) => panic!("expected a change event, the stream failed: {e:?}"),
    }
}

async fn assert_no_more_events(stream: &mut dyn ChangeStream) {
    match stream.next().await {
        Ok(None) => {}
        Ok(Some(event)) => panic!("expected no further event, got {event:?}"),
        Err(e) => panic!("expected an empty batch, the stream failed: {e:?}"),
    }
}

fn key_id(event: &ChangeEvent) -> Bson {
    event
        .document_key
        .as_ref()
        .and_then(|key| key.get("_id"))
        .cloned()
        .expect("the change event has a document key")
}

fn insert_many(sim: &Simulator, ids: std::ops::Range<i32>) {
    for n in ids {
        sim.insert(DB, COLL, doc! { "_id": n, "n": n })
            .expect("another application's insert succeeds");
    }
}

fn upsert(id: i32) -> WriteOp {
    WriteOp::Upsert {
        collection: COLL.to_owned(),
        filter: doc! { "_id": id },
        replacement: doc! { "_id": id, "status": "new" },
    }
}

fn ids(documents: &[Document]) -> Vec<Bson> {
    documents
        .iter()
        .map(|d| d.get("_id").cloned().expect("every document has an _id"))
        .collect()
}

fn int_ids(range: std::ops::Range<i32>) -> Vec<Bson> {
    range.map(Bson::Int32).collect()
}

// ---------------------------------------------------------------------------------------------
// Oplog window
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn resuming_from_before_the_oplog_window_is_history_lost() {
    let sim = simulator(1);
    sim.set_oplog_capacity(5);
    let port = connect(&sim).await;
    let token = watch(port.as_ref(), StreamStart::Now)
        .await
        .resume_token()
        .expect("a freshly opened stream has a resume token");

    insert_many(&sim, 0..10);

    let err = watch_error(port.watch(DB, COLL, StreamStart::After(token)).await);
    assert_eq!(err.kind, ErrorKind::HistoryLost, "{err:?}");
    assert_eq!(
        err.class(),
        ErrorClass::Permanent,
        "lost history needs a new initial sync, not a retry"
    );
}

#[tokio::test]
async fn a_token_whose_own_event_rolled_off_is_history_lost_even_if_the_next_is_kept() {
    let sim = simulator(1);
    sim.set_oplog_capacity(3);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    insert_many(&sim, 0..3);
    let first = next_event(stream.as_mut()).await;
    // One more write pushes the first event out; the second is still in the window.
    insert_many(&sim, 3..4);

    let err = watch_error(port.watch(DB, COLL, StreamStart::After(first.token)).await);
    assert_eq!(err.kind, ErrorKind::HistoryLost, "{err:?}");
    // The token of an event still in the window resumes.
    let second = next_event(stream.as_mut()).await;
    let mut resumed = watch(port.as_ref(), StreamStart::After(second.token)).await;
    assert_eq!(key_id(&next_event(resumed.as_mut()).await), Bson::Int32(2));
}

#[tokio::test]
async fn an_open_stream_that_falls_behind_the_oplog_window_fails_with_history_lost() {
    let sim = simulator(1);
    sim.set_oplog_capacity(5);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;

    insert_many(&sim, 0..10);

    let err = stream
        .next()
        .await
        .expect_err("the stream's position rolled off the oplog");
    assert_eq!(err.kind, ErrorKind::HistoryLost, "{err:?}");
}

#[tokio::test]
async fn a_stream_started_at_an_operation_time_includes_the_event_at_that_time() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    insert_many(&sim, 0..3);
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(next_event(stream.as_mut()).await);
    }

    let mut at = watch(
        port.as_ref(),
        StreamStart::AtOperationTime(events[1].cluster_time),
    )
    .await;

    assert_eq!(key_id(&next_event(at.as_mut()).await), Bson::Int32(1));
    assert_eq!(key_id(&next_event(at.as_mut()).await), Bson::Int32(2));
    assert_no_more_events(at.as_mut()).await;
}

// ---------------------------------------------------------------------------------------------
// Resume tokens
// ---------------------------------------------------------------------------------------------

/// The token of the first event after inserting `_id: 0` into a fresh simulator.
async fn first_event_token(sim: &Simulator) -> ResumeToken {
    let port = connect(sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    insert_many(sim, 0..1);
    next_event(stream.as_mut()).await.token
}

#[tokio::test]
async fn a_token_from_another_deployment_is_rejected() {
    let ours = simulator(1);
    let theirs = simulator(2);
    first_event_token(&ours).await;
    let foreign = first_event_token(&theirs).await;
    let port = connect(&ours).await;

    let err = watch_error(port.watch(DB, COLL, StreamStart::After(foreign)).await);
    assert_eq!(
        err.code,
        Some(260),
        "refused as InvalidResumeToken: {err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn a_forged_token_is_rejected() {
    let sim = simulator(1);
    let genuine = first_event_token(&sim).await;
    let data = genuine
        .0
        .get_str("_data")
        .expect("the token has _data")
        .to_owned();
    let last = data.chars().last().expect("a non-empty token");
    let flipped = if last == '0' { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &data[..data.len() - 1]);
    let port = connect(&sim).await;

    for forged in [
        ResumeToken(doc! { "_data": tampered }),
        ResumeToken(doc! { "_data": "82DEADBEEF" }),
        ResumeToken(doc! { "something": "else" }),
    ] {
        let err = watch_error(
            port.watch(DB, COLL, StreamStart::After(forged.clone()))
                .await,
        );
        assert_eq!(err.class(), ErrorClass::Permanent, "{forged:?}: {err:?}");
    }
}

#[tokio::test]
async fn a_token_stored_as_json_resumes_the_stream() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    insert_many(&sim, 0..2);
    let first = next_event(stream.as_mut()).await;

    let stored = first.token.to_json().to_string();
    let restored = ResumeToken::from_json(serde_json::from_str(&stored).expect("valid JSON"))
        .expect("a stored token reads back");
    assert_eq!(restored, first.token);

    let mut resumed = watch(port.as_ref(), StreamStart::After(restored)).await;
    assert_eq!(key_id(&next_event(resumed.as_mut()).await), Bson::Int32(1));
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_scan_dropped_mid_batch_fails_transiently_and_a_retry_returns_the_full_batch() {
    let sim = simulator(1);
    insert_many(&sim, 0..10);
    let port = connect(&sim).await;
    sim.inject(Fault::DropScan { after_docs: 3 });

    let err = port
        .scan(DB, COLL, None, 5)
        .await
        .expect_err("the connection drops after 3 of 5 documents");
    assert!(err.is_transient(), "a dropped scan is retried: {err:?}");

    let batch = port
        .scan(DB, COLL, None, 5)
        .await
        .expect("the retry succeeds");
    assert_eq!(
        ids(&batch),
        int_ids(0..5),
        "the retry returns the whole batch"
    );
}

#[tokio::test]
async fn a_dropped_stream_resumes_from_its_token_without_loss_or_duplicates() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    sim.inject(Fault::DropStream { after_events: 2 });
    insert_many(&sim, 0..5);

    let mut seen = Vec::new();
    let err = loop {
        match stream.next().await {
            Ok(Some(event)) => seen.push(key_id(&event)),
            Ok(None) => panic!("the stream ran out before the injected drop"),
            Err(e) => break e,
        }
    };
    assert!(err.is_transient(), "a dropped stream is retried: {err:?}");
    assert_eq!(seen.len(), 2, "the drop came after two events");

    let token = stream
        .resume_token()
        .expect("the stream has a resume token");
    let mut resumed = watch(port.as_ref(), StreamStart::After(token)).await;
    for _ in 2..5 {
        seen.push(key_id(&next_event(resumed.as_mut()).await));
    }
    assert_no_more_events(resumed.as_mut()).await;
    assert_eq!(seen, int_ids(0..5), "every event exactly once, in order");
}

#[tokio::test]
async fn a_stepdown_fails_the_commit_as_not_primary_and_a_retry_commits() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    let mut session = port.start_session().await.expect("a session starts");
    sim.inject(Fault::StepDown { count: 1 });

    let err = session
        .commit(DB, &[upsert(1)])
        .await
        .expect_err("the primary stepped down");
    assert_eq!(err.error.kind, ErrorKind::NotPrimary, "{err:?}");
    assert!(err.error.is_transient());
    assert_eq!(err.op_index, None, "a stepdown is no operation's fault");
    assert!(
        sim.documents(DB, COLL).is_empty(),
        "nothing is written by a failed commit"
    );

    session
        .commit(DB, &[upsert(1)])
        .await
        .expect("the retry commits");
    assert_eq!(ids(&sim.documents(DB, COLL)), int_ids(1..2));
}

#[tokio::test]
async fn dropped_connections_fail_transiently_then_recover() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    sim.inject(Fault::DropConnection { count: 2 });

    for attempt in 1..=2 {
        let err = port.ping().await.expect_err("the connection is dropped");
        assert!(
            err.is_transient(),
            "attempt {attempt}: a dropped connection is retried: {err:?}"
        );
    }
    port.ping().await.expect("the third attempt gets through");
}

#[tokio::test(start_paused = true)]
async fn a_slow_server_trips_the_callers_timeout() {
    let sim = simulator(1);
    let port = connect(&sim).await;
    sim.inject(Fault::Slow {
        count: 1,
        delay: Duration::from_secs(60),
    });

    let slow = tokio::time::timeout(Duration::from_secs(5), port.ping()).await;
    assert!(slow.is_err(), "a 60 s answer does not fit a 5 s timeout");

    let next = tokio::time::timeout(Duration::from_secs(5), port.ping()).await;
    assert!(
        matches!(next, Ok(Ok(()))),
        "the next request is served promptly: {next:?}"
    );
}

#[tokio::test]
async fn a_retrying_scan_reads_every_document_once_despite_random_drops() {
    let sim = simulator(7);
    insert_many(&sim, 0..50);
    let port = connect(&sim).await;
    sim.set_random_drops(0.3);

    let mut read: Vec<Document> = Vec::new();
    let mut failures = 0;
    for _ in 0..500 {
        let after = read.last().and_then(|d| d.get("_id")).cloned();
        match port.scan(DB, COLL, after.as_ref(), 7).await {
            Ok(batch) if batch.is_empty() => break,
            Ok(batch) => read.extend(batch),
            Err(e) if e.is_transient() => failures += 1,
            Err(e) => panic!("a random drop must be transient: {e:?}"),
        }
    }

    assert!(failures > 0, "with 30% drops some scans fail");
    assert_eq!(
        ids(&read),
        int_ids(0..50),
        "every document exactly once, in order"
    );
}

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

/// The same operations on a fresh simulator: the tokens it hands out and the session id.
async fn run_fixed_operations(seed: u64) -> (Vec<ResumeToken>, SessionId) {
    let sim = simulator(seed);
    let port = connect(&sim).await;
    let mut stream = watch(port.as_ref(), StreamStart::Now).await;
    let mut tokens = vec![stream.resume_token().expect("an initial token")];
    let mut session = port.start_session().await.expect("a session starts");
    session
        .commit(DB, &[upsert(1)])
        .await
        .expect("the transaction commits");
    insert_many(&sim, 2..4);
    for _ in 0..3 {
        tokens.push(next_event(stream.as_mut()).await.token);
    }
    (tokens, session.id().clone())
}

#[tokio::test]
async fn the_same_seed_gives_the_same_tokens_and_session_ids() {
    let first = run_fixed_operations(11).await;
    let second = run_fixed_operations(11).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn different_seeds_give_different_tokens_and_session_ids() {
    let (tokens_a, session_a) = run_fixed_operations(11).await;
    let (tokens_b, session_b) = run_fixed_operations(12).await;
    assert_ne!(session_a, session_b);
    for (a, b) in tokens_a.iter().zip(&tokens_b) {
        assert_ne!(a, b, "tokens of different deployments differ");
    }
}

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

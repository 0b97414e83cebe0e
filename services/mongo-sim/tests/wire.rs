//! The wire front with the official driver as the client: the handshake, authentication, the
//! commands' replies and errors as MongoDB shapes them, and the simulator's faults as a real
//! server shows them. (The port's own behaviour over the wire is the scenario suite's
//! `*_on_mongodb` half; this file checks the protocol.)

use std::time::{Duration, Instant};

use bson::{Bson, Document, doc};
use edgebridge_mongo_sim::{CollectionOptions, Fault, SimUser, Simulator, WireOptions, WireServer};
use futures_util::TryStreamExt;
use mongodb::Client;
use mongodb::error::ErrorKind;
use mongodb::options::ClientOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(sim: &Simulator) -> WireServer {
    WireServer::start(sim.clone(), WireOptions::default())
        .await
        .expect("the wire front listens")
}

async fn client(uri: &str) -> Client {
    let mut options = ClientOptions::parse(uri).await.expect("the URI parses");
    options.server_selection_timeout = Some(Duration::from_secs(5));
    options.connect_timeout = Some(Duration::from_secs(5));
    Client::with_options(options).expect("a client")
}

fn command_code(error: &mongodb::error::Error) -> Option<(i32, String)> {
    match error.kind.as_ref() {
        ErrorKind::Command(e) => Some((e.code, e.code_name.clone())),
        _ => None,
    }
}

#[tokio::test]
async fn the_handshake_answers_as_a_replica_set_primary() {
    let sim = Simulator::new(1);
    let server = start(&sim).await;
    let client = client(&server.uri()).await;
    let hello = client
        .database("admin")
        .run_command(doc! {"hello": 1})
        .await
        .expect("hello");
    let me = server.address().to_string();
    assert_eq!(hello.get_bool("isWritablePrimary").ok(), Some(true));
    assert_eq!(hello.get_str("setName").ok(), Some("rs0"));
    assert_eq!(hello.get_str("primary").ok(), Some(me.as_str()));
    assert_eq!(hello.get_array("hosts").unwrap(), &vec![Bson::String(me)]);
    assert_eq!(hello.get_i32("maxWireVersion").ok(), Some(25));
    assert_eq!(hello.get_i32("logicalSessionTimeoutMinutes").ok(), Some(30));
    assert!(hello.get_document("topologyVersion").is_ok());
    assert!(hello.get_timestamp("operationTime").is_ok());
    assert!(hello.get_document("$clusterTime").is_ok());
    let info = client
        .database("admin")
        .run_command(doc! {"buildInfo": 1})
        .await
        .expect("buildInfo");
    assert!(info.get_str("version").unwrap().starts_with("8.0"));
}

#[tokio::test]
async fn an_unknown_command_is_the_servers_command_not_found() {
    let sim = Simulator::new(2);
    let server = start(&sim).await;
    let client = client(&server.uri()).await;
    let error = client
        .database("app")
        .run_command(doc! {"fsyncUnlockEverything": 1})
        .await
        .expect_err("no such command");
    assert_eq!(
        command_code(&error),
        Some((59, "CommandNotFound".to_owned()))
    );
}

#[tokio::test]
async fn the_legacy_handshake_over_op_query_gets_an_op_reply() {
    let sim = Simulator::new(3);
    let server = start(&sim).await;
    let mut socket = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    let mut body = Vec::new();
    body.extend_from_slice(&0i32.to_le_bytes());
    body.extend_from_slice(b"admin.$cmd\0");
    body.extend_from_slice(&0i32.to_le_bytes());
    body.extend_from_slice(&(-1i32).to_le_bytes());
    doc! {"isMaster": 1, "helloOk": true}
        .to_writer(&mut body)
        .unwrap();
    let mut message = Vec::new();
    message.extend_from_slice(&((16 + body.len()) as i32).to_le_bytes());
    message.extend_from_slice(&9i32.to_le_bytes());
    message.extend_from_slice(&0i32.to_le_bytes());
    message.extend_from_slice(&2004i32.to_le_bytes());
    message.extend_from_slice(&body);
    socket.write_all(&message).await.unwrap();
    let mut header = [0u8; 16];
    socket.read_exact(&mut header).await.unwrap();
    let length = i32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
    assert_eq!(i32::from_le_bytes(header[8..12].try_into().unwrap()), 9);
    assert_eq!(
        i32::from_le_bytes(header[12..].try_into().unwrap()),
        1,
        "OP_REPLY"
    );
    let mut rest = vec![0u8; length - 16];
    socket.read_exact(&mut rest).await.unwrap();
    let reply = Document::from_reader(&rest[20..]).unwrap();
    assert_eq!(reply.get_bool("ismaster").ok(), Some(true));
    assert_eq!(reply.get_bool("helloOk").ok(), Some(true));
}

fn with_user(seed: u64) -> Simulator {
    let sim = Simulator::new(seed);
    sim.add_user(SimUser::read_write("app", "s3cret:/@", "shop"));
    sim.create_collection("shop", "orders", CollectionOptions::ready());
    sim
}

#[tokio::test]
async fn scram_sha_256_and_sha_1_authenticate_and_a_wrong_password_does_not() {
    let sim = with_user(4);
    let server = start(&sim).await;
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-1"] {
        let uri = format!(
            "{}&authMechanism={mechanism}",
            server.uri_with_credentials("app", "s3cret:/@")
        );
        let client = client(&uri).await;
        let n = client
            .database("shop")
            .collection::<Document>("orders")
            .count_documents(doc! {})
            .await
            .unwrap_or_else(|e| panic!("{mechanism} authenticates: {e}"));
        assert_eq!(n, 0);
    }
    let wrong = client(&server.uri_with_credentials("app", "nope")).await;
    let error = wrong
        .database("shop")
        .run_command(doc! {"ping": 1})
        .await
        .expect_err("a wrong password fails");
    assert!(
        matches!(error.kind.as_ref(), ErrorKind::Authentication { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn without_authentication_data_commands_are_refused() {
    let sim = with_user(5);
    let server = start(&sim).await;
    let client = client(&server.uri()).await;
    // ping needs no authentication, as on MongoDB.
    client
        .database("admin")
        .run_command(doc! {"ping": 1})
        .await
        .expect("ping");
    let error = client
        .database("shop")
        .collection::<Document>("orders")
        .find_one(doc! {})
        .await
        .expect_err("find needs a user");
    assert_eq!(command_code(&error).map(|c| c.0), Some(13));
}

#[tokio::test]
async fn a_user_without_the_action_is_refused_with_unauthorized() {
    let sim = Simulator::new(6);
    sim.add_user(SimUser::read_only("reader", "pw", "shop"));
    let server = start(&sim).await;
    let client = client(&server.uri_with_credentials("reader", "pw")).await;
    let error = client
        .database("shop")
        .collection::<Document>("orders")
        .insert_one(doc! {"_id": 1})
        .await
        .expect_err("read-only");
    assert_eq!(command_code(&error).map(|c| c.0), Some(13));
}

#[tokio::test]
async fn reads_and_writes_answer_as_the_server_does() {
    let sim = Simulator::new(7);
    let server = start(&sim).await;
    let client = client(&server.uri()).await;
    let coll = client.database("shop").collection::<Document>("items");
    let docs: Vec<Document> = (0..250).map(|i| doc! {"_id": i, "n": i % 10}).collect();
    coll.insert_many(docs).await.expect("insert_many");
    // More than one batch: the cursor's getMore path.
    let all: Vec<Document> = coll
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 250);
    let some: Vec<Document> = coll
        .find(doc! {"n": {"$gte": 8}})
        .sort(doc! {"_id": -1})
        .limit(3)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<i32> = some.iter().map(|d| d.get_i32("_id").unwrap()).collect();
    assert_eq!(ids, vec![249, 248, 239]);
    assert_eq!(coll.count_documents(doc! {"n": 3}).await.unwrap(), 25);
    assert_eq!(coll.estimated_document_count().await.unwrap(), 250);
    let updated = coll
        .update_many(doc! {"n": 0}, doc! {"$set": {"zero": true}})
        .await
        .unwrap();
    assert_eq!((updated.matched_count, updated.modified_count), (25, 25));
    let upserted = coll
        .update_one(doc! {"_id": 1000}, doc! {"$set": {"n": 1}})
        .upsert(true)
        .await
        .unwrap();
    assert_eq!(upserted.upserted_id, Some(Bson::Int32(1000)));
    let deleted = coll.delete_many(doc! {"n": 1}).await.unwrap();
    assert_eq!(deleted.deleted_count, 26);
    // A duplicate key in an ordered batch: the write error names the statement.
    let error = coll
        .insert_many(vec![
            doc! {"_id": 5000},
            doc! {"_id": 2},
            doc! {"_id": 5001},
        ])
        .await
        .expect_err("duplicate key");
    let ErrorKind::InsertMany(failure) = error.kind.as_ref() else {
        panic!("expected an insert-many error, got {error:?}");
    };
    let errors = failure.write_errors.as_ref().expect("write errors");
    assert_eq!((errors[0].index, errors[0].code), (1, 11000));
    assert!(
        coll.find_one(doc! {"_id": 5001}).await.unwrap().is_none(),
        "ordered: stopped"
    );
}

#[tokio::test]
async fn a_stepdown_answers_not_writable_primary_and_changes_the_topology_version() {
    let sim = Simulator::new(8);
    let server = start(&sim).await;
    let client = client(&server.uri()).await;
    let db = client.database("shop");
    let before = db.run_command(doc! {"hello": 1}).await.unwrap();
    sim.inject(Fault::StepDown { count: 1 });
    let reply = db
        .run_command(doc! {"insert": "items", "documents": [{"_id": 1}]})
        .await;
    let error = reply.expect_err("not primary");
    assert_eq!(
        command_code(&error),
        Some((10107, "NotWritablePrimary".to_owned()))
    );
    let after = db.run_command(doc! {"hello": 1}).await.unwrap();
    let counter = |d: &Document| {
        d.get_document("topologyVersion")
            .unwrap()
            .get_i64("counter")
            .unwrap()
    };
    assert!(counter(&after) > counter(&before));
    // The driver's retryable write goes through once the primary is back.
    db.collection::<Document>("items")
        .insert_one(doc! {"_id": 2})
        .await
        .expect("the write succeeds after the election");
}

#[tokio::test]
async fn a_dropped_connection_is_a_network_error_and_the_driver_retries_reads_once() {
    let sim = Simulator::new(9);
    sim.create_collection("shop", "items", CollectionOptions::ready());
    let server = start(&sim).await;
    let client = client(&server.uri()).await;
    let coll = client.database("shop").collection::<Document>("items");
    coll.insert_one(doc! {"_id": 1}).await.unwrap();
    sim.inject(Fault::DropConnection { count: 1 });
    // A retryable read: the driver retries once on a network error, as with a real server.
    assert!(coll.find_one(doc! {}).await.unwrap().is_some());
    sim.inject(Fault::DropConnection { count: 2 });
    let error = coll
        .find_one(doc! {})
        .await
        .expect_err("two drops in a row");
    assert!(matches!(error.kind.as_ref(), ErrorKind::Io(_)), "{error:?}");
}

#[tokio::test]
async fn the_round_trip_time_delays_every_reply() {
    let sim = Simulator::new(10);
    let server = start(&sim).await;
    let client = client(&server.uri()).await;
    let db = client.database("admin");
    db.run_command(doc! {"ping": 1}).await.unwrap();
    server.set_round_trip(Duration::from_millis(30));
    let started = Instant::now();
    db.run_command(doc! {"ping": 1}).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[tokio::test]
async fn transactions_commit_with_their_session_on_the_change_events() {
    let sim = Simulator::new(11);
    sim.create_collection("shop", "items", CollectionOptions::ready());
    let server = start(&sim).await;
    let client = client(&server.uri()).await;
    let coll = client.database("shop").collection::<Document>("items");
    let mut stream = coll.watch().await.unwrap();
    let mut session = client.start_session().await.unwrap();
    session.start_transaction().await.unwrap();
    coll.insert_one(doc! {"_id": 1})
        .session(&mut session)
        .await
        .unwrap();
    coll.insert_one(doc! {"_id": 2})
        .session(&mut session)
        .await
        .unwrap();
    session.abort_transaction().await.unwrap();
    assert_eq!(sim.count("shop", "items"), 0, "aborted: nothing written");
    session.start_transaction().await.unwrap();
    coll.insert_one(doc! {"_id": 3})
        .session(&mut session)
        .await
        .unwrap();
    session.commit_transaction().await.unwrap();
    let event = stream.next_if_any().await.unwrap();
    let event = match event {
        Some(event) => event,
        None => stream
            .next_if_any()
            .await
            .unwrap()
            .expect("the committed insert"),
    };
    assert_eq!(event.document_key, Some(doc! {"_id": 3}));
    assert_eq!(event.txn_number, Some(2));
    assert_eq!(
        event.lsid.as_ref().and_then(|l| l.get("id")),
        session.id().get("id")
    );
}

#[tokio::test]
async fn resuming_before_the_oplog_window_is_history_lost() {
    let sim = Simulator::new(12);
    sim.create_collection("shop", "items", CollectionOptions::ready());
    let server = start(&sim).await;
    let client = client(&server.uri()).await;
    let coll = client.database("shop").collection::<Document>("items");
    let stream = coll.watch().await.unwrap();
    let token = stream.resume_token().expect("a resume token");
    drop(stream);
    sim.set_oplog_capacity(2);
    for i in 0..5 {
        sim.insert("shop", "items", doc! {"_id": i}).unwrap();
    }
    let error = coll
        .watch()
        .start_after(token)
        .await
        .expect_err("history lost");
    assert_eq!(
        command_code(&error),
        Some((286, "ChangeStreamHistoryLost".to_owned()))
    );
}

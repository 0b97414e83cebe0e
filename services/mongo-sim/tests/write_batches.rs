//! The write-back through the shipped driver adapter against the wire front pays a round trip
//! per write command, not per document: a transaction's consecutive operations on one
//! collection that map to the same command go out as one multi-statement `update`, `delete` or
//! `insert`, in their order, bounded in statements and bytes; a write error still names its
//! operation, and an operation too large to send fails before anything is sent.
//!
//! What went over the wire is read from the simulator's operation log: one line per command
//! (`"update shop.items"`, `"commitTransaction"`).

use std::sync::Arc;

use bson::{Bson, Document, doc};
use edgebridge_domain::connection_string::MongoUri;
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{ConnectOptions, MongoConnector, MongoPort, WriteOp};
use edgebridge_mongo::{ErrorClass, ErrorKind};
use edgebridge_mongo_sim::{CollectionOptions, Simulator, WireOptions, WireServer};

const DB: &str = "shop";

/// A simulator behind its wire front, and the driver adapter connected to it.
struct Wire {
    sim: Simulator,
    port: Arc<dyn MongoPort>,
    server: WireServer,
}

impl Wire {
    async fn start(seed: u64) -> Wire {
        let sim = Simulator::new(seed);
        let server = WireServer::start(sim.clone(), WireOptions::default())
            .await
            .expect("the wire front listens");
        let uri = MongoUri::parse(&server.uri()).expect("the wire front's URI parses");
        let options = ConnectOptions {
            policy: TargetPolicy::AllowPrivate,
            ..ConnectOptions::default()
        };
        let port = DriverConnector
            .connect(&uri, &options)
            .await
            .expect("the driver adapter connects");
        Wire { sim, port, server }
    }

    /// Where the operation log stands now.
    fn mark(&self) -> usize {
        self.sim.operations().len()
    }

    /// The write and commit commands received since `mark`, in order.
    fn commands_since(&self, mark: usize) -> Vec<String> {
        self.sim.operations()[mark..]
            .iter()
            .filter(|line| {
                ["insert ", "update ", "delete "]
                    .iter()
                    .any(|kind| line.starts_with(kind))
                    || line.as_str() == "commitTransaction"
            })
            .cloned()
            .collect()
    }

    fn ids(&self, coll: &str) -> Vec<Bson> {
        self.sim
            .documents(DB, coll)
            .iter()
            .map(|d| d.get("_id").cloned().expect("an _id"))
            .collect()
    }
}

fn upsert(coll: &str, document: Document) -> WriteOp {
    WriteOp::Upsert {
        collection: coll.to_owned(),
        filter: doc! {"_id": document.get("_id").cloned().expect("an _id")},
        replacement: document,
    }
}

fn set(coll: &str, id: impl Into<Bson>, fields: Document, upsert: bool) -> WriteOp {
    WriteOp::Update {
        collection: coll.to_owned(),
        filter: doc! {"_id": id.into()},
        update: doc! {"$set": fields}.into(),
        upsert,
    }
}

fn delete(coll: &str, id: impl Into<Bson>) -> WriteOp {
    WriteOp::Delete {
        collection: coll.to_owned(),
        filter: doc! {"_id": id.into()},
    }
}

fn insert(coll: &str, document: Document) -> WriteOp {
    WriteOp::Insert {
        collection: coll.to_owned(),
        document,
    }
}

fn lines(commands: &[&str]) -> Vec<String> {
    commands.iter().map(|c| (*c).to_owned()).collect()
}

#[tokio::test]
async fn a_500_operation_transaction_goes_out_as_a_handful_of_commands() {
    let wire = Wire::start(61).await;
    wire.sim
        .create_collection(DB, "items", CollectionOptions::ready());
    for i in 0..100 {
        wire.sim
            .insert(DB, "items", doc! {"_id": i, "sku": "old"})
            .expect("seeded");
    }
    // 300 upserts (100 replace, 200 insert), 10 deletes of upserted documents, 189 updates of
    // kept ones, and the write-back's session record in another collection.
    let mut ops: Vec<WriteOp> = (0..300)
        .map(|i| upsert("items", doc! {"_id": i, "sku": format!("sku-{i}")}))
        .collect();
    ops.extend((200..210).map(|i| delete("items", i)));
    ops.extend((0..189).map(|i| set("items", i, doc! {"qty": i}, false)));
    ops.push(set("sessions", "s1", doc! {"usedAt": 1}, false));
    assert_eq!(ops.len(), 500);
    let mut session = wire.port.start_session().await.expect("a session starts");
    let mark = wire.mark();

    let outcome = session
        .commit(DB, &ops)
        .await
        .expect("the transaction commits");

    assert_eq!(
        wire.commands_since(mark),
        lines(&[
            "update shop.items",
            "delete shop.items",
            "update shop.items",
            "update shop.sessions",
            "commitTransaction",
        ]),
        "one command per run of operations, then the commit"
    );
    assert_eq!(
        (
            outcome.matched,
            outcome.upserted,
            outcome.deleted,
            outcome.inserted
        ),
        (100 + 189, 200, 10, 0),
        "counted from the replies: {outcome:?}"
    );
    assert_eq!(wire.sim.count(DB, "items"), 290);
    assert_eq!(
        wire.sim.find(DB, "items", &Bson::Int32(150)),
        Some(doc! {"_id": 150, "sku": "sku-150", "qty": 150})
    );
    assert_eq!(wire.sim.find(DB, "items", &Bson::Int32(205)), None);
}

#[tokio::test]
async fn write_errors_name_their_operation_in_whichever_command_they_come() {
    let wire = Wire::start(62).await;
    wire.sim
        .create_collection(DB, "users", CollectionOptions::ready());
    wire.sim.create_unique_index(DB, "users", "email");
    wire.sim
        .insert(DB, "users", doc! {"_id": "ada", "email": "ada@example.com"})
        .expect("seeded");
    wire.sim.create_collection(
        DB,
        "people",
        CollectionOptions {
            validator: Some(doc! {"$jsonSchema": {
                "bsonType": "object",
                "required": ["name"],
                "properties": {"name": {"bsonType": "string"}},
            }}),
            ..CollectionOptions::ready()
        },
    );
    let user = |i: i32| {
        let email = if i == 317 {
            "ada@example.com".to_owned()
        } else {
            format!("u{i}@example.com")
        };
        upsert("users", doc! {"_id": i, "email": email})
    };
    // Runs: users upserts 0..250, deletes 250..260, upserts 260..500 (op 317 a duplicate).
    let mut ops: Vec<WriteOp> = (0..250).map(user).collect();
    ops.extend((0..10).map(|i| delete("users", 10_000 + i)));
    ops.extend((260..500).map(user));
    let mut session = wire.port.start_session().await.expect("a session starts");

    let mark = wire.mark();
    let err = session
        .commit(DB, &ops)
        .await
        .expect_err("a duplicate email fails the transaction");
    assert_eq!(err.op_index, Some(317), "{err:?}");
    assert_eq!(err.error.kind, ErrorKind::DuplicateKey, "{err:?}");
    assert_eq!(err.error.code, Some(11000));
    assert_eq!(
        wire.commands_since(mark),
        lines(&[
            "update shop.users",
            "delete shop.users",
            "update shop.users"
        ]),
        "the third command failed at its 58th statement; nothing after it was sent"
    );
    assert_eq!(wire.ids("users"), vec![Bson::from("ada")], "all or nothing");

    // As the engine does: without the refused operation, and more in another collection, one
    // of which the validator rejects (op 515, in the fourth command).
    ops.remove(317);
    ops.extend((0..21).map(|i| {
        let name = if i == 16 {
            Bson::Int32(42)
        } else {
            Bson::from(format!("p{i}"))
        };
        upsert("people", doc! {"_id": i, "name": name})
    }));
    assert_eq!(ops.len(), 520);
    let mark = wire.mark();
    let err = session
        .commit(DB, &ops)
        .await
        .expect_err("a document the validator rejects fails the transaction");
    assert_eq!(err.op_index, Some(515), "{err:?}");
    assert_eq!(err.error.kind, ErrorKind::SchemaValidation, "{err:?}");
    assert_eq!(err.error.class(), ErrorClass::Document);
    assert_eq!(
        wire.commands_since(mark),
        lines(&[
            "update shop.users",
            "delete shop.users",
            "update shop.users",
            "update shop.people",
        ])
    );
    assert_eq!(wire.ids("users"), vec![Bson::from("ada")], "all or nothing");
    assert_eq!(wire.sim.count(DB, "people"), 0, "all or nothing");

    ops.remove(515);
    let outcome = session.commit(DB, &ops).await.expect("the rest commits");
    assert_eq!((outcome.upserted, outcome.matched), (250 + 239 + 20, 0));
    assert_eq!(wire.sim.count(DB, "users"), 1 + 250 + 239);
    assert_eq!(wire.sim.count(DB, "people"), 20);
}

#[tokio::test]
async fn mixed_collections_and_kinds_keep_their_order() {
    let wire = Wire::start(63).await;
    wire.sim
        .create_collection(DB, "a", CollectionOptions::ready());
    wire.sim
        .create_collection(DB, "b", CollectionOptions::ready());
    let ops = vec![
        insert("a", doc! {"_id": 1, "v": "inserted"}),
        insert("a", doc! {"_id": 3, "v": "three"}),
        set("a", 1, doc! {"v": "updated"}, false),
        upsert("a", doc! {"_id": 2, "v": "two"}),
        delete("a", 1),
        delete("a", 3),
        upsert("a", doc! {"_id": 1, "v": "replaced"}),
        insert("b", doc! {"_id": 1}),
        insert("b", doc! {"_id": 2}),
        upsert("a", doc! {"_id": 3, "v": "back"}),
        delete("b", 1),
        set("a", 1, doc! {"w": true}, false),
    ];
    let mut session = wire.port.start_session().await.expect("a session starts");
    let mark = wire.mark();

    let outcome = session
        .commit(DB, &ops)
        .await
        .expect("the transaction commits");

    assert_eq!(
        wire.commands_since(mark),
        lines(&[
            "insert shop.a",
            "update shop.a",
            "delete shop.a",
            "update shop.a",
            "insert shop.b",
            "update shop.a",
            "delete shop.b",
            "update shop.a",
            "commitTransaction",
        ])
    );
    assert_eq!(
        wire.sim.documents(DB, "a"),
        vec![
            doc! {"_id": 1, "v": "replaced", "w": true},
            doc! {"_id": 2, "v": "two"},
            doc! {"_id": 3, "v": "back"},
        ],
        "applied in the operations' order"
    );
    assert_eq!(wire.sim.documents(DB, "b"), vec![doc! {"_id": 2}]);
    assert_eq!(
        (
            outcome.inserted,
            outcome.deleted,
            outcome.upserted,
            outcome.matched
        ),
        (4, 3, 3, 2),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn long_and_large_runs_are_split_into_bounded_commands() {
    let wire = Wire::start(64).await;
    wire.sim
        .create_collection(DB, "items", CollectionOptions::ready());
    let mut session = wire.port.start_session().await.expect("a session starts");

    let ops: Vec<WriteOp> = (0..2_500)
        .map(|i| upsert("items", doc! {"_id": i}))
        .collect();
    let mark = wire.mark();
    let outcome = session
        .commit(DB, &ops)
        .await
        .expect("2,500 upserts commit");
    assert_eq!(
        wire.commands_since(mark),
        lines(&[
            "update shop.items",
            "update shop.items",
            "update shop.items",
            "commitTransaction",
        ]),
        "at most 1,000 statements a command"
    );
    assert_eq!(outcome.upserted, 2_500);

    // 1 MiB documents: at most 8 MiB of statements a command, so seven a command.
    let blob = "x".repeat(1024 * 1024);
    let ops: Vec<WriteOp> = (0..20)
        .map(|i| upsert("items", doc! {"_id": 10_000 + i, "blob": blob.as_str()}))
        .collect();
    let mark = wire.mark();
    let outcome = session
        .commit(DB, &ops)
        .await
        .expect("20 MiB of upserts commit");
    assert_eq!(
        wire.commands_since(mark),
        lines(&[
            "update shop.items",
            "update shop.items",
            "update shop.items",
            "commitTransaction",
        ]),
        "at most 8 MiB of statements a command"
    );
    assert_eq!(outcome.upserted, 20);
    assert_eq!(wire.sim.count(DB, "items"), 2_520);
}

#[tokio::test]
async fn a_document_over_16_mib_fails_its_operation_before_anything_is_sent() {
    let wire = Wire::start(65).await;
    wire.sim
        .create_collection(DB, "items", CollectionOptions::ready());
    let mut session = wire.port.start_session().await.expect("a session starts");
    let huge = "x".repeat(16 * 1024 * 1024 + 1);
    let too_large = [
        upsert("items", doc! {"_id": 2, "blob": huge.as_str()}),
        set("items", 2, doc! {"blob": huge.as_str()}, true),
        insert("items", doc! {"_id": 2, "blob": huge.as_str()}),
    ];
    for op in too_large {
        let ops = [
            upsert("items", doc! {"_id": 1}),
            op,
            upsert("items", doc! {"_id": 3}),
        ];
        let mark = wire.mark();
        let err = session
            .commit(DB, &ops)
            .await
            .expect_err("a document over 16 MiB cannot be written");
        assert_eq!(err.op_index, Some(1), "{err:?}");
        assert_eq!(err.error.kind, ErrorKind::DocumentTooLarge, "{err:?}");
        assert!(err.error.message.contains("16 MiB"), "{err:?}");
        assert_eq!(
            wire.commands_since(mark),
            Vec::<String>::new(),
            "refused before sending"
        );
    }
    assert_eq!(wire.sim.count(DB, "items"), 0);
}

#[tokio::test]
async fn a_failed_command_is_classified_by_its_code_and_labels_and_names_no_operation() {
    let wire = Wire::start(66).await;
    wire.sim
        .create_collection(DB, "items", CollectionOptions::ready());
    wire.sim
        .insert(DB, "items", doc! {"_id": 400, "qty": 0})
        .expect("seeded");
    // Another application's transaction holds document 400.
    let other = mongodb::Client::with_uri_str(wire.server.uri())
        .await
        .expect("a client");
    let mut holder = other.start_session().await.expect("a session");
    holder.start_transaction().await.expect("a transaction");
    other
        .database(DB)
        .collection::<Document>("items")
        .update_one(doc! {"_id": 400}, doc! {"$set": {"qty": 1}})
        .session(&mut holder)
        .await
        .expect("the other transaction writes");
    let ops: Vec<WriteOp> = (0..500)
        .map(|i| upsert("items", doc! {"_id": i, "qty": 2}))
        .collect();
    let mut session = wire.port.start_session().await.expect("a session starts");
    let mark = wire.mark();

    let err = session
        .commit(DB, &ops)
        .await
        .expect_err("a write conflict fails the transaction");

    assert_eq!(err.op_index, None, "a conflict is no operation's fault");
    assert_eq!(err.error.code, Some(112), "{err:?}");
    assert_eq!(err.error.kind, ErrorKind::TransientTransaction, "{err:?}");
    assert_eq!(
        wire.commands_since(mark),
        lines(&["update shop.items"]),
        "one command, failed as a whole"
    );
    holder.abort_transaction().await.expect("abort");
    let outcome = session.commit(DB, &ops).await.expect("the retry commits");
    assert_eq!((outcome.matched, outcome.upserted), (1, 499));
}

//! The write-back of a document MongoDB holds values of that the edge cannot carry (a merge
//! update: one `$replaceWith` pipeline reading the kept values from `$$ROOT`), through both
//! ports: the shipped driver adapter against the wire front, and the simulator in process. A
//! field the edge deleted goes from MongoDB, the kept values stay, and on a document deleted
//! meanwhile the upsert writes arrays as arrays. A write that changes nothing (a merge, a
//! replacement with the stored bytes, an operator update) is a no-op as in MongoDB: no change
//! event, `nModified` 0.

use std::sync::Arc;
use std::time::Duration;

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, doc};
use edgebridge_domain::connection_string::MongoUri;
use edgebridge_domain::spec::SyncMode;
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::mapping::{IdFields, MappingConfig, to_edge, to_mongo};
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{
    CommitOutcome, ConnectOptions, MongoConnector, MongoPort, StreamStart, TxnError,
    UpdateModification, WriteOp,
};
use edgebridge_mongo_sim::{CollectionOptions, Simulator, WireOptions, WireServer};
use mongodb::options::ClientOptions;
use serde_json::{Map, Value, json};

const DB: &str = "shop";
const COLL: &str = "files";

/// One simulator, reached through the driver adapter on its wire front and in process.
struct Ports {
    sim: Simulator,
    server: WireServer,
    wire: Arc<dyn MongoPort>,
    local: Arc<dyn MongoPort>,
}

impl Ports {
    async fn start(seed: u64) -> Ports {
        let sim = Simulator::new(seed);
        sim.add_host("sim.example.net", &["203.0.113.10".parse().expect("an IP")]);
        sim.create_collection(DB, COLL, CollectionOptions::ready());
        let server = WireServer::start(sim.clone(), WireOptions::default())
            .await
            .expect("the wire front listens");
        let options = ConnectOptions {
            policy: TargetPolicy::AllowPrivate,
            ..ConnectOptions::default()
        };
        let uri = MongoUri::parse(&server.uri()).expect("the wire front's URI parses");
        let wire = DriverConnector
            .connect(&uri, &options)
            .await
            .expect("the driver adapter connects");
        let local = sim
            .connector()
            .connect(
                &MongoUri::parse("mongodb://sim.example.net/").expect("parses"),
                &ConnectOptions::default(),
            )
            .await
            .expect("the in-process port connects");
        Ports {
            sim,
            server,
            wire,
            local,
        }
    }

    /// Both ports, named for the failure messages.
    fn each(&self) -> [(&'static str, &dyn MongoPort); 2] {
        [
            ("wire", self.wire.as_ref()),
            ("in process", self.local.as_ref()),
        ]
    }

    fn stored(&self, id: impl Into<Bson>) -> Option<Document> {
        self.sim.find(DB, COLL, &id.into())
    }

    /// Commits `ops` through `port` and reports the change events they caused (read in process
    /// from the simulator's oplog, which both ports write to).
    async fn commit(&self, port: &dyn MongoPort, ops: &[WriteOp]) -> (CommitOutcome, usize) {
        let mut stream = self
            .local
            .watch(DB, COLL, StreamStart::Now)
            .await
            .expect("watch opens");
        let mut session = port.start_session().await.expect("a session starts");
        let outcome = session
            .commit(DB, ops)
            .await
            .expect("the transaction commits");
        let mut events = 0;
        while stream.next().await.expect("the stream reads").is_some() {
            events += 1;
        }
        (outcome, events)
    }

    async fn commit_err(&self, port: &dyn MongoPort, ops: &[WriteOp]) -> TxnError {
        let mut session = port.start_session().await.expect("a session starts");
        session
            .commit(DB, ops)
            .await
            .expect_err("the transaction fails")
    }

    /// A plain `mongodb` client on the wire front, for what the port does not show (`nModified`).
    async fn client(&self) -> mongodb::Client {
        let mut options = ClientOptions::parse(self.server.uri())
            .await
            .expect("the URI parses");
        options.server_selection_timeout = Some(Duration::from_secs(5));
        mongodb::Client::with_options(options).expect("a client")
    }
}

fn native(id: IdFields) -> MappingConfig {
    MappingConfig {
        id,
        mode: SyncMode::Json,
        counters: Vec::new(),
    }
}

fn bin() -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Uuid,
        bytes: vec![7; 16],
    })
}

/// The write-back's write of `stored` as the edge holds it, edited by `edit` (what the
/// worker's `plan()` builds when MongoDB holds values the edge does not carry).
fn merge_op(
    stored: &Document,
    config: &MappingConfig,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> WriteOp {
    let edge = to_edge(stored, config).expect("maps to the edge");
    let mut body = edge.body.clone();
    edit(&mut body);
    let back = to_mongo(&body, edge.types.as_ref(), config).expect("maps back");
    assert!(!back.preserve.is_empty(), "the document has kept values");
    WriteOp::Update {
        collection: COLL.to_owned(),
        filter: back.filter.clone(),
        update: UpdateModification::Pipeline(back.merge_update().expect("a merge update")),
        upsert: true,
    }
}

/// A reply's count, whichever integer type it comes as.
fn count(reply: &Document, name: &str) -> Option<i64> {
    match reply.get(name)? {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        _ => None,
    }
}

fn keys(document: &Document) -> Vec<&str> {
    document.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn a_field_deleted_on_the_edge_is_gone_from_mongodb_and_kept_values_stay() {
    let ports = Ports::start(1).await;
    for (via, port) in ports.each() {
        let stored = doc! {
            "_id": 1, "name": "a.txt", "gone": 1, "blob": bin(),
            "meta": {"thumb": bin(), "size": 3}, "list": [1, bin(), 3],
        };
        ports.sim.replace(DB, COLL, stored.clone()).expect("stored");
        let op = merge_op(&stored, &native(IdFields::MatchId), |body| {
            body.shift_remove("gone");
            body["name"] = json!("b.txt");
            body["meta"]["size"] = json!(4);
            body["list"][2] = json!(5);
        });

        let (outcome, events) = ports.commit(port, &[op]).await;

        let after = ports.stored(1).expect("the document is there");
        assert_eq!(
            after,
            doc! {
                "_id": 1, "name": "b.txt", "meta": {"size": 4, "thumb": bin()},
                "list": [1, bin(), 5], "blob": bin(),
            },
            "{via}: edits applied, `gone` removed, binary values kept"
        );
        assert_eq!(
            keys(&after),
            ["_id", "name", "meta", "list", "blob"],
            "{via}"
        );
        assert_eq!(
            (outcome.matched, outcome.upserted, events),
            (1, 0, 1),
            "{via}"
        );
    }
}

#[tokio::test]
async fn on_a_document_deleted_meanwhile_the_upsert_writes_arrays_as_arrays() {
    let ports = Ports::start(2).await;
    for (via, port) in ports.each() {
        let stored = doc! {"_id": 1, "list": [1, bin(), 3], "blob": bin(), "keep": "yes"};
        ports.sim.replace(DB, COLL, stored.clone()).expect("stored");
        let op = merge_op(&stored, &native(IdFields::MatchId), |_| {});
        ports
            .sim
            .delete(DB, COLL, &Bson::Int32(1))
            .expect("deleted");

        let (outcome, _) = ports.commit(port, &[op]).await;

        let after = ports.stored(1).expect("the upsert inserted it");
        assert_eq!(
            after,
            doc! {"_id": 1, "list": [1, Bson::Null, 3], "keep": "yes"},
            "{via}: an array, not {{\"0\": 1, ...}}; the deleted document's kept values are gone"
        );
        assert_eq!(outcome.upserted, 1, "{via}");
        ports
            .sim
            .delete(DB, COLL, &Bson::Int32(1))
            .expect("cleared");
    }
}

#[tokio::test]
async fn an_upserted_merge_of_a_mapping_by_other_fields_gets_a_new_mongodb_id() {
    let ports = Ports::start(3).await;
    let config = native(IdFields::Single("orderId".into()));
    for (via, port) in ports.each() {
        let stored = doc! {"_id": 10, "orderId": via, "lines": [bin(), 2]};
        ports.sim.replace(DB, COLL, stored.clone()).expect("stored");
        let op = merge_op(&stored, &config, |body| body["lines"][1] = json!(3));
        ports
            .sim
            .delete(DB, COLL, &Bson::Int32(10))
            .expect("deleted");

        ports.commit(port, &[op]).await;

        let after = ports
            .sim
            .documents(DB, COLL)
            .into_iter()
            .find(|d| d.get_str("orderId").ok() == Some(via))
            .expect("the upsert inserted it");
        assert!(
            matches!(after.get("_id"), Some(Bson::ObjectId(_))),
            "{via}: {after}"
        );
        assert_eq!(keys(&after), ["_id", "orderId", "lines"], "{via}");
        assert_eq!(
            after.get("lines"),
            Some(&Bson::Array(vec![Bson::Null, Bson::Int32(3)])),
            "{via}"
        );
    }
}

#[tokio::test]
async fn a_merge_that_changes_nothing_writes_nothing() {
    let ports = Ports::start(4).await;
    for (via, port) in ports.each() {
        let stored = doc! {"_id": 1, "name": via, "blob": bin(), "n": 1};
        ports.sim.replace(DB, COLL, stored.clone()).expect("stored");
        let op = merge_op(&stored, &native(IdFields::MatchId), |_| {});
        // The first write moves the kept field last; the same write again changes nothing.
        let (_, events) = ports.commit(port, std::slice::from_ref(&op)).await;
        assert_eq!(events, 1, "{via}");

        let (outcome, events) = ports.commit(port, &[op]).await;

        assert_eq!(events, 0, "{via}: no change event for a no-op");
        assert_eq!((outcome.matched, outcome.upserted), (1, 0), "{via}");
        assert_eq!(
            ports.stored(1),
            Some(doc! {"_id": 1, "name": via, "n": 1, "blob": bin()})
        );
    }
}

#[tokio::test]
async fn a_replacement_with_the_stored_bytes_or_an_update_changing_nothing_is_a_no_op() {
    let ports = Ports::start(5).await;
    let stored = doc! {"_id": 1, "a": 1, "b": {"c": 2.5}};
    ports.sim.replace(DB, COLL, stored.clone()).expect("stored");
    let replace = |replacement: Document| WriteOp::Upsert {
        collection: COLL.to_owned(),
        filter: doc! {"_id": 1},
        replacement,
    };
    let set = |fields: Document| WriteOp::Update {
        collection: COLL.to_owned(),
        filter: doc! {"_id": 1},
        update: doc! {"$set": fields}.into(),
        upsert: false,
    };
    for (via, port) in ports.each() {
        for op in [replace(stored.clone()), set(doc! {"b.c": 2.5, "a": 1})] {
            let (outcome, events) = ports.commit(port, std::slice::from_ref(&op)).await;
            assert_eq!((outcome.matched, events), (1, 0), "{via}: {op:?}");
        }
        // MongoDB compares the replacement as sent: without `_id`, or another number type or
        // field order, it is written (and the stored document stays the same).
        for op in [
            replace(doc! {"a": 1, "b": {"c": 2.5}}),
            replace(doc! {"_id": 1, "a": 1.0, "b": {"c": 2.5}}),
            replace(doc! {"_id": 1, "b": {"c": 2.5}, "a": 1}),
            replace(stored.clone()),
        ] {
            let (outcome, events) = ports.commit(port, std::slice::from_ref(&op)).await;
            assert_eq!((outcome.matched, events), (1, 1), "{via}: {op:?}");
        }
    }
    let client = ports.client().await;
    let db = client.database(DB);
    let update = |u: Bson| doc! {"update": COLL, "updates": [{"q": {"_id": 1}, "u": u}]};
    for (u, modified) in [
        (Bson::Document(stored.clone()), 0),
        (Bson::Document(doc! {"$set": {"a": 1}}), 0),
        (Bson::Document(doc! {"$set": {"a": 2}}), 1),
        (Bson::Document(doc! {"$set": {"a": 2}}), 0),
        (Bson::Document(stored.clone()), 1),
    ] {
        let reply = db.run_command(update(u.clone())).await.expect("updates");
        assert_eq!(count(&reply, "n"), Some(1), "{u}: {reply}");
        assert_eq!(count(&reply, "nModified"), Some(modified), "{u}: {reply}");
    }
}

#[tokio::test]
async fn update_pipelines_run_as_mongodb_runs_them_and_refuse_what_the_simulator_lacks() {
    let ports = Ports::start(6).await;
    ports
        .sim
        .replace(DB, COLL, doc! {"_id": 1, "a": {"b": 5}, "list": [1, 2]})
        .expect("stored");
    let client = ports.client().await;
    let db = client.database(DB);
    let run = |q: Document, u: Bson, upsert: bool| {
        doc! {"update": COLL, "updates": [{"q": q, "u": u, "upsert": upsert}]}
    };
    // $replaceRoot, field paths, $$ROOT, and an upsert that starts from the equality fields.
    let pipeline = Bson::Array(vec![Bson::Document(doc! {"$replaceRoot": {"newRoot": {
        "k": "$k", "b": "$a.b", "last": {"$arrayElemAt": ["$list", -1]},
        "gone": "$$REMOVE", "all": {"$type": "$$ROOT"},
    }}})]);
    let reply = db
        .run_command(run(doc! {"_id": 1}, pipeline.clone(), false))
        .await
        .expect("updates");
    assert_eq!(count(&reply, "nModified"), Some(1), "{reply}");
    assert_eq!(
        ports.stored(1),
        Some(doc! {"_id": 1, "b": 5, "last": 2, "all": "object"})
    );
    let reply = db
        .run_command(run(doc! {"_id": 2, "k": "x"}, pipeline, true))
        .await
        .expect("upserts");
    assert_eq!(
        reply.get_array("upserted").map(Vec::len).ok(),
        Some(1),
        "{reply}"
    );
    // `$arrayElemAt` of a missing array is null, as in MongoDB.
    assert_eq!(
        ports.stored(2),
        Some(doc! {"_id": 2, "k": "x", "last": Bson::Null, "all": "object"})
    );

    // What MongoDB refuses, or the simulator does not run, is a write error with the server's
    // code, through the wire and in process.
    let cases = [
        (doc! {"$match": {}}, 72),
        (doc! {"$addFields": {"x": 1}}, 40324),
        (doc! {"$replaceWith": {"x": {"$concat": ["a", "b"]}}}, 168),
        (doc! {"$replaceWith": "$a.b"}, 40228),
        (doc! {"$replaceWith": {"_id": {"$literal": 3}}}, 66),
        (
            doc! {"$replaceWith": {"x": {"$arrayElemAt": ["$b", 0]}}},
            28689,
        ),
        (doc! {"$replaceWith": {"x.y": 1}}, 16412),
    ];
    for (stage, code) in cases {
        let reply = db
            .run_command(run(
                doc! {"_id": 1},
                Bson::Array(vec![Bson::Document(stage.clone())]),
                false,
            ))
            .await
            .expect("the command answers");
        let error = reply
            .get_array("writeErrors")
            .ok()
            .and_then(|e| e.first())
            .and_then(Bson::as_document)
            .unwrap_or_else(|| panic!("{stage}: no write error in {reply}"));
        assert_eq!(count(error, "code"), Some(code.into()), "{stage}: {reply}");
        let op = WriteOp::Update {
            collection: COLL.to_owned(),
            filter: doc! {"_id": 1},
            update: UpdateModification::Pipeline(vec![stage.clone()]),
            upsert: false,
        };
        let err = ports.commit_err(ports.local.as_ref(), &[op]).await;
        assert_eq!(err.error.code, Some(code), "{stage}: {err:?}");
    }
    assert_eq!(
        ports.stored(1),
        Some(doc! {"_id": 1, "b": 5, "last": 2, "all": "object"}),
        "nothing was written"
    );
}

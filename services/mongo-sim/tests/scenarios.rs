//! The MongoDB port's scenario suite: written once against the port, run on two deployments.
//!
//! * `*_on_simulator`: the seeded simulator, always.
//! * `*_on_mongodb`: a real replica set, when `MONGODB_URI` names one (MongoDB 7 or later, for
//!   `changeStreamPreAndPostImages` and `fullDocument: required`). Without it these tests print
//!   why they were skipped and pass without asserting anything.
//!
//! The port is what the sync engine sees. The [`Deployment`] trait is everyone else: the DBA who
//! creates collections and indexes, and "another application" writing to them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use edgebridge_domain::connection_string::MongoUri;
use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::policy::TargetPolicy;
use edgebridge_mongo::port::{
    ChangeEvent, ChangeStream, ConnectOptions, MongoConnector, MongoPort, OperationType,
    StreamStart, WriteOp,
};
use edgebridge_mongo::preflight::{self, CheckStatus, PreflightOptions, PreflightRequest};
use edgebridge_mongo::{ErrorClass, ErrorKind, PortError};
use edgebridge_mongo_sim::{CollectionOptions, Simulator};

// ---------------------------------------------------------------------------------------------
// Deployments
// ---------------------------------------------------------------------------------------------

/// How patiently to read a change stream: a real server answers an empty batch while an event is
/// still on its way (majority commit, `maxAwaitTimeMS`); the simulator never does.
#[derive(Debug, Clone, Copy)]
struct Polls {
    /// Empty answers to accept before giving up on an event.
    max: u32,
    /// Pause between empty answers (none on the simulator).
    pause: Option<Duration>,
}

/// The deployment under test, and the test's own hands on it (the DBA, another application).
#[async_trait]
trait Deployment: Send + Sync {
    /// The port, as the sync engine gets it.
    fn port(&self) -> Arc<dyn MongoPort>;
    /// The connector and connection string the preflight checks use.
    fn connector(&self) -> Arc<dyn MongoConnector>;
    fn connection_string(&self) -> String;
    /// The database this test owns.
    fn db(&self) -> &str;
    fn polls(&self) -> Polls;

    /// Drops the collection and creates it with these options.
    async fn setup(&self, db: &str, coll: &str, options: CollectionOptions);
    async fn unique_index(&self, db: &str, coll: &str, field: &str);
    async fn insert(&self, db: &str, coll: &str, document: Document);
    async fn update_set(&self, db: &str, coll: &str, id: Bson, set: Document);
    async fn delete(&self, db: &str, coll: &str, id: Bson);
}

const SIM_HOST: &str = "sim.example.net";
const SIM_URI: &str = "mongodb://sim.example.net/";

struct SimDeployment {
    sim: Simulator,
    port: Arc<dyn MongoPort>,
}

impl SimDeployment {
    async fn new() -> Self {
        let sim = Simulator::new(42);
        sim.add_host(SIM_HOST, &["203.0.113.10".parse().expect("an IP address")]);
        let port = sim
            .connector()
            .connect(
                &MongoUri::parse(SIM_URI).expect("the simulator's connection string parses"),
                &ConnectOptions::default(),
            )
            .await
            .expect("the simulator connects");
        SimDeployment { sim, port }
    }
}

#[async_trait]
impl Deployment for SimDeployment {
    fn port(&self) -> Arc<dyn MongoPort> {
        Arc::clone(&self.port)
    }

    fn connector(&self) -> Arc<dyn MongoConnector> {
        Arc::new(self.sim.connector())
    }

    fn connection_string(&self) -> String {
        SIM_URI.to_owned()
    }

    fn db(&self) -> &str {
        "app"
    }

    fn polls(&self) -> Polls {
        Polls {
            max: 3,
            pause: None,
        }
    }

    async fn setup(&self, db: &str, coll: &str, options: CollectionOptions) {
        self.sim.drop_collection(db, coll);
        self.sim.create_collection(db, coll, options);
    }

    async fn unique_index(&self, db: &str, coll: &str, field: &str) {
        self.sim.create_unique_index(db, coll, field);
    }

    async fn insert(&self, db: &str, coll: &str, document: Document) {
        self.sim
            .insert(db, coll, document)
            .expect("another application's insert succeeds");
    }

    async fn update_set(&self, db: &str, coll: &str, id: Bson, set: Document) {
        self.sim
            .update(db, coll, &id, set)
            .expect("another application's update succeeds");
    }

    async fn delete(&self, db: &str, coll: &str, id: Bson) {
        self.sim
            .delete(db, coll, &id)
            .expect("another application's delete succeeds");
    }
}

const SKIPPED: &str = "skipped: MONGODB_URI is not set (start a replica set with `docker compose up -d \
mongodb`, then MONGODB_URI=mongodb://localhost:27017/?directConnection=true)";

/// A real replica set, through the shipped driver adapter for the port and the plain driver for
/// the test's own writes. Each test gets a database of its own, dropped when the test passes
/// (kept for a look when it fails).
struct MongoDeployment {
    uri: String,
    client: mongodb::Client,
    port: Arc<dyn MongoPort>,
    db: String,
}

impl MongoDeployment {
    /// `None` (after printing why) when `MONGODB_URI` is not set.
    async fn connect(test: &str) -> Option<Self> {
        let uri = match std::env::var("MONGODB_URI") {
            Ok(uri) if !uri.trim().is_empty() => uri,
            _ => {
                println!("{SKIPPED}");
                return None;
            }
        };
        let client = mongodb::Client::with_uri_str(&uri)
            .await
            .expect("the driver accepts MONGODB_URI");
        let parsed = MongoUri::parse(&uri).expect("MONGODB_URI is a valid connection string");
        let port = DriverConnector
            .connect(&parsed, &ConnectOptions::default())
            .await
            .expect("the driver adapter connects to MONGODB_URI");
        port.ping()
            .await
            .expect("the replica set at MONGODB_URI answers ping");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .subsec_nanos();
        let db = format!("eb_scn_{test}_{:x}{nanos:08x}", std::process::id());
        Some(MongoDeployment {
            uri,
            client,
            port,
            db,
        })
    }

    async fn cleanup(&self) {
        if let Err(e) = self.client.database(&self.db).drop().await {
            println!("could not drop test database {}: {e}", self.db);
        }
    }

    fn collection(&self, db: &str, coll: &str) -> mongodb::Collection<Document> {
        self.client.database(db).collection(coll)
    }
}

#[async_trait]
impl Deployment for MongoDeployment {
    fn port(&self) -> Arc<dyn MongoPort> {
        Arc::clone(&self.port)
    }

    fn connector(&self) -> Arc<dyn MongoConnector> {
        Arc::new(DriverConnector)
    }

    fn connection_string(&self) -> String {
        self.uri.clone()
    }

    fn db(&self) -> &str {
        &self.db
    }

    fn polls(&self) -> Polls {
        Polls {
            max: 30,
            pause: Some(Duration::from_millis(100)),
        }
    }

    async fn setup(&self, db: &str, coll: &str, options: CollectionOptions) {
        self.collection(db, coll)
            .drop()
            .await
            .expect("drop the collection");
        let mut create = doc! { "create": coll };
        if options.pre_and_post_images {
            create.insert("changeStreamPreAndPostImages", doc! { "enabled": true });
        }
        if options.capped {
            create.insert("capped", true);
            create.insert("size", 1_i64 << 20);
        }
        if let Some(validator) = options.validator {
            create.insert("validator", validator);
        }
        self.client
            .database(db)
            .run_command(create)
            .await
            .expect("create the collection");
    }

    async fn unique_index(&self, db: &str, coll: &str, field: &str) {
        let index = mongodb::IndexModel::builder()
            .keys(doc! { field: 1 })
            .options(
                mongodb::options::IndexOptions::builder()
                    .unique(true)
                    .build(),
            )
            .build();
        self.collection(db, coll)
            .create_index(index)
            .await
            .expect("create the unique index");
    }

    async fn insert(&self, db: &str, coll: &str, document: Document) {
        self.collection(db, coll)
            .insert_one(document)
            .await
            .expect("another application's insert succeeds");
    }

    async fn update_set(&self, db: &str, coll: &str, id: Bson, set: Document) {
        self.collection(db, coll)
            .update_one(doc! { "_id": id }, doc! { "$set": set })
            .await
            .expect("another application's update succeeds");
    }

    async fn delete(&self, db: &str, coll: &str, id: Bson) {
        self.collection(db, coll)
            .delete_one(doc! { "_id": id })
            .await
            .expect("another application's delete succeeds");
    }
}

/// Two tests per scenario: `$sim` on the simulator, `$real` on `MONGODB_URI`.
macro_rules! on_both {
    ($scenario:ident, $sim:ident, $real:ident) => {
        #[tokio::test]
        async fn $sim() {
            let deployment = SimDeployment::new().await;
            $scenario(&deployment).await;
        }

        #[tokio::test]
        async fn $real() {
            let Some(deployment) = MongoDeployment::connect(stringify!($scenario)).await else {
                return;
            };
            $scenario(&deployment).await;
            deployment.cleanup().await;
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The next change event; an empty batch means "ask again". Fails the test when none comes.
async fn next_event(stream: &mut dyn ChangeStream, polls: Polls) -> ChangeEvent {
    for _ in 0..polls.max {
        match stream.next().await {
            Ok(Some(event)) => return event,
            Ok(None) => pause(polls).await,
            Err(e) => panic!("the change stream failed while an event was expected: {e:?}"),
        }
    }
    panic!(
        "no change event arrived within {} polls of the change stream",
        polls.max
    );
}

/// The error the stream fails with; fails the test on an event or when no error comes.
async fn next_error(stream: &mut dyn ChangeStream, polls: Polls) -> PortError {
    for _ in 0..polls.max {
        match stream.next().await {
            Ok(Some(event)) => panic!("expected the change stream to fail, got {event:?}"),
            Ok(None) => pause(polls).await,
            Err(e) => return e,
        }
    }
    panic!("the change stream did not fail within {} polls", polls.max);
}

/// The stream has nothing more: its next answer is an empty batch.
async fn assert_no_more_events(stream: &mut dyn ChangeStream, what: &str) {
    match stream.next().await {
        Ok(None) => {}
        Ok(Some(event)) => panic!("{what}: expected no further event, got {event:?}"),
        Err(e) => panic!("{what}: expected an empty batch, the stream failed: {e:?}"),
    }
}

async fn pause(polls: Polls) {
    if let Some(pause) = polls.pause {
        tokio::time::sleep(pause).await;
    }
}

fn id_of(document: &Document) -> Bson {
    document
        .get("_id")
        .cloned()
        .expect("every document has an _id")
}

fn key_id(event: &ChangeEvent) -> Bson {
    id_of(
        event
            .document_key
            .as_ref()
            .expect("the change event has a document key"),
    )
}

/// Every document, read in batches of `batch_size`, each batch after the last `_id` seen.
async fn scan_all(port: &dyn MongoPort, db: &str, coll: &str, batch_size: u32) -> Vec<Document> {
    let mut out: Vec<Document> = Vec::new();
    loop {
        let after = out.last().map(id_of);
        let batch = port
            .scan(db, coll, after.as_ref(), batch_size)
            .await
            .expect("scan succeeds");
        assert!(
            batch.len() <= batch_size as usize,
            "a scan returned {} documents for a batch size of {batch_size}",
            batch.len()
        );
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

fn upsert(coll: &str, document: Document) -> WriteOp {
    WriteOp::Upsert {
        collection: coll.to_owned(),
        filter: doc! { "_id": id_of(&document) },
        replacement: document,
    }
}

fn delete(coll: &str, id: impl Into<Bson>) -> WriteOp {
    WriteOp::Delete {
        collection: coll.to_owned(),
        filter: doc! { "_id": id.into() },
    }
}

fn oid(n: u8) -> ObjectId {
    let mut bytes = [0x65; 12];
    bytes[11] = n;
    ObjectId::from_bytes(bytes)
}

// ---------------------------------------------------------------------------------------------
// (a) Ordered scans
// ---------------------------------------------------------------------------------------------

async fn ordered_scan(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "items", CollectionOptions::ready()).await;
    // Inserted out of order, three `_id` types mixed.
    let ids: Vec<Bson> = vec![
        Bson::String("b".into()),
        Bson::ObjectId(oid(2)),
        Bson::Int32(30),
        Bson::String("a".into()),
        Bson::Int32(2),
        Bson::ObjectId(oid(1)),
        Bson::Int32(10),
        Bson::String("c".into()),
        Bson::Int32(1),
    ];
    for (n, id) in ids.iter().enumerate() {
        d.insert(db, "items", doc! { "_id": id.clone(), "n": n as i32 })
            .await;
    }

    let scanned: Vec<Bson> = scan_all(d.port().as_ref(), db, "items", 2)
        .await
        .iter()
        .map(id_of)
        .collect();

    // MongoDB's order: numbers, then strings, then ObjectIds; each document exactly once.
    let expected = vec![
        Bson::Int32(1),
        Bson::Int32(2),
        Bson::Int32(10),
        Bson::Int32(30),
        Bson::String("a".into()),
        Bson::String("b".into()),
        Bson::String("c".into()),
        Bson::ObjectId(oid(1)),
        Bson::ObjectId(oid(2)),
    ];
    assert_eq!(
        scanned, expected,
        "a batched scan must return every document once, in MongoDB's _id order across types"
    );
}

on_both!(
    ordered_scan,
    ordered_scan_on_simulator,
    ordered_scan_on_mongodb
);

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
// (e) Transactional writes
// ---------------------------------------------------------------------------------------------

async fn transactional_writes(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "orders", CollectionOptions::ready()).await;
    d.insert(db, "orders", doc! { "_id": 3, "status": "old" })
        .await;
    let port = d.port();
    let mut stream = port
        .watch(db, "orders", StreamStart::Now)
        .await
        .expect("watch opens");
    let mut session = port.start_session().await.expect("a session starts");

    let first = session
        .commit(
            db,
            &[
                upsert("orders", doc! { "_id": 1, "status": "new" }),
                upsert("orders", doc! { "_id": 2, "status": "new" }),
                delete("orders", 3),
            ],
        )
        .await
        .expect("the transaction commits");
    assert_eq!(
        (first.upserted, first.deleted),
        (2, 1),
        "two upserts inserted, one delete deleted"
    );

    let events = [
        next_event(stream.as_mut(), d.polls()).await,
        next_event(stream.as_mut(), d.polls()).await,
        next_event(stream.as_mut(), d.polls()).await,
    ];
    let seen: Vec<(OperationType, Bson)> = events
        .iter()
        .map(|e| (e.operation.clone(), key_id(e)))
        .collect();
    assert_eq!(
        seen,
        vec![
            (OperationType::Insert, Bson::Int32(1)),
            (OperationType::Insert, Bson::Int32(2)),
            (OperationType::Delete, Bson::Int32(3)),
        ]
    );
    for event in &events {
        assert_eq!(
            event.lsid.as_ref(),
            Some(session.id()),
            "a transaction's events carry the session's lsid"
        );
        assert_eq!(
            event.txn_number,
            Some(first.txn_number),
            "a transaction's events carry its txnNumber"
        );
    }

    let second = session
        .commit(db, &[upsert("orders", doc! { "_id": 1, "status": "paid" })])
        .await
        .expect("the second transaction commits");
    assert!(
        second.txn_number > first.txn_number,
        "a later transaction on the session gets a larger txnNumber ({} then {})",
        first.txn_number,
        second.txn_number
    );
    let replace = next_event(stream.as_mut(), d.polls()).await;
    assert_eq!(replace.operation, OperationType::Replace);
    assert_eq!(replace.lsid.as_ref(), Some(session.id()));
    assert_eq!(replace.txn_number, Some(second.txn_number));

    let documents = scan_all(port.as_ref(), db, "orders", 10).await;
    assert_eq!(
        documents,
        vec![
            doc! { "_id": 1, "status": "paid" },
            doc! { "_id": 2, "status": "new" },
        ],
        "the committed writes are in place"
    );
}

on_both!(
    transactional_writes,
    transactional_writes_on_simulator,
    transactional_writes_on_mongodb
);

// ---------------------------------------------------------------------------------------------
// (f) Schema validation
// ---------------------------------------------------------------------------------------------

async fn schema_validation(d: &dyn Deployment) {
    let db = d.db();
    let validator = doc! {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["name"],
            "properties": { "name": { "bsonType": "string" } },
        },
    };
    d.setup(
        db,
        "people",
        CollectionOptions {
            pre_and_post_images: true,
            validator: Some(validator),
            ..Default::default()
        },
    )
    .await;
    d.insert(db, "people", doc! { "_id": 10, "name": "Grace" })
        .await;
    d.insert(db, "people", doc! { "_id": 11, "name": "Alan" })
        .await;
    let port = d.port();
    let mut session = port.start_session().await.expect("a session starts");

    let err = session
        .commit(
            db,
            &[
                upsert("people", doc! { "_id": 10, "name": "Grace H." }),
                delete("people", 11),
                upsert("people_log", doc! { "_id": 1, "what": "created here" }),
                upsert("people", doc! { "_id": 1, "name": "Ada" }),
                upsert("people", doc! { "_id": 2, "name": 42 }),
            ],
        )
        .await
        .expect_err("a document the validator rejects fails the transaction");
    assert_eq!(
        err.op_index,
        Some(4),
        "the error names the invalid document's operation"
    );
    assert_eq!(err.error.kind, ErrorKind::SchemaValidation, "{err:?}");
    assert_eq!(err.error.class(), ErrorClass::Document);

    assert_eq!(
        scan_all(port.as_ref(), db, "people", 10).await,
        vec![
            doc! { "_id": 10, "name": "Grace" },
            doc! { "_id": 11, "name": "Alan" }
        ],
        "all or nothing: the failed transaction's replace, delete and insert were not applied"
    );
    assert_eq!(
        scan_all(port.as_ref(), db, "people_log", 10).await,
        Vec::<Document>::new(),
        "all or nothing: the failed transaction's write to another collection was not applied"
    );
}

on_both!(
    schema_validation,
    schema_validation_on_simulator,
    schema_validation_on_mongodb
);

// ---------------------------------------------------------------------------------------------
// (g) Duplicate keys
// ---------------------------------------------------------------------------------------------

async fn duplicate_key(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "users", CollectionOptions::ready()).await;
    d.unique_index(db, "users", "email").await;
    d.insert(db, "users", doc! { "_id": 1, "email": "ada@example.com" })
        .await;
    let port = d.port();
    let mut session = port.start_session().await.expect("a session starts");

    let err = session
        .commit(
            db,
            &[
                upsert("users", doc! { "_id": 2, "email": "grace@example.com" }),
                upsert("users", doc! { "_id": 3, "email": "ada@example.com" }),
            ],
        )
        .await
        .expect_err("a duplicate email fails the transaction");
    assert_eq!(
        err.op_index,
        Some(1),
        "the error names the duplicate's operation"
    );
    assert_eq!(err.error.kind, ErrorKind::DuplicateKey, "{err:?}");
    assert_eq!(err.error.class(), ErrorClass::Document);

    let ids: Vec<Bson> = scan_all(port.as_ref(), db, "users", 10)
        .await
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(
        ids,
        vec![Bson::Int32(1)],
        "all or nothing: nothing of the failed transaction was written"
    );
}

on_both!(
    duplicate_key,
    duplicate_key_on_simulator,
    duplicate_key_on_mongodb
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

// ---------------------------------------------------------------------------------------------
// (i) Preflight on a ready collection
// ---------------------------------------------------------------------------------------------

async fn preflight_ready(d: &dyn Deployment) {
    let db = d.db();
    d.setup(db, "orders", CollectionOptions::ready()).await;
    let request = PreflightRequest {
        connection_string: d.connection_string(),
        database: db.to_owned(),
        collections: vec!["orders".to_owned()],
        auto_configure: false,
    };
    let options = PreflightOptions {
        policy: TargetPolicy::AllowPrivate,
        ..Default::default()
    };

    let report = preflight::run(d.connector().as_ref(), &request, &options).await;

    let not_passed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Passed)
        .collect();
    assert!(
        not_passed.is_empty(),
        "every check passes on a ready collection: {not_passed:#?}"
    );
    assert!(report.ok);

    let names: Vec<String> = d
        .port()
        .list_collections(db)
        .await
        .expect("list collections")
        .into_iter()
        .map(|c| c.name)
        .collect();
    for metadata in [SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION] {
        assert!(
            names.iter().any(|n| n == metadata),
            "preflight creates the metadata collection {metadata}; found {names:?}"
        );
    }
}

on_both!(
    preflight_ready,
    preflight_ready_on_simulator,
    preflight_ready_on_mongodb
);

// (j) A write-back that keeps what the edge never held: a document with a binary field (not
// replicated) is mapped to the edge, edited there, mapped back, and written with the preserving
// update. MongoDB keeps the binary values and takes the edits.
async fn write_back_keeps_unreplicated_fields(d: &dyn Deployment) {
    use bson::spec::BinarySubtype;
    use edgebridge_domain::spec::SyncMode;
    use edgebridge_mongo::mapping::{IdFields, MappingConfig, to_edge, to_mongo};

    let db = d.db();
    d.setup(db, "files", CollectionOptions::ready()).await;
    let blob = Bson::Binary(bson::Binary {
        subtype: BinarySubtype::Generic,
        bytes: vec![1, 2, 3],
    });
    d.insert(
        db,
        "files",
        doc! { "_id": 1, "name": "a.txt", "blob": blob.clone(), "meta": {"thumb": blob.clone(), "size": 3}, "parts": [blob.clone(), 2] },
    )
    .await;
    let config = MappingConfig {
        id: IdFields::MatchId,
        mode: SyncMode::Json,
        counters: Vec::new(),
    };
    let port = d.port();
    let stored = scan_all(port.as_ref(), db, "files", 10).await.remove(0);
    let edge = to_edge(&stored, &config).expect("maps to the edge");
    assert!(!edge.body.contains_key("blob"));

    let mut body = edge.body.clone();
    body.insert("name".into(), serde_json::json!("b.txt"));
    body["meta"]["size"] = serde_json::json!(4);
    body["parts"][1] = serde_json::json!(5);
    let back = to_mongo(&body, edge.types.as_ref(), &config).expect("maps back");
    let mut session = port.start_session().await.expect("a session starts");
    session
        .commit(
            db,
            &[WriteOp::Update {
                collection: "files".into(),
                filter: back.filter.clone(),
                update: back.set_update().expect("every name is addressable"),
                upsert: true,
            }],
        )
        .await
        .expect("the preserving update commits");

    let after = scan_all(port.as_ref(), db, "files", 10).await.remove(0);
    assert_eq!(
        after,
        doc! { "_id": 1, "name": "b.txt", "blob": blob.clone(), "meta": {"thumb": blob.clone(), "size": 4}, "parts": [blob, 5] },
        "edits applied, binary values kept"
    );
}

on_both!(
    write_back_keeps_unreplicated_fields,
    write_back_keeps_unreplicated_fields_on_simulator,
    write_back_keeps_unreplicated_fields_on_mongodb
);

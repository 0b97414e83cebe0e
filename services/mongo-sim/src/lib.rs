//! A deterministic MongoDB simulator behind the MongoDB port, for tests only (never linked into
//! the shipped binary).
//!
//! It models what the sync engine relies on: databases and collections with options (capped,
//! change stream pre- and post-images on or off, a `$jsonSchema` validator it enforces, unique
//! indexes), an oplog with ordered events carrying opaque resume tokens and cluster times, pre-
//! and post-images, `lsid`/`txnNumber` on transactional writes, an oplog window after which
//! resuming fails as history lost, users with limited privileges, and injected faults
//! (connections dropped mid-batch or mid-stream, slow responses, primary stepdowns). Everything
//! is deterministic under the seed: the same calls give the same results, tokens and session ids.
//!
//! The test drives it two ways: through the port (what the engine sees), and through
//! [`Simulator`]'s own methods, standing for the DBA and the customer's other applications.

pub use edgebridge_mongo::order;
pub mod schema;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, Timestamp, doc};
use edgebridge_domain::connection_string::{MongoUri, Scheme};
use edgebridge_mongo::port::{
    ChangeEvent, ChangeStream, CollectionInfo, CollectionKind, CommitOutcome, ConnectOptions,
    MongoConnector, MongoPort, OperationType, PortResult, Privilege, Resource, ResumeToken,
    SessionId, StreamStart, TxnError, WriteOp, WriteSession, allows,
};
use edgebridge_mongo::{ErrorClass, ErrorKind, PortError};

use crate::order::Key;

/// Options of a collection created by the test (the DBA's `createCollection`).
#[derive(Debug, Clone, Default)]
pub struct CollectionOptions {
    pub capped: bool,
    pub pre_and_post_images: bool,
    /// A validator such as `{"$jsonSchema": {...}}`, enforced on every write.
    pub validator: Option<Document>,
}

impl CollectionOptions {
    /// What the connector needs: pre- and post-images on.
    pub fn ready() -> Self {
        CollectionOptions {
            pre_and_post_images: true,
            ..Default::default()
        }
    }
}

/// A database user. With no users at all, the simulator runs without access control.
#[derive(Debug, Clone)]
pub struct SimUser {
    pub name: String,
    pub password: String,
    pub privileges: Vec<Privilege>,
}

const READ_WRITE: &[&str] = &[
    "find",
    "insert",
    "update",
    "remove",
    "listCollections",
    "listIndexes",
    "createCollection",
    "createIndex",
    "dropCollection",
    "changeStream",
    "collStats",
    "dbStats",
];

fn privilege(resource: Resource, actions: &[&str]) -> Privilege {
    Privilege {
        resource,
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
    }
}

fn on_db(db: &str) -> Resource {
    Resource::Namespace {
        db: db.to_owned(),
        collection: String::new(),
    }
}

impl SimUser {
    /// The built-in `readWrite` role on `db`: enough to sync, not to change collection options.
    pub fn read_write(name: &str, password: &str, db: &str) -> Self {
        SimUser {
            name: name.to_owned(),
            password: password.to_owned(),
            privileges: vec![privilege(on_db(db), READ_WRITE)],
        }
    }

    /// `readWrite` plus `dbAdmin` on `db` (adds `collMod`, which `autoConfigure` needs).
    pub fn read_write_admin(name: &str, password: &str, db: &str) -> Self {
        let mut user = SimUser::read_write(name, password, db);
        user.privileges
            .push(privilege(on_db(db), &["collMod", "listDatabases"]));
        user
    }

    /// Only `find` and `changeStream` on `db`.
    pub fn read_only(name: &str, password: &str, db: &str) -> Self {
        SimUser {
            name: name.to_owned(),
            password: password.to_owned(),
            privileges: vec![privilege(
                on_db(db),
                &["find", "listCollections", "changeStream"],
            )],
        }
    }

    /// A user with exactly these actions on `db`.
    pub fn with_actions(name: &str, password: &str, db: &str, actions: &[&str]) -> Self {
        SimUser {
            name: name.to_owned(),
            password: password.to_owned(),
            privileges: vec![privilege(on_db(db), actions)],
        }
    }
}

/// A fault to inject. Faults queue up and fire in order, each on the operations it names.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The next `count` port operations (of any kind) fail with a dropped connection.
    DropConnection { count: u32 },
    /// The next scan fails after reading `after_docs` documents (the batch is lost).
    DropScan { after_docs: u32 },
    /// The next change stream to pull an event fails once it has delivered `after_events` more.
    DropStream { after_events: u32 },
    /// The next `count` operations each take `delay` longer (tokio time: use paused time).
    Slow { count: u32, delay: Duration },
    /// The primary steps down: the next `count` writes or commits fail as not-primary.
    StepDown { count: u32 },
    /// The next `count` commits are applied, but the answer is lost: the caller gets
    /// `CommitOutcomeUnknown` although the writes are there.
    CommitOutcomeUnknown { count: u32 },
    /// The next `count` change events are each delivered twice (as after a lost `getMore`
    /// answer): the engine must apply them idempotently.
    DuplicateEvents { count: u32 },
}

#[derive(Debug, Clone)]
struct Collection {
    options: CollectionOptions,
    docs: BTreeMap<Key, Document>,
    /// Fields with a unique index besides `_id`.
    unique: Vec<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    time: Timestamp,
    db: String,
    collection: String,
    operation: OperationType,
    key: Option<Document>,
    post: Option<Document>,
    pre: Option<Document>,
    /// Whether the collection recorded images when the change happened.
    images: bool,
    lsid: Option<SessionId>,
    txn_number: Option<i64>,
}

#[derive(Debug, Default)]
struct Faults {
    drop_connection: u32,
    drop_scan: Option<u32>,
    drop_stream: Option<u32>,
    slow: Option<(u32, Duration)>,
    step_down: u32,
    commit_unknown: u32,
    duplicate_events: u32,
    queue: VecDeque<Fault>,
    /// Probability (out of 1_000_000) that any operation drops its connection.
    random_drop_ppm: u32,
}

struct State {
    seed: u64,
    rng: u64,
    databases: BTreeMap<String, BTreeMap<String, Collection>>,
    oplog: VecDeque<Entry>,
    next_seq: u64,
    oplog_capacity: usize,
    /// The newest sequence number that rolled off the oplog (0: none yet).
    truncated_through: u64,
    /// ObjectIds generated so far.
    oids: u64,
    clock: Timestamp,
    users: Vec<SimUser>,
    hosts: HashMap<String, Vec<IpAddr>>,
    /// Members the cluster advertises besides the seeds (`host:port`), as a replica set's
    /// `hello` would.
    members: Vec<String>,
    reachable: bool,
    faults: Faults,
    /// Change streams wait without answering (see `hang_streams`).
    streams_hung: bool,
    sessions_started: u64,
    /// Changes made by session transactions, per namespace (never trimmed).
    session_writes: BTreeMap<(String, String), u64>,
    /// Whether changes and deliveries go to `log` too ([`Simulator::keep_history`]).
    history: bool,
    /// Every operation the port served, in order (what a test can assert on).
    log: Vec<String>,
}

impl State {
    fn random(&mut self) -> u64 {
        // splitmix64: small, fast and deterministic.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn tick(&mut self) -> Timestamp {
        self.clock.increment += 1;
        if self.clock.increment > 1000 {
            self.clock.time += 1;
            self.clock.increment = 1;
        }
        self.clock
    }

    fn token(&self, seq: u64) -> ResumeToken {
        // Opaque to the engine; a checksum under the seed rejects forged or foreign tokens.
        let check = (seq ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        ResumeToken(doc! {"_data": format!("82{seq:016X}{check:06X}")})
    }

    fn seq_of(&self, token: &ResumeToken) -> PortResult<u64> {
        let invalid =
            || PortError::server(260, "the resume token is not valid for this deployment");
        let data = token.0.get_str("_data").map_err(|_| invalid())?;
        let hex = data
            .strip_prefix("82")
            .filter(|h| h.len() == 22)
            .ok_or_else(invalid)?;
        let seq = u64::from_str_radix(&hex[..16], 16).map_err(|_| invalid())?;
        if self.token(seq) != *token {
            return Err(invalid());
        }
        Ok(seq)
    }

    /// A fresh number for a generated ObjectId (one per document, even within a transaction).
    fn new_oid_seq(&mut self) -> u64 {
        self.oids += 1;
        self.oids
    }

    fn first_seq(&self) -> u64 {
        self.oplog.front().map_or(self.next_seq, |e| e.seq)
    }

    fn append(&mut self, mut entry: Entry) {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        self.oplog.push_back(entry);
        self.trim();
    }

    /// Drops the oldest entries beyond the oplog's capacity.
    fn trim(&mut self) {
        while self.oplog.len() > self.oplog_capacity {
            if let Some(gone) = self.oplog.pop_front() {
                self.truncated_through = gone.seq;
            }
        }
    }

    fn collection(&mut self, db: &str, name: &str) -> PortResult<&mut Collection> {
        self.databases
            .get_mut(db)
            .and_then(|d| d.get_mut(name))
            .ok_or_else(|| PortError::server(26, format!("ns not found: {db}.{name}")))
    }
}

/// The simulated deployment. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Simulator {
    state: Arc<Mutex<State>>,
}

impl Simulator {
    pub fn new(seed: u64) -> Self {
        Simulator {
            state: Arc::new(Mutex::new(State {
                seed,
                rng: seed,
                databases: BTreeMap::new(),
                oplog: VecDeque::new(),
                next_seq: 1,
                oplog_capacity: 100_000,
                truncated_through: 0,
                oids: 0,
                clock: Timestamp {
                    time: 1_700_000_000,
                    increment: 0,
                },
                users: Vec::new(),
                hosts: HashMap::new(),
                members: Vec::new(),
                reachable: true,
                faults: Faults::default(),
                streams_hung: false,
                sessions_started: 0,
                session_writes: BTreeMap::new(),
                history: false,
                log: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in a test thread must not hide the state from the next assertion.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connector the api or the engine is given.
    pub fn connector(&self) -> SimConnector {
        SimConnector { sim: self.clone() }
    }

    /// A host name the simulated DNS resolves (to any address: the policy check sees it).
    pub fn add_host(&self, host: &str, addresses: &[IpAddr]) {
        self.lock()
            .hosts
            .insert(host.to_ascii_lowercase(), addresses.to_vec());
    }

    /// A replica-set member the cluster advertises to every client (it also needs
    /// [`Simulator::add_host`] to resolve).
    pub fn advertise_member(&self, host_and_port: &str) {
        self.lock().members.push(host_and_port.to_owned());
    }

    /// Turns access control on (the first user) and adds a user.
    pub fn add_user(&self, user: SimUser) {
        self.lock().users.push(user);
    }

    /// When false, every connection fails to select a server (cluster down or firewalled).
    pub fn set_reachable(&self, reachable: bool) {
        self.lock().reachable = reachable;
    }

    /// How many oplog entries are kept; older ones roll off (and resuming before them fails).
    pub fn set_oplog_capacity(&self, entries: usize) {
        let mut state = self.lock();
        state.oplog_capacity = entries.max(1);
        state.trim();
    }

    /// While `true`, every change stream's `next` waits without answering, as a stream does
    /// whose server or network stopped responding without closing the connection; `false`
    /// lets them go on where they were.
    pub fn hang_streams(&self, hung: bool) {
        self.lock().streams_hung = hung;
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.queue.push_back(fault);
    }

    /// Any port operation drops its connection with this probability (seeded, reproducible).
    pub fn set_random_drops(&self, probability: f64) {
        self.lock().faults.random_drop_ppm = (probability.clamp(0.0, 1.0) * 1e6) as u32;
    }

    /// How many changes transactions on sessions (the connector's write-back) have made to
    /// `db.name` so far.
    pub fn session_writes(&self, db: &str, name: &str) -> u64 {
        self.lock()
            .session_writes
            .get(&(db.to_owned(), name.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// From now on, [`Simulator::operations`] also lists every change recorded (with its
    /// oplog number and post-image) and every change event a stream delivers: what a failing
    /// test prints.
    pub fn keep_history(&self) {
        self.lock().history = true;
    }

    /// The port operations served so far, e.g. `"scan app.tasks"`.
    pub fn operations(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    pub fn create_collection(&self, db: &str, name: &str, options: CollectionOptions) {
        self.lock()
            .databases
            .entry(db.to_owned())
            .or_default()
            .insert(
                name.to_owned(),
                Collection {
                    options,
                    docs: BTreeMap::new(),
                    unique: Vec::new(),
                },
            );
    }

    pub fn set_pre_and_post_images(&self, db: &str, name: &str, enabled: bool) {
        if let Ok(c) = self.lock().collection(db, name) {
            c.options.pre_and_post_images = enabled;
        }
    }

    pub fn create_unique_index(&self, db: &str, name: &str, field: &str) {
        if let Ok(c) = self.lock().collection(db, name) {
            c.unique.push(field.to_owned());
        }
    }

    /// The collection's documents in `_id` order.
    pub fn documents(&self, db: &str, name: &str) -> Vec<Document> {
        self.lock()
            .databases
            .get(db)
            .and_then(|d| d.get(name))
            .map(|c| c.docs.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many documents `db.name` holds.
    pub fn count(&self, db: &str, name: &str) -> usize {
        self.lock()
            .databases
            .get(db)
            .and_then(|d| d.get(name))
            .map_or(0, |c| c.docs.len())
    }

    pub fn find(&self, db: &str, name: &str, id: &Bson) -> Option<Document> {
        self.lock()
            .databases
            .get(db)?
            .get(name)?
            .docs
            .get(&Key(id.clone()))
            .cloned()
    }

    /// Another application inserts a document (no session).
    pub fn insert(&self, db: &str, name: &str, doc: Document) -> PortResult<()> {
        let mut state = self.lock();
        let change = write(
            &mut state,
            db,
            &WriteOp::Insert {
                collection: name.to_owned(),
                document: doc,
            },
        )?;
        record(&mut state, db, change, None, None);
        Ok(())
    }

    /// Another application replaces the document with this `_id` (upserting).
    pub fn replace(&self, db: &str, name: &str, doc: Document) -> PortResult<()> {
        let id = doc.get("_id").cloned().unwrap_or(Bson::Null);
        let mut state = self.lock();
        let change = write(
            &mut state,
            db,
            &WriteOp::Upsert {
                collection: name.to_owned(),
                filter: doc! {"_id": id},
                replacement: doc,
            },
        )?;
        record(&mut state, db, change, None, None);
        Ok(())
    }

    /// Another application sets fields on the document with this `_id` (`$set`).
    pub fn update(&self, db: &str, name: &str, id: &Bson, set: Document) -> PortResult<()> {
        let mut state = self.lock();
        let current = state
            .collection(db, name)?
            .docs
            .get(&Key(id.clone()))
            .cloned()
            .ok_or_else(|| PortError::new(ErrorKind::Other, "no document with that _id"))?;
        let mut next = current;
        for (k, v) in set {
            next.insert(k, v);
        }
        let mut change = write(
            &mut state,
            db,
            &WriteOp::Upsert {
                collection: name.to_owned(),
                filter: doc! {"_id": id.clone()},
                replacement: next,
            },
        )?;
        if let Some(c) = change.as_mut() {
            c.operation = OperationType::Update;
        }
        record(&mut state, db, change, None, None);
        Ok(())
    }

    pub fn delete(&self, db: &str, name: &str, id: &Bson) -> PortResult<()> {
        let mut state = self.lock();
        let change = write(
            &mut state,
            db,
            &WriteOp::Delete {
                collection: name.to_owned(),
                filter: doc! {"_id": id.clone()},
            },
        )?;
        record(&mut state, db, change, None, None);
        Ok(())
    }

    pub fn drop_collection(&self, db: &str, name: &str) {
        let mut state = self.lock();
        let removed = state
            .databases
            .get_mut(db)
            .and_then(|d| d.remove(name))
            .is_some();
        if state.databases.get(db).is_some_and(BTreeMap::is_empty) {
            state.databases.remove(db);
        }
        if removed {
            let time = state.tick();
            state.append(Entry {
                seq: 0,
                time,
                db: db.to_owned(),
                collection: name.to_owned(),
                operation: OperationType::Drop,
                key: None,
                post: None,
                pre: None,
                images: false,
                lsid: None,
                txn_number: None,
            });
        }
    }
}

/// What one write did, before it is recorded in the oplog.
struct Change {
    collection: String,
    operation: OperationType,
    key: Document,
    pre: Option<Document>,
    post: Option<Document>,
    images: bool,
}

fn record(
    state: &mut State,
    db: &str,
    change: Option<Change>,
    lsid: Option<&SessionId>,
    txn_number: Option<i64>,
) {
    let Some(change) = change else { return };
    if lsid.is_some() {
        *state
            .session_writes
            .entry((db.to_owned(), change.collection.clone()))
            .or_default() += 1;
    }
    let time = state.tick();
    if state.history {
        let line = format!(
            "change #{} {db}.{} {:?} {} {}post={}",
            state.next_seq,
            change.collection,
            change.operation,
            change.key,
            if lsid.is_some() { "(session) " } else { "" },
            change
                .post
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string)
        );
        state.log.push(line);
    }
    state.append(Entry {
        seq: 0,
        time,
        db: db.to_owned(),
        collection: change.collection,
        operation: change.operation,
        key: Some(change.key),
        post: change.post,
        pre: change.pre,
        images: change.images,
        lsid: lsid.cloned(),
        txn_number,
    });
}

fn matches(doc: &Document, filter: &Document) -> bool {
    filter.iter().all(|(k, v)| {
        doc.get(k)
            .is_some_and(|have| order::compare(have, v) == std::cmp::Ordering::Equal)
    })
}

/// Applies one write to the state. `Ok(None)`: nothing changed (a delete that matched nothing).
fn write(state: &mut State, db: &str, op: &WriteOp) -> PortResult<Option<Change>> {
    let name = op.collection().to_owned();
    if !state
        .databases
        .get(db)
        .is_some_and(|d| d.contains_key(&name))
    {
        // Like MongoDB, writes create the collection implicitly.
        state.databases.entry(db.to_owned()).or_default().insert(
            name.clone(),
            Collection {
                options: CollectionOptions::default(),
                docs: BTreeMap::new(),
                unique: Vec::new(),
            },
        );
    }
    let coll = state.collection(db, &name)?;
    let images = coll.options.pre_and_post_images;
    let existing_key = |coll: &Collection, filter: &Document| -> Option<Key> {
        if let Some(id) = filter.get("_id") {
            let key = Key(id.clone());
            return coll
                .docs
                .get(&key)
                .filter(|d| matches(d, filter))
                .map(|_| key);
        }
        coll.docs
            .iter()
            .find(|(_, d)| matches(d, filter))
            .map(|(k, _)| k.clone())
    };
    match op {
        WriteOp::Insert { document, .. } => {
            let mut document = document.clone();
            if !document.contains_key("_id") {
                let mut bytes = [0u8; 12];
                let n = state.new_oid_seq().to_be_bytes();
                bytes[4..].copy_from_slice(&n);
                let mut with_id = doc! {"_id": bson::oid::ObjectId::from_bytes(bytes)};
                with_id.extend(document);
                document = with_id;
            }
            let coll = state.collection(db, &name)?;
            check_document(coll, &document, None)?;
            let id = document.get("_id").cloned().unwrap_or(Bson::Null);
            coll.docs.insert(Key(id.clone()), document.clone());
            Ok(Some(Change {
                collection: name,
                operation: OperationType::Insert,
                key: doc! {"_id": id},
                pre: None,
                post: Some(document),
                images,
            }))
        }
        WriteOp::Upsert {
            filter,
            replacement,
            ..
        } => {
            let found = existing_key(coll, filter);
            let mut document = Document::new();
            let id = match &found {
                Some(key) => key.0.clone(),
                None => match filter.get("_id").or_else(|| replacement.get("_id")) {
                    Some(id) => id.clone(),
                    None => {
                        let mut bytes = [0u8; 12];
                        bytes[4..].copy_from_slice(&state.new_oid_seq().to_be_bytes());
                        Bson::ObjectId(bson::oid::ObjectId::from_bytes(bytes))
                    }
                },
            };
            document.insert("_id", id.clone());
            if found.is_none() {
                // An upsert inserts the filter's equality fields too.
                for (k, v) in filter {
                    document.insert(k.clone(), v.clone());
                }
            }
            for (k, v) in replacement {
                if k != "_id" {
                    document.insert(k.clone(), v.clone());
                }
            }
            if let Some(new_id) = replacement.get("_id")
                && order::compare(new_id, &id) != std::cmp::Ordering::Equal
            {
                return Err(PortError::server(
                    66,
                    "the (immutable) field '_id' was found to have been altered",
                ));
            }
            let coll = state.collection(db, &name)?;
            check_document(coll, &document, found.as_ref())?;
            let pre = found.as_ref().and_then(|k| coll.docs.get(k).cloned());
            coll.docs.insert(Key(id.clone()), document.clone());
            Ok(Some(Change {
                collection: name,
                operation: if pre.is_some() {
                    OperationType::Replace
                } else {
                    OperationType::Insert
                },
                key: doc! {"_id": id},
                pre,
                post: Some(document),
                images,
            }))
        }
        WriteOp::Update {
            filter,
            update,
            upsert,
            ..
        } => {
            let found = existing_key(coll, filter);
            let pre = found.as_ref().and_then(|k| coll.docs.get(k).cloned());
            let mut document = match &pre {
                Some(doc) => doc.clone(),
                None if *upsert => {
                    let mut doc = Document::new();
                    let id = filter.get("_id").cloned().unwrap_or_else(|| {
                        let mut bytes = [0u8; 12];
                        bytes[4..].copy_from_slice(&state.new_oid_seq().to_be_bytes());
                        Bson::ObjectId(bson::oid::ObjectId::from_bytes(bytes))
                    });
                    doc.insert("_id", id);
                    for (k, v) in filter {
                        doc.insert(k.clone(), v.clone());
                    }
                    doc
                }
                None => return Ok(None),
            };
            apply_operators(&mut document, update)?;
            let id = document.get("_id").cloned().unwrap_or(Bson::Null);
            if let Some(key) = &found
                && order::compare(&key.0, &id) != std::cmp::Ordering::Equal
            {
                return Err(PortError::server(
                    66,
                    "the (immutable) field '_id' was found to have been altered",
                ));
            }
            if pre.as_ref() == Some(&document) {
                // Nothing changed: MongoDB writes no oplog entry, so no change event.
                return Ok(None);
            }
            let coll = state.collection(db, &name)?;
            check_document(coll, &document, found.as_ref())?;
            coll.docs.insert(Key(id.clone()), document.clone());
            Ok(Some(Change {
                collection: name,
                operation: if pre.is_some() {
                    OperationType::Update
                } else {
                    OperationType::Insert
                },
                key: doc! {"_id": id},
                pre,
                post: Some(document),
                images,
            }))
        }
        WriteOp::Delete { filter, .. } => {
            let Some(key) = existing_key(coll, filter) else {
                return Ok(None);
            };
            let pre = coll.docs.remove(&key);
            Ok(Some(Change {
                collection: name,
                operation: OperationType::Delete,
                key: doc! {"_id": key.0},
                pre,
                post: None,
                images,
            }))
        }
    }
}

/// `$set` and `$unset` with dotted paths (through sub-documents and array indexes).
fn apply_operators(doc: &mut Document, update: &Document) -> PortResult<()> {
    // MongoDB refuses an update whose paths overlap ("a" and "a.b"), and empty or `$` segments.
    let mut paths: Vec<&str> = Vec::new();
    for (_, fields) in update {
        if let Bson::Document(fields) = fields {
            for (path, _) in fields {
                if path.split('.').any(|s| s.is_empty() || s.starts_with('$')) {
                    return Err(PortError::server(
                        56,
                        format!("the update path '{path}' is not valid"),
                    ));
                }
                let overlaps = paths.iter().any(|p| {
                    p == path
                        || path.starts_with(&format!("{p}."))
                        || p.starts_with(&format!("{path}."))
                });
                if overlaps {
                    return Err(PortError::server(
                        40,
                        format!("Updating the path '{path}' would create a conflict"),
                    ));
                }
                paths.push(path);
            }
        }
    }
    for (operator, fields) in update {
        let Bson::Document(fields) = fields else {
            return Err(PortError::server(9, format!("{operator} needs a document")));
        };
        for (path, value) in fields {
            let segments: Vec<&str> = path.split('.').collect();
            match operator.as_str() {
                "$set" => set_path(doc, &segments, value.clone())?,
                "$unset" => unset_path(doc, &segments),
                other => {
                    return Err(PortError::server(
                        9,
                        format!("the simulator does not support the update operator {other}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn set_path(doc: &mut Document, segments: &[&str], value: Bson) -> PortResult<()> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        doc.insert(*first, value);
        return Ok(());
    }
    let entry = doc
        .entry((*first).to_owned())
        .or_insert_with(|| Bson::Document(Document::new()));
    set_in(entry, rest, value)
}

fn set_in(target: &mut Bson, segments: &[&str], value: Bson) -> PortResult<()> {
    match target {
        Bson::Document(inner) => set_path(inner, segments, value),
        Bson::Array(items) => {
            let (first, rest) = segments.split_first().expect("segments are not empty");
            // Digits only ("+1" is a field name to MongoDB), and no padding past 1,500,000.
            let index: usize = first
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| first.parse().ok())
                .flatten()
                .filter(|i| *i <= 1_500_000)
                .ok_or_else(|| {
                    PortError::server(28, format!("cannot create field '{first}' in an array"))
                })?;
            while items.len() <= index {
                items.push(Bson::Null);
            }
            if rest.is_empty() {
                items[index] = value;
                Ok(())
            } else {
                set_in(&mut items[index], rest, value)
            }
        }
        _ => Err(PortError::server(
            28,
            "cannot create a field inside a value that is not a document",
        )),
    }
}

fn unset_path(doc: &mut Document, segments: &[&str]) {
    match segments {
        [] => {}
        [only] => {
            doc.remove(*only);
        }
        [first, rest @ ..] => match doc.get_mut(*first) {
            Some(Bson::Document(inner)) => unset_path(inner, rest),
            Some(Bson::Array(items)) => unset_in_array(items, rest),
            _ => {}
        },
    }
}

/// `$unset` of an array element sets it to null (the array keeps its length), as MongoDB does.
fn unset_in_array(items: &mut [Bson], segments: &[&str]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    let Some(item) = first
        .parse::<usize>()
        .ok()
        .filter(|_| first.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|i| items.get_mut(i))
    else {
        return;
    };
    match (rest.is_empty(), item) {
        (true, item) => *item = Bson::Null,
        (false, Bson::Document(inner)) => unset_path(inner, rest),
        (false, Bson::Array(inner)) => unset_in_array(inner, rest),
        _ => {}
    }
}

/// The validator and unique indexes. `replacing`: the key of the document being replaced.
fn check_document(coll: &Collection, doc: &Document, replacing: Option<&Key>) -> PortResult<()> {
    if let Some(validator) = &coll.options.validator
        && let Err(reason) = schema::validate(validator, doc)
    {
        return Err(PortError::server(
            121,
            format!("Document failed validation: {reason}"),
        ));
    }
    let id = Key(doc.get("_id").cloned().unwrap_or(Bson::Null));
    if replacing.is_none() && coll.docs.contains_key(&id) {
        return Err(PortError::server(
            11000,
            format!("E11000 duplicate key error: _id {}", id.0),
        ));
    }
    for field in &coll.unique {
        let Some(value) = doc.get(field) else {
            continue;
        };
        let taken = coll.docs.iter().any(|(k, d)| {
            Some(k) != Some(&id)
                && d.get(field)
                    .is_some_and(|v| order::compare(v, value) == std::cmp::Ordering::Equal)
        });
        if taken {
            return Err(PortError::server(
                11000,
                format!("E11000 duplicate key error: {field} {value}"),
            ));
        }
    }
    Ok(())
}

/// Resolves and connects to the [`Simulator`].
#[derive(Clone)]
pub struct SimConnector {
    sim: Simulator,
}

fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

#[async_trait]
impl MongoConnector for SimConnector {
    async fn resolve(&self, uri: &MongoUri) -> PortResult<Vec<IpAddr>> {
        let state = self.sim.lock();
        let mut out = Vec::new();
        for host in uri.hosts() {
            let name = host_name(host);
            if let Ok(ip) = name.parse::<IpAddr>() {
                out.push(ip);
                continue;
            }
            let lookup = match uri.scheme() {
                Scheme::Srv => format!("_mongodb._tcp.{name}"),
                Scheme::Standard => name.to_owned(),
            };
            let found = state
                .hosts
                .get(&lookup.to_ascii_lowercase())
                .or_else(|| state.hosts.get(&name.to_ascii_lowercase()))
                .ok_or_else(|| {
                    PortError::new(
                        ErrorKind::Network,
                        format!("could not resolve host `{name}`"),
                    )
                })?;
            out.extend(found.iter().copied());
        }
        Ok(out)
    }

    async fn connect(
        &self,
        uri: &MongoUri,
        options: &ConnectOptions,
    ) -> PortResult<Arc<dyn MongoPort>> {
        options
            .policy
            .check_options(uri.options())
            .map_err(|why| PortError::new(ErrorKind::Unsupported, why))?;
        let known = {
            let state = self.sim.lock();
            uri.hosts().iter().any(|h| {
                let name = host_name(h);
                name.parse::<IpAddr>().is_ok()
                    || state.hosts.contains_key(&name.to_ascii_lowercase())
            })
        };
        Ok(Arc::new(SimPort {
            sim: self.sim.clone(),
            seeds: uri.hosts().to_vec(),
            user: uri.username().map(str::to_owned),
            password: uri.password(),
            known_host: known,
            timeout: options.server_selection_timeout,
        }))
    }
}

/// One client connection to the simulator.
pub struct SimPort {
    sim: Simulator,
    seeds: Vec<String>,
    user: Option<String>,
    password: Option<String>,
    known_host: bool,
    timeout: Duration,
}

impl SimPort {
    /// Every operation starts here: faults, reachability, authentication. Returns the user's
    /// privileges (`None`: access control off).
    async fn begin(&self, what: String) -> PortResult<Option<Vec<Privilege>>> {
        let delay = {
            let mut state = self.sim.lock();
            state.log.push(what);
            take_queued(&mut state.faults);
            let mut delay = None;
            if let Some((count, d)) = state.faults.slow.as_mut() {
                delay = Some(*d);
                *count -= 1;
                if *count == 0 {
                    state.faults.slow = None;
                }
            }
            delay
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let mut state = self.sim.lock();
        if !self.known_host || !state.reachable {
            return Err(PortError::new(
                ErrorKind::Network,
                format!(
                    "server selection timed out after {} ms: no reachable server",
                    self.timeout.as_millis()
                ),
            ));
        }
        if state.faults.drop_connection > 0 {
            state.faults.drop_connection -= 1;
            take_queued(&mut state.faults);
            return Err(dropped());
        }
        let ppm = state.faults.random_drop_ppm;
        if ppm > 0 && state.random() % 1_000_000 < u64::from(ppm) {
            return Err(dropped());
        }
        if state.users.is_empty() {
            return Ok(None);
        }
        let user = state.users.iter().find(|u| {
            Some(&u.name) == self.user.as_ref() && Some(&u.password) == self.password.as_ref()
        });
        match user {
            Some(user) => Ok(Some(user.privileges.clone())),
            None => Err(PortError::server(18, "Authentication failed.")),
        }
    }

    async fn require(
        &self,
        what: String,
        action: &str,
        db: &str,
        coll: Option<&str>,
    ) -> PortResult<()> {
        match self.begin(what).await? {
            Some(privileges) if !allows(&privileges, action, db, coll) => Err(PortError::server(
                13,
                format!(
                    "not authorized on {db} to execute command requiring `{action}`{}",
                    coll.map(|c| format!(" on collection {c}"))
                        .unwrap_or_default()
                ),
            )),
            _ => Ok(()),
        }
    }
}

fn dropped() -> PortError {
    PortError::new(
        ErrorKind::Network,
        "connection closed by peer (simulated network drop)",
    )
}

/// Moves the next queued fault into effect when none of its kind is active.
fn take_queued(faults: &mut Faults) {
    let active = faults.drop_connection > 0
        || faults.drop_scan.is_some()
        || faults.drop_stream.is_some()
        || faults.slow.is_some()
        || faults.step_down > 0
        || faults.commit_unknown > 0
        || faults.duplicate_events > 0;
    if active {
        return;
    }
    match faults.queue.pop_front() {
        Some(Fault::DropConnection { count }) => faults.drop_connection = count,
        Some(Fault::DropScan { after_docs }) => faults.drop_scan = Some(after_docs),
        Some(Fault::DropStream { after_events }) => faults.drop_stream = Some(after_events),
        Some(Fault::Slow { count, delay }) if count > 0 => faults.slow = Some((count, delay)),
        Some(Fault::StepDown { count }) => faults.step_down = count,
        Some(Fault::CommitOutcomeUnknown { count }) => faults.commit_unknown = count,
        Some(Fault::DuplicateEvents { count }) => faults.duplicate_events = count,
        _ => {}
    }
}

fn not_primary() -> PortError {
    PortError::server(10107, "not primary (simulated stepdown)")
}

#[async_trait]
impl MongoPort for SimPort {
    fn servers(&self) -> Vec<String> {
        let mut servers = self.seeds.clone();
        if self.known_host {
            servers.extend(self.sim.lock().members.iter().cloned());
        }
        servers
    }

    async fn ping(&self) -> PortResult<()> {
        self.begin("ping".into()).await.map(|_| ())
    }

    async fn list_database_names(&self) -> PortResult<Vec<String>> {
        let privileges = self.begin("listDatabases".into()).await?;
        let state = self.sim.lock();
        let all: Vec<String> = state.databases.keys().cloned().collect();
        let Some(privileges) = privileges else {
            return Ok(all);
        };
        if privileges.iter().any(|p| {
            p.actions.contains("listDatabases")
                && matches!(p.resource, Resource::Cluster | Resource::AnyResource)
        }) {
            return Ok(all);
        }
        // Without `listDatabases` on the cluster, MongoDB lists the databases the user has
        // privileges on (authorizedDatabases), and refuses when there are none.
        let authorized: BTreeSet<String> = privileges
            .iter()
            .filter_map(|p| match &p.resource {
                Resource::Namespace { db, .. } if !db.is_empty() => Some(db.clone()),
                _ => None,
            })
            .collect();
        if authorized.is_empty() {
            return Err(PortError::server(
                13,
                "not authorized on admin to execute command { listDatabases: 1 }",
            ));
        }
        Ok(all.into_iter().filter(|d| authorized.contains(d)).collect())
    }

    async fn list_collections(&self, db: &str) -> PortResult<Vec<CollectionInfo>> {
        self.require(format!("listCollections {db}"), "listCollections", db, None)
            .await?;
        let state = self.sim.lock();
        Ok(state
            .databases
            .get(db)
            .map(|colls| {
                colls
                    .iter()
                    .map(|(name, c)| CollectionInfo {
                        name: name.clone(),
                        kind: CollectionKind::Collection,
                        capped: c.options.capped,
                        pre_and_post_images: c.options.pre_and_post_images,
                        validator: c.options.validator.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn privileges(&self) -> PortResult<Vec<Privilege>> {
        Ok(self
            .begin("connectionStatus".into())
            .await?
            .unwrap_or_else(|| {
                vec![Privilege {
                    resource: Resource::AnyResource,
                    actions: ["anyAction".to_owned()].into_iter().collect(),
                }]
            }))
    }

    async fn create_collection(&self, db: &str, name: &str) -> PortResult<bool> {
        self.require(
            format!("create {db}.{name}"),
            "createCollection",
            db,
            Some(name),
        )
        .await?;
        let mut state = self.sim.lock();
        let colls = state.databases.entry(db.to_owned()).or_default();
        if colls.contains_key(name) {
            return Ok(false);
        }
        colls.insert(
            name.to_owned(),
            Collection {
                options: CollectionOptions::default(),
                docs: BTreeMap::new(),
                unique: Vec::new(),
            },
        );
        Ok(true)
    }

    async fn enable_pre_and_post_images(&self, db: &str, collection: &str) -> PortResult<()> {
        self.require(
            format!("collMod {db}.{collection}"),
            "collMod",
            db,
            Some(collection),
        )
        .await?;
        self.sim
            .lock()
            .collection(db, collection)?
            .options
            .pre_and_post_images = true;
        Ok(())
    }

    async fn scan(
        &self,
        db: &str,
        collection: &str,
        after: Option<&Bson>,
        batch_size: u32,
    ) -> PortResult<Vec<Document>> {
        self.require(
            format!("scan {db}.{collection}"),
            "find",
            db,
            Some(collection),
        )
        .await?;
        let mut state = self.sim.lock();
        let docs: Vec<Document> = match state.databases.get(db).and_then(|d| d.get(collection)) {
            None => Vec::new(),
            Some(coll) => {
                let range = match after {
                    Some(after) => coll.docs.range((
                        std::ops::Bound::Excluded(Key(after.clone())),
                        std::ops::Bound::Unbounded,
                    )),
                    None => coll.docs.range(..),
                };
                range
                    .take(batch_size.max(1) as usize)
                    .map(|(_, d)| d.clone())
                    .collect()
            }
        };
        if let Some(after_docs) = state.faults.drop_scan.take() {
            if (after_docs as usize) < docs.len() {
                return Err(dropped());
            }
            // The batch ended before the drop point: the fault waits for the next scan.
            state.faults.drop_scan = Some(after_docs - docs.len() as u32);
        }
        Ok(docs)
    }

    async fn estimated_count(&self, db: &str, collection: &str) -> PortResult<u64> {
        self.require(
            format!("count {db}.{collection}"),
            "find",
            db,
            Some(collection),
        )
        .await?;
        let state = self.sim.lock();
        Ok(state
            .databases
            .get(db)
            .and_then(|d| d.get(collection))
            .map_or(0, |c| c.docs.len() as u64))
    }

    async fn watch(
        &self,
        db: &str,
        collection: &str,
        start: StreamStart,
    ) -> PortResult<Box<dyn ChangeStream>> {
        self.require(
            format!("watch {db}.{collection}"),
            "changeStream",
            db,
            Some(collection),
        )
        .await?;
        let state = self.sim.lock();
        let position = match &start {
            StreamStart::Now => state.next_seq - 1,
            StreamStart::After(token) => {
                let seq = state.seq_of(token)?;
                // Like MongoDB, the token's own entry must still be in the oplog.
                if state.truncated_through > 0 && seq <= state.truncated_through {
                    return Err(history_lost());
                }
                seq
            }
            StreamStart::AtOperationTime(time) => {
                let first = state.oplog.front();
                if first
                    .is_some_and(|e| (e.time.time, e.time.increment) > (time.time, time.increment))
                    && state.first_seq() > 1
                {
                    return Err(history_lost());
                }
                state
                    .oplog
                    .iter()
                    .take_while(|e| (e.time.time, e.time.increment) < (time.time, time.increment))
                    .last()
                    .map_or(state.first_seq() - 1, |e| e.seq)
            }
        };
        let token = match start {
            StreamStart::After(token) => Some(token),
            _ => Some(state.token(position)),
        };
        Ok(Box::new(SimStream {
            port: SimPort {
                sim: self.sim.clone(),
                seeds: self.seeds.clone(),
                user: self.user.clone(),
                password: self.password.clone(),
                known_host: self.known_host,
                timeout: self.timeout,
            },
            db: db.to_owned(),
            collection: collection.to_owned(),
            position,
            token,
            redelivered: None,
        }))
    }

    async fn start_session(&self) -> PortResult<Box<dyn WriteSession>> {
        self.begin("startSession".into()).await?;
        let mut state = self.sim.lock();
        state.sessions_started += 1;
        let mut bytes = state.random().to_be_bytes().to_vec();
        bytes.extend(state.random().to_be_bytes());
        // A version-4 UUID, like the driver's.
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Ok(Box::new(SimSession {
            port: SimPort {
                sim: self.sim.clone(),
                seeds: self.seeds.clone(),
                user: self.user.clone(),
                password: self.password.clone(),
                known_host: self.known_host,
                timeout: self.timeout,
            },
            id: SessionId(bytes),
            txn_number: 0,
        }))
    }
}

fn history_lost() -> PortError {
    PortError::server(
        286,
        "Resume of change stream was not possible, as the resume point may no longer be in the oplog",
    )
}

struct SimStream {
    port: SimPort,
    db: String,
    collection: String,
    /// The last oplog sequence number this stream has moved past.
    position: u64,
    token: Option<ResumeToken>,
    /// The event delivered once already (a duplicate fault): the next delivery moves on.
    redelivered: Option<u64>,
}

#[async_trait]
impl ChangeStream for SimStream {
    async fn next(&mut self) -> PortResult<Option<ChangeEvent>> {
        while self.port.sim.lock().streams_hung {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.port
            .require(
                format!("getMore {}.{}", self.db, self.collection),
                "changeStream",
                &self.db,
                Some(&self.collection),
            )
            .await?;
        let mut state = self.port.sim.lock();
        if self.position + 1 < state.first_seq() {
            return Err(history_lost());
        }
        // Sequence numbers are contiguous: start right after the stream's position.
        let skip = usize::try_from((self.position + 1).saturating_sub(state.first_seq()))
            .unwrap_or(usize::MAX);
        let found = state
            .oplog
            .iter()
            .skip(skip)
            .find(|e| e.seq > self.position && e.db == self.db && e.collection == self.collection)
            .cloned();
        let Some(entry) = found else {
            // An empty batch: the postBatchResumeToken moves to the end of the oplog.
            self.position = state.next_seq - 1;
            self.token = Some(state.token(self.position));
            return Ok(None);
        };
        if let Some(remaining) = state.faults.drop_stream.as_mut() {
            if *remaining == 0 {
                state.faults.drop_stream = None;
                return Err(dropped());
            }
            *remaining -= 1;
        }
        let needs_images = matches!(
            entry.operation,
            OperationType::Update | OperationType::Replace | OperationType::Delete
        );
        if needs_images && !entry.images {
            return Err(PortError::server(
                47,
                format!(
                    "Change stream was configured to require a pre- or post-image, but none was recorded for {}.{}: changeStreamPreAndPostImages is not enabled",
                    self.db, self.collection
                ),
            ));
        }
        let token = state.token(entry.seq);
        if state.history {
            let line = format!("delivered #{} to a stream at #{}", entry.seq, self.position);
            state.log.push(line);
        }
        if state.faults.duplicate_events > 0 && self.redelivered != Some(entry.seq) {
            // Delivered now and once more: the position stays before it this time.
            state.faults.duplicate_events -= 1;
            self.redelivered = Some(entry.seq);
        } else {
            self.position = entry.seq;
            self.token = Some(token.clone());
        }
        Ok(Some(ChangeEvent {
            token,
            cluster_time: entry.time,
            operation: entry.operation.clone(),
            collection: entry.collection.clone(),
            document_key: entry.key.clone(),
            full_document: entry.post.clone(),
            full_document_before_change: if needs_images {
                entry.pre.clone()
            } else {
                None
            },
            lsid: entry.lsid.clone(),
            txn_number: entry.txn_number,
        }))
    }

    fn resume_token(&self) -> Option<ResumeToken> {
        self.token.clone()
    }
}

struct SimSession {
    port: SimPort,
    id: SessionId,
    txn_number: i64,
}

#[async_trait]
impl WriteSession for SimSession {
    fn id(&self) -> &SessionId {
        &self.id
    }

    async fn commit(&mut self, db: &str, ops: &[WriteOp]) -> Result<CommitOutcome, TxnError> {
        let privileges = self
            .port
            .begin(format!("commitTransaction {db} ({} ops)", ops.len()))
            .await?;
        let mut state = self.port.sim.lock();
        if state.faults.step_down > 0 {
            state.faults.step_down -= 1;
            return Err(not_primary().into());
        }
        self.txn_number += 1;
        let txn_number = self.txn_number;
        // All or nothing: an operation that fails undoes the ones before it (each change
        // carries the document as it was, and collections the writes created are dropped).
        let db_existed = state.databases.contains_key(db);
        let created: Vec<String> = ops
            .iter()
            .map(|op| op.collection().to_owned())
            .filter(|name| {
                !state
                    .databases
                    .get(db)
                    .is_some_and(|d| d.contains_key(name))
            })
            .collect();
        let mut changes = Vec::new();
        let mut outcome = CommitOutcome {
            txn_number,
            matched: 0,
            upserted: 0,
            deleted: 0,
            inserted: 0,
        };
        for (index, op) in ops.iter().enumerate() {
            let action = match op {
                WriteOp::Upsert { .. } | WriteOp::Update { .. } => "update",
                WriteOp::Delete { .. } => "remove",
                WriteOp::Insert { .. } => "insert",
            };
            if let Some(privileges) = &privileges
                && !allows(privileges, action, db, Some(op.collection()))
            {
                undo(&mut state, db, &changes, &created, db_existed);
                // Not one document's fault: like the driver, no operation index.
                return Err(TxnError {
                    op_index: None,
                    error: PortError::server(
                        13,
                        format!(
                            "not authorized on {db} to execute `{action}` on {}",
                            op.collection()
                        ),
                    ),
                });
            }
            match write(&mut state, db, op) {
                Ok(change) => {
                    match (&change, op) {
                        (Some(c), WriteOp::Upsert { .. })
                            if c.operation == OperationType::Insert =>
                        {
                            outcome.upserted += 1
                        }
                        (Some(c), WriteOp::Update { .. })
                            if c.operation == OperationType::Insert =>
                        {
                            outcome.upserted += 1
                        }
                        (Some(_), WriteOp::Upsert { .. } | WriteOp::Update { .. }) => {
                            outcome.matched += 1
                        }
                        (Some(_), WriteOp::Delete { .. }) => outcome.deleted += 1,
                        (Some(_), WriteOp::Insert { .. }) => outcome.inserted += 1,
                        (None, _) => {}
                    }
                    changes.push(change);
                }
                Err(error) => {
                    undo(&mut state, db, &changes, &created, db_existed);
                    let op_index = (error.class() == ErrorClass::Document).then_some(index);
                    return Err(TxnError { op_index, error });
                }
            }
        }
        for change in changes {
            record(&mut state, db, change, Some(&self.id), Some(txn_number));
        }
        if state.faults.commit_unknown > 0 {
            state.faults.commit_unknown -= 1;
            return Err(PortError::new(
                ErrorKind::CommitOutcomeUnknown,
                "the commit's answer was lost (simulated); the transaction may have been applied",
            )
            .into());
        }
        Ok(outcome)
    }
}

/// Takes back a failed transaction's writes: each document as it was before the first of them,
/// and the collections they created.
fn undo(
    state: &mut State,
    db: &str,
    changes: &[Option<Change>],
    created: &[String],
    db_existed: bool,
) {
    for change in changes.iter().rev().flatten() {
        let Ok(coll) = state.collection(db, &change.collection) else {
            continue;
        };
        // The document as it was keys itself: a delete's filter may have named its `_id` with
        // another numeric type (5.0 for 5), and the stored `_id` must come back as it was.
        let id = |d: &Document| Key(d.get("_id").cloned().unwrap_or(Bson::Null));
        match &change.pre {
            Some(pre) => {
                coll.docs.remove(&id(pre));
                coll.docs.insert(id(pre), pre.clone());
            }
            None => {
                coll.docs.remove(&id(&change.key));
            }
        }
    }
    if let Some(d) = state.databases.get_mut(db) {
        for name in created {
            d.remove(name);
        }
    }
    if !db_existed {
        state.databases.remove(db);
    }
}

/// A binary UUID as MongoDB stores session ids, for tests that build `lsid` documents.
pub fn lsid_document(id: &SessionId) -> Document {
    doc! {"id": Binary { subtype: BinarySubtype::Uuid, bytes: id.0.clone() }}
}

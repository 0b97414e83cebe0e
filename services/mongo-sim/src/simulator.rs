//! [`Simulator`]: the deployment's handle for tests (the DBA, other applications, faults).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bson::{Bson, Document, Timestamp, doc};
use edgebridge_mongo::port::{OperationType, PortResult, WriteOp};
use edgebridge_mongo::{ErrorKind, PortError};

use crate::faults::{Fault, Faults};
use crate::order::Key;
use crate::port::SimConnector;
use crate::state::{Collection, CollectionOptions, Entry, State, UniqueIndex};
use crate::users::SimUser;
use crate::writes::{record, write};

/// The simulated deployment. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) state: Arc<Mutex<State>>,
    /// A standalone server instead of a replica-set primary (see
    /// [`Simulator::set_standalone`]).
    standalone: Arc<AtomicBool>,
    /// A `mongos` router of a sharded cluster (see [`Simulator::set_mongos`]).
    mongos: Arc<AtomicBool>,
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
                appended: Arc::new(tokio::sync::Notify::new()),
            })),
            standalone: Arc::new(AtomicBool::new(false)),
            mongos: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in a test thread must not hide the state from the next assertion.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The seed everything deterministic derives from.
    pub(crate) fn seed(&self) -> u64 {
        self.lock().seed
    }

    /// Whether the cluster answers at all (see [`Simulator::set_reachable`]).
    pub(crate) fn reachable(&self) -> bool {
        self.lock().reachable
    }

    /// Whether `db.name` exists.
    pub(crate) fn collection_exists(&self, db: &str, name: &str) -> bool {
        self.lock()
            .databases
            .get(db)
            .is_some_and(|d| d.contains_key(name))
    }

    /// A user's password, for authentication over the wire.
    pub(crate) fn password_of(&self, name: &str) -> Option<String> {
        self.lock()
            .users
            .iter()
            .find(|u| u.name == name)
            .map(|u| u.password.clone())
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

    /// Replaces the user of that name (or adds it): its privileges change at once, as a DBA's
    /// `updateUser` or `revokeRolesFromUser` would change them; open cursors keep theirs.
    pub fn set_user(&self, user: SimUser) {
        let mut state = self.lock();
        state.users.retain(|u| u.name != user.name);
        state.users.push(user);
    }

    /// With `true`, the deployment is a standalone `mongod` rather than a replica-set primary, as
    /// a customer's development server often is: the wire front's `hello` names no replica set
    /// and it refuses `txnNumber` (transactions, retryable writes) with 20 `IllegalOperation`,
    /// and the port's [`topology`](edgebridge_mongo::port::MongoPort::topology) says
    /// `Standalone`. The wire front refuses change streams as MongoDB does there (40573).
    pub fn set_standalone(&self, standalone: bool) {
        self.standalone.store(standalone, Ordering::SeqCst);
    }

    /// Whether the deployment answers as a standalone server.
    pub(crate) fn standalone(&self) -> bool {
        self.standalone.load(Ordering::SeqCst)
    }

    /// With `true`, the deployment answers as the `mongos` router of a sharded cluster: the wire
    /// front's `hello` says `msg: "isdbgrid"` and names no replica set, and the port's
    /// [`topology`](edgebridge_mongo::port::MongoPort::topology) says `Sharded`. Everything else
    /// is served as before (one shard, the simulator itself).
    pub fn set_mongos(&self, mongos: bool) {
        self.mongos.store(mongos, Ordering::SeqCst);
    }

    /// Whether the deployment answers as a `mongos`.
    pub(crate) fn mongos(&self) -> bool {
        self.mongos.load(Ordering::SeqCst)
    }

    /// When false, every connection fails to select a server (cluster down or firewalled).
    pub fn set_reachable(&self, reachable: bool) {
        self.lock().reachable = reachable;
    }

    /// The primary steps down now and no member is primary for `no_primary_for` (wall-clock
    /// time: the wire front runs in real time); then an election makes it primary again. Over
    /// the wire: during the election `hello` answers as a secondary with no primary known,
    /// writes and commits fail with `NotWritablePrimary`, reads that must go to the primary
    /// with `NotPrimaryNoSecondaryOk`, open change streams with `InterruptedDueToReplStateChange`,
    /// and open transactions are aborted; the new primary has a new `electionId`, and both
    /// changes bump `topologyVersion`. Calling it again during an election extends it.
    pub fn hold_election(&self, no_primary_for: Duration) {
        let mut until = Instant::now() + no_primary_for;
        let mut state = self.lock();
        if let Some(current) = state.faults.no_primary_until {
            until = until.max(current);
        }
        state.faults.no_primary_until = Some(until);
        state.faults.elections.send_replace(Some(until));
    }

    /// With `Some(n)`, a transaction that changes more than `n` documents fails at its commit
    /// with 388 `TransactionTooLargeForCache` and nothing of it is applied, as a server whose
    /// storage engine cache cannot hold the transaction answers (both ports).
    pub fn set_transaction_limit(&self, documents: Option<usize>) {
        self.lock().faults.transaction_limit = documents;
    }

    /// With `true`, the secondary of a primary-secondary-arbiter set is down, so no majority
    /// can acknowledge a write: over the wire, a write or `commitTransaction` with write concern
    /// `w: "majority"` (or `w` of 2 or more) is applied on the primary, but its answer waits,
    /// up to `wtimeout` (then `writeConcernError` 64 `WriteConcernTimeout`) or, without one,
    /// until this is set back to `false`. Other commands answer as usual.
    pub fn set_majority_unavailable(&self, unavailable: bool) {
        let mut state = self.lock();
        state.faults.majority_unavailable = unavailable;
        if !unavailable {
            state.faults.majority_restored.notify_waiters();
        }
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
            .insert(name.to_owned(), Collection::new(options));
    }

    pub fn set_pre_and_post_images(&self, db: &str, name: &str, enabled: bool) {
        if let Ok(c) = self.lock().collection(db, name) {
            c.options.pre_and_post_images = enabled;
        }
    }

    /// The DBA's `collMod` with `validator`: replaces the collection's validator (`None`, or an
    /// empty document, removes it). Documents already stored are not checked again.
    pub fn set_validator(&self, db: &str, name: &str, validator: Option<Document>) {
        if let Ok(c) = self.lock().collection(db, name) {
            c.options.validator = validator.filter(|v| !v.is_empty());
        }
    }

    pub fn create_unique_index(&self, db: &str, name: &str, field: &str) {
        if let Ok(c) = self.lock().collection(db, name) {
            c.unique.push(UniqueIndex::on(vec![field.to_owned()]));
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

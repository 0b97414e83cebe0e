//! The deployment's state: collections, the oplog, the clock and tokens, users and faults.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

use bson::{Bson, Document, Timestamp, doc};
use edgebridge_mongo::PortError;
use edgebridge_mongo::port::{OperationType, PortResult, ResumeToken, SessionId};
use tokio::sync::Notify;

use crate::faults::Faults;
use crate::order::Key;
use crate::users::SimUser;

/// How many lines of the operation log are kept.
pub(crate) const LOG_LIMIT: usize = 100_000;

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

#[derive(Debug, Clone)]
pub(crate) struct Collection {
    pub(crate) options: CollectionOptions,
    pub(crate) docs: BTreeMap<Key, Document>,
    /// Unique indexes besides `_id`, enforced on every write.
    pub(crate) unique: Vec<UniqueIndex>,
    /// Other indexes created over the wire (`createIndexes`), as specified: listed, not used.
    pub(crate) indexes: Vec<Document>,
}

/// A unique index besides `_id`: MongoDB refuses a second document with the same values of its
/// fields. The simulator leaves out documents that lack one of the fields (MongoDB indexes a
/// missing field as null, so two such documents would collide there).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UniqueIndex {
    pub(crate) name: String,
    pub(crate) fields: Vec<String>,
}

impl UniqueIndex {
    /// Named as MongoDB names an ascending index by default: `tenant_1_sku_1`.
    pub(crate) fn on(fields: Vec<String>) -> Self {
        let name = fields
            .iter()
            .map(|f| format!("{f}_1"))
            .collect::<Vec<_>>()
            .join("_");
        UniqueIndex { name, fields }
    }

    /// The document's values of the index's fields; `None` when one is missing.
    fn values<'a>(&self, doc: &'a Document) -> Option<Vec<&'a Bson>> {
        self.fields.iter().map(|f| doc.get(f)).collect()
    }

    /// `E11000 ...`: the message MongoDB gives for a duplicate under this index.
    fn duplicate(&self, ns: Option<&str>, values: &[&Bson]) -> String {
        match (ns, self.fields.as_slice(), values) {
            (None, [field], [value]) => format!("E11000 duplicate key error: {field} {value}"),
            _ => {
                let pairs: Vec<String> = self
                    .fields
                    .iter()
                    .zip(values)
                    .map(|(f, v)| format!("{f}: {v}"))
                    .collect();
                let collection = ns
                    .map(|ns| format!(" collection: {ns}"))
                    .unwrap_or_default();
                format!(
                    "E11000 duplicate key error{collection} index: {} dup key: {{ {} }}",
                    self.name,
                    pairs.join(", ")
                )
            }
        }
    }
}

fn same(a: &[&Bson], b: &[&Bson]) -> bool {
    a.iter()
        .zip(b)
        .all(|(x, y)| crate::order::compare(x, y).is_eq())
}

impl Collection {
    pub(crate) fn new(options: CollectionOptions) -> Self {
        Collection {
            options,
            docs: BTreeMap::new(),
            unique: Vec::new(),
            indexes: Vec::new(),
        }
    }

    /// The message of the first unique index `doc` (the document with `_id` `id`) would break,
    /// if any.
    pub(crate) fn unique_conflict(&self, doc: &Document, id: &Key) -> Option<String> {
        self.unique.iter().find_map(|index| {
            let values = index.values(doc)?;
            let taken = self.docs.iter().any(|(k, other)| {
                k != id && index.values(other).is_some_and(|v| same(&v, &values))
            });
            taken.then(|| index.duplicate(None, &values))
        })
    }

    /// Adds `index` unless one on the same fields exists (`Ok(false)`). Refused, with the
    /// message MongoDB gives, while documents already share its values.
    pub(crate) fn add_unique(&mut self, ns: &str, index: UniqueIndex) -> Result<bool, String> {
        if self.unique.iter().any(|u| u.fields == index.fields) {
            return Ok(false);
        }
        let mut seen: Vec<Vec<&Bson>> = Vec::new();
        for doc in self.docs.values() {
            let Some(values) = index.values(doc) else {
                continue;
            };
            if seen.iter().any(|s| same(s, &values)) {
                return Err(index.duplicate(Some(ns), &values));
            }
            seen.push(values);
        }
        self.unique.push(index);
        Ok(true)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) seq: u64,
    pub(crate) time: Timestamp,
    pub(crate) db: String,
    pub(crate) collection: String,
    pub(crate) operation: OperationType,
    pub(crate) key: Option<Document>,
    pub(crate) post: Option<Document>,
    pub(crate) pre: Option<Document>,
    /// Whether the collection recorded images when the change happened.
    pub(crate) images: bool,
    pub(crate) lsid: Option<SessionId>,
    pub(crate) txn_number: Option<i64>,
}

pub(crate) struct State {
    pub(crate) seed: u64,
    pub(crate) rng: u64,
    pub(crate) databases: BTreeMap<String, BTreeMap<String, Collection>>,
    pub(crate) oplog: VecDeque<Entry>,
    pub(crate) next_seq: u64,
    pub(crate) oplog_capacity: usize,
    /// The newest sequence number that rolled off the oplog (0: none yet).
    pub(crate) truncated_through: u64,
    /// ObjectIds generated so far.
    pub(crate) oids: u64,
    pub(crate) clock: Timestamp,
    pub(crate) users: Vec<SimUser>,
    pub(crate) hosts: HashMap<String, Vec<IpAddr>>,
    /// Members the cluster advertises besides the seeds (`host:port`), as a replica set's
    /// `hello` would.
    pub(crate) members: Vec<String>,
    pub(crate) reachable: bool,
    pub(crate) faults: Faults,
    /// Change streams wait without answering (see `hang_streams`).
    pub(crate) streams_hung: bool,
    pub(crate) sessions_started: u64,
    /// Changes made by session transactions, per namespace (never trimmed).
    pub(crate) session_writes: BTreeMap<(String, String), u64>,
    /// Whether changes and deliveries go to `log` too ([`Simulator::keep_history`]).
    pub(crate) history: bool,
    /// Every operation the port served, in order (what a test can assert on).
    pub(crate) log: Vec<String>,
    /// Woken at every oplog append: change streams waiting over the wire.
    pub(crate) appended: Arc<Notify>,
}

impl State {
    pub(crate) fn random(&mut self) -> u64 {
        // splitmix64: small, fast and deterministic.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next cluster time: the wall clock's second (as a server's, so a change's age can be
    /// measured), with an increment that orders the changes within it; a second whose
    /// increments ran out borrows the next one.
    pub(crate) fn tick(&mut self) -> Timestamp {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        if now > self.clock.time {
            self.clock.time = now;
            self.clock.increment = 0;
        }
        self.clock.increment += 1;
        if self.clock.increment > 100_000 {
            self.clock.time += 1;
            self.clock.increment = 1;
        }
        self.clock
    }

    pub(crate) fn token(&self, seq: u64) -> ResumeToken {
        // Opaque to the engine; a checksum under the seed rejects forged or foreign tokens.
        let check = (seq ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        ResumeToken(doc! {"_data": format!("82{seq:016X}{check:06X}")})
    }

    pub(crate) fn seq_of(&self, token: &ResumeToken) -> PortResult<u64> {
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
    pub(crate) fn new_oid_seq(&mut self) -> u64 {
        self.oids += 1;
        self.oids
    }

    pub(crate) fn first_seq(&self) -> u64 {
        self.oplog.front().map_or(self.next_seq, |e| e.seq)
    }

    /// Adds a line to the operation log. The log keeps the newest [`LOG_LIMIT`] lines, so a
    /// long-running simulator (the `--dev` sandbox) does not grow without bound.
    pub(crate) fn note(&mut self, line: String) {
        if self.log.len() >= LOG_LIMIT {
            self.log.drain(..LOG_LIMIT / 10);
        }
        self.log.push(line);
    }

    pub(crate) fn append(&mut self, mut entry: Entry) {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        self.oplog.push_back(entry);
        self.trim();
        self.appended.notify_waiters();
    }

    /// Drops the oldest entries beyond the oplog's capacity.
    pub(crate) fn trim(&mut self) {
        while self.oplog.len() > self.oplog_capacity {
            if let Some(gone) = self.oplog.pop_front() {
                self.truncated_through = gone.seq;
            }
        }
    }

    pub(crate) fn collection(&mut self, db: &str, name: &str) -> PortResult<&mut Collection> {
        self.databases
            .get_mut(db)
            .and_then(|d| d.get_mut(name))
            .ok_or_else(|| PortError::server(26, format!("ns not found: {db}.{name}")))
    }
}

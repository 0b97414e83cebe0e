//! The MongoDB port: everything the sync engine and the preflight checks ask of MongoDB, as one
//! small set of traits. Two implementations: [`crate::driver`] (the official driver, shipped) and
//! the simulator in the `edgebridge-mongo-sim` test-support crate.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bson::{Bson, Document, Timestamp};
use edgebridge_domain::connection_string::MongoUri;

pub use crate::error::{ErrorClass, ErrorKind, PortError};
use crate::policy::TargetPolicy;

pub type PortResult<T> = Result<T, PortError>;

/// Opens connections. The api holds one (the driver in production, the simulator in tests).
#[async_trait]
pub trait MongoConnector: Send + Sync {
    /// The addresses a connection to `uri` would reach (SRV and host names resolved), checked
    /// against the outbound target policy before anything connects.
    async fn resolve(&self, uri: &MongoUri) -> PortResult<Vec<IpAddr>>;

    /// A client for `uri`. Connecting is lazy in the driver: the first call (usually
    /// [`MongoPort::ping`]) finds out whether the cluster is reachable.
    async fn connect(
        &self,
        uri: &MongoUri,
        options: &ConnectOptions,
    ) -> PortResult<Arc<dyn MongoPort>>;
}

/// Bounds on how long a connection attempt may take.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub connect_timeout: Duration,
    pub server_selection_timeout: Duration,
    /// Shown to the MongoDB operator in `currentOp` and logs.
    pub app_name: String,
    /// Which connection-string options a connection may use (see
    /// [`TargetPolicy::check_options`]); enforced by every connector.
    pub policy: TargetPolicy,
    /// How long a transaction's commit waits for a majority to acknowledge it (`wtimeout`);
    /// past it the outcome is unknown and the commit is sent again.
    pub commit_wtimeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            server_selection_timeout: Duration::from_secs(5),
            app_name: "edgebridge".to_owned(),
            policy: TargetPolicy::PublicOnly,
            commit_wtimeout: Duration::from_secs(10),
        }
    }
}

/// One connected MongoDB deployment.
#[async_trait]
pub trait MongoPort: Send + Sync {
    /// A round trip to the primary (`ping`): proves the cluster is reachable and the credentials
    /// are accepted.
    async fn ping(&self) -> PortResult<()>;

    /// `listDatabases` (names only).
    async fn list_database_names(&self) -> PortResult<Vec<String>>;

    /// `listCollections` with each collection's options.
    async fn list_collections(&self, db: &str) -> PortResult<Vec<CollectionInfo>>;

    /// The authenticated user's privileges (`connectionStatus` with `showPrivileges`).
    async fn privileges(&self) -> PortResult<Vec<Privilege>>;

    /// What kind of deployment answers (`hello`): change streams and transactions need a
    /// replica set or a sharded cluster.
    async fn topology(&self) -> PortResult<Topology>;

    /// Creates a collection; `Ok(false)` when it already exists.
    async fn create_collection(&self, db: &str, name: &str) -> PortResult<bool>;

    /// `collMod` with `changeStreamPreAndPostImages: {enabled: true}`.
    async fn enable_pre_and_post_images(&self, db: &str, collection: &str) -> PortResult<()>;

    /// `listIndexes`: the collection's indexes, the `_id` index included.
    async fn list_indexes(&self, db: &str, collection: &str) -> PortResult<Vec<IndexInfo>>;

    /// `createIndexes` with one ascending index on `keys` (in that order), named as MongoDB
    /// names it by default (`a_1_b_1`); `unique` makes MongoDB refuse a second document with
    /// the same values, and refuse the index while such documents exist (11000).
    async fn create_index(
        &self,
        db: &str,
        collection: &str,
        keys: &[String],
        unique: bool,
    ) -> PortResult<()>;

    /// Up to `batch_size` documents in `_id` order (MongoDB's comparison order across types),
    /// strictly after `after` when given.
    async fn scan(
        &self,
        db: &str,
        collection: &str,
        after: Option<&Bson>,
        batch_size: u32,
    ) -> PortResult<Vec<Document>>;

    /// The collection's document count from metadata (fast, approximate): progress estimates.
    async fn estimated_count(&self, db: &str, collection: &str) -> PortResult<u64>;

    /// The cluster time of the oldest entry of the oplog (`local.oplog.rs` in natural order):
    /// the start of the window a resume token must stay in. `Ok(None)` when the oplog is
    /// empty; error 13 (`Unauthorized`) when the user may not read it (Atlas users need a
    /// role with `find` on `local`).
    async fn oplog_start(&self) -> PortResult<Option<Timestamp>>;

    /// A change stream on one collection with post-images (`fullDocument: required`) and
    /// pre-images (`fullDocumentBeforeChange: required`).
    async fn watch(
        &self,
        db: &str,
        collection: &str,
        start: StreamStart,
    ) -> PortResult<Box<dyn ChangeStream>>;

    /// A session for write-back transactions. Its id shows up as `lsid` on the change events
    /// those transactions cause.
    async fn start_session(&self) -> PortResult<Box<dyn WriteSession>>;

    /// Every server (`host:port`) this client has talked to so far: the seeds, and the members
    /// the cluster itself advertises, which the outbound policy must check too.
    fn servers(&self) -> Vec<String>;
}

/// The kind of deployment a client reached, as `hello` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// A replica set member (`hello` names the set: `setName`).
    ReplicaSet { name: String },
    /// A `mongos` router of a sharded cluster (`hello` says `msg: "isdbgrid"`).
    Sharded,
    /// A standalone `mongod` (no set name; also a member started with `--replSet` whose set was
    /// never initiated): no change streams, no transactions.
    Standalone,
}

impl Topology {
    /// The topology a `hello` (or legacy `isMaster`) reply describes.
    pub fn from_hello(reply: &Document) -> Self {
        if reply.get_str("msg").is_ok_and(|msg| msg == "isdbgrid") {
            return Topology::Sharded;
        }
        match reply.get_str("setName") {
            Ok(name) => Topology::ReplicaSet {
                name: name.to_owned(),
            },
            Err(_) => Topology::Standalone,
        }
    }
}

/// Where a change stream starts.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamStart {
    /// At the current end of the oplog.
    Now,
    /// After the event (or idle point) this token stands for (`startAfter`).
    After(ResumeToken),
    /// At this cluster time, inclusive (`startAtOperationTime`).
    AtOperationTime(Timestamp),
}

#[async_trait]
pub trait ChangeStream: Send {
    /// The next event. `Ok(None)` means the server answered an empty batch: nothing happened on
    /// the collection for a while, and [`ChangeStream::resume_token`] has advanced to the
    /// batch's `postBatchResumeToken`, so a checkpoint taken now skips the idle stretch.
    async fn next(&mut self) -> PortResult<Option<ChangeEvent>>;

    /// The token to resume after everything returned so far (including idle advances).
    fn resume_token(&self) -> Option<ResumeToken>;

    /// Whether an empty answer already waited for news on the server (an awaitable `getMore`):
    /// the caller then asks again at once instead of pausing.
    fn awaits(&self) -> bool {
        false
    }
}

/// A session for transactional writes.
#[async_trait]
pub trait WriteSession: Send {
    /// The logical session id the server puts on change events as `lsid.id`.
    fn id(&self) -> &SessionId;

    /// Runs `ops` in one transaction and commits it. On failure nothing is written, and
    /// [`TxnError::op_index`] names the operation that failed when it was one operation's fault
    /// (a per-document error such as schema validation or a duplicate key).
    async fn commit(&mut self, db: &str, ops: &[WriteOp]) -> Result<CommitOutcome, TxnError>;
}

/// One write inside a write-back transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Replace the document matching `filter`, inserting it when none does.
    Upsert {
        collection: String,
        filter: Document,
        replacement: Document,
    },
    /// Apply `update` to the document matching `filter`; with `upsert`, insert one built from
    /// the filter's equality fields when none matches. A pipeline is what a writer uses to keep
    /// fields the edge never held ([`crate::mapping::MongoDocument::merge_update`]).
    Update {
        collection: String,
        filter: Document,
        update: UpdateModification,
        upsert: bool,
    },
    /// Delete the one document matching `filter` (none matching is not an error).
    Delete {
        collection: String,
        filter: Document,
    },
    /// Insert a new document (the unsynced-documents and sessions metadata collections).
    Insert {
        collection: String,
        document: Document,
    },
}

/// What an update statement's `u` holds: MongoDB takes either form in the same statement.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateModification {
    /// Update operators (`{$set: {...}, $unset: {...}}`, dotted paths): fields changed in place.
    Operators(Document),
    /// An update pipeline (MongoDB 4.2+): stages that compute the new document from the current
    /// one (`$$ROOT`), which then replaces it as a replacement would (its `_id` kept). On an
    /// upsert with no match the current document is the filter's equality fields.
    Pipeline(Vec<Document>),
}

impl From<Document> for UpdateModification {
    fn from(operators: Document) -> Self {
        UpdateModification::Operators(operators)
    }
}

impl From<Vec<Document>> for UpdateModification {
    fn from(pipeline: Vec<Document>) -> Self {
        UpdateModification::Pipeline(pipeline)
    }
}

impl WriteOp {
    pub fn collection(&self) -> &str {
        match self {
            WriteOp::Upsert { collection, .. }
            | WriteOp::Update { collection, .. }
            | WriteOp::Delete { collection, .. }
            | WriteOp::Insert { collection, .. } => collection,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    /// The transaction number the server assigned (`txnNumber` on its change events).
    pub txn_number: i64,
    pub matched: u64,
    pub upserted: u64,
    pub deleted: u64,
    pub inserted: u64,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct TxnError {
    pub op_index: Option<usize>,
    pub error: PortError,
}

impl From<PortError> for TxnError {
    fn from(error: PortError) -> Self {
        TxnError {
            op_index: None,
            error,
        }
    }
}

/// A change stream's resume token: opaque, stored as a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeToken(pub Document);

impl ResumeToken {
    /// The token as canonical Extended JSON (how checkpoints are stored).
    pub fn to_json(&self) -> serde_json::Value {
        Bson::Document(self.0.clone()).into_canonical_extjson()
    }

    pub fn from_json(value: serde_json::Value) -> Option<Self> {
        match Bson::try_from(value).ok()? {
            Bson::Document(doc) => Some(ResumeToken(doc)),
            _ => None,
        }
    }
}

/// A logical session id: the UUID in `lsid.id`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub Vec<u8>);

impl SessionId {
    /// The id from an `lsid` document (`{id: UUID, uid: ...}`) as found on change events.
    pub fn from_lsid(lsid: &Document) -> Option<Self> {
        match lsid.get("id")? {
            Bson::Binary(binary) => Some(SessionId(binary.bytes.clone())),
            _ => None,
        }
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationType {
    Insert,
    Update,
    Replace,
    Delete,
    Drop,
    Rename,
    DropDatabase,
    Invalidate,
    Other(String),
}

/// One change event, with what the engine needs of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub token: ResumeToken,
    pub cluster_time: Timestamp,
    pub operation: OperationType,
    pub collection: String,
    /// `{_id: ...}` (plus the shard key on sharded collections).
    pub document_key: Option<Document>,
    /// The post-image (inserts, replaces, updates).
    pub full_document: Option<Document>,
    /// The pre-image (updates, replaces, deletes).
    pub full_document_before_change: Option<Document>,
    /// The session of the transaction that made the change, if any.
    pub lsid: Option<SessionId>,
    pub txn_number: Option<i64>,
}

/// What `listCollections` says of a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionInfo {
    pub name: String,
    pub kind: CollectionKind,
    pub capped: bool,
    pub pre_and_post_images: bool,
    pub validator: Option<Document>,
}

/// What `listIndexes` says of one index: enough to tell whether it keeps a mapping's ID fields
/// unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexInfo {
    pub name: String,
    /// The key's fields, in the index's order (directions and index types left out).
    pub keys: Vec<String>,
    /// MongoDB refuses two documents with the same key (always true of the `_id` index, which
    /// `listIndexes` does not mark `unique`).
    pub unique: bool,
    /// A partial index (`partialFilterExpression`): unique only among the documents it covers.
    pub partial: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionKind {
    Collection,
    View,
    Timeseries,
}

/// One privilege of the authenticated user: actions on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privilege {
    pub resource: Resource,
    pub actions: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Cluster,
    /// `db` / `collection` empty means "any".
    Namespace {
        db: String,
        collection: String,
    },
    AnyResource,
}

impl Resource {
    pub fn covers(&self, db: &str, collection: Option<&str>) -> bool {
        match self {
            Resource::AnyResource => true,
            Resource::Cluster => false,
            Resource::Namespace {
                db: d,
                collection: c,
            } => {
                (d.is_empty() || d == db)
                    && match collection {
                        Some(name) => c.is_empty() || c == name,
                        None => c.is_empty(),
                    }
            }
        }
    }
}

/// Whether `privileges` grant `action` on `db`.`collection` (or the whole database when
/// `collection` is `None`).
/// (`anyAction`, which `root` holds, grants every action.)
pub fn allows(privileges: &[Privilege], action: &str, db: &str, collection: Option<&str>) -> bool {
    privileges.iter().any(|p| {
        (p.actions.contains(action) || p.actions.contains("anyAction"))
            && p.resource.covers(db, collection)
    })
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::Topology;

    #[test]
    fn hello_tells_the_topology() {
        let member = doc! {"isWritablePrimary": true, "setName": "rs0", "hosts": ["a:27017"]};
        assert_eq!(
            Topology::from_hello(&member),
            Topology::ReplicaSet {
                name: "rs0".to_owned()
            }
        );
        let router = doc! {"isWritablePrimary": true, "msg": "isdbgrid"};
        assert_eq!(Topology::from_hello(&router), Topology::Sharded);
        let standalone = doc! {"isWritablePrimary": true, "logicalSessionTimeoutMinutes": 30};
        assert_eq!(Topology::from_hello(&standalone), Topology::Standalone);
        // Started with --replSet, never initiated.
        let uninitiated = doc! {"isWritablePrimary": false, "isreplicaset": true};
        assert_eq!(Topology::from_hello(&uninitiated), Topology::Standalone);
    }
}

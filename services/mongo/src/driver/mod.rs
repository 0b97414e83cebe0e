//! The MongoDB port on the official `mongodb` driver: what ships.
//!
//! Everything here is a thin translation between the driver's API and [`crate::port`]: requests
//! go out as the driver's builders, answers come back as the port's types, and every driver error
//! goes through [`classify`] so the engine can decide between retrying, stopping and setting one
//! document aside.
//!
//! Connection strings carry passwords: nothing in this module puts the string (or any part of it
//! beyond host names) into an error message or a log line.
//!
//! This file holds [`DriverPort`] and its [`MongoPort`] implementation; the submodules hold client
//! building and the target policy guard (`connect`), reply parsing (`catalog`), scan batches
//! (`scan`), change streams and resume tokens (`stream`), write sessions (`write`) and error
//! classification (`errors`).

mod catalog;
mod connect;
mod deadline;
mod errors;
mod scan;
mod stream;
#[cfg(test)]
mod tests;
mod write;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use bson::{Bson, Document, doc};
use futures_util::TryStreamExt;
use mongodb::IndexModel;
use mongodb::error::{Error as DriverError, ErrorKind as DriverErrorKind};
use mongodb::options::{FullDocumentBeforeChangeType, FullDocumentType, IndexOptions};
use mongodb::{Client, Collection};

use crate::error::{ErrorKind, PortError};
use crate::policy::TargetPolicy;
use crate::port::{
    ChangeStream, CollectionInfo, ConnectOptions, IndexInfo, MongoPort, PortResult, Privilege,
    SessionId, StreamStart, Topology, WriteSession,
};
use crate::reach::Reachability;
use catalog::{parse_collection_info, parse_index_info, parse_privileges};
use connect::Guard;
use deadline::deadline;
use scan::{scan_options, trim_scan_batch};
use std::time::Duration;
use stream::{DriverStream, to_driver_token};
use write::{DriverSession, TxnNumbers};

pub use connect::DriverConnector;
pub use errors::classify;

/// How long a change stream's `getMore` waits for news before answering empty (the driver's
/// default is the server's, a second: a stream's idle position and its cancellation would lag).
const STREAM_AWAIT: Duration = Duration::from_millis(500);

/// The longest any one operation may take before it is reported stuck (a server that accepted
/// the connection and never answers: no socket timeout would end the wait).
const OPERATION_DEADLINE: Duration = Duration::from_secs(60);

/// A ping that takes longer than this counts as failed (the supervisor's health check).
const PING_DEADLINE: Duration = Duration::from_secs(10);

/// Location40324: "Unrecognized pipeline stage name".
const UNRECOGNIZED_STAGE: i32 = 40324;

/// NamespaceExists: `create` on a collection that is already there (before MongoDB 7.0, or
/// with other options).
const NAMESPACE_EXISTS: i32 = 48;

/// One connected deployment: a driver [`Client`] (cheap to clone, shares its pools).
#[derive(Debug, Clone)]
pub struct DriverPort {
    client: Client,
    txn_numbers: Arc<TxnNumbers>,
    guard: Arc<Guard>,
    /// Whether change streams ask for events over 16 MiB in fragments (MongoDB 7.0+, and 6.0.9+;
    /// turned off for good by a server that does not know the stage).
    split_events: Arc<AtomicBool>,
    /// The `wtimeout` of a transaction's majority commit.
    commit_wtimeout: Duration,
}

impl DriverPort {
    pub fn new(client: Client) -> Self {
        let guard = Guard {
            policy: TargetPolicy::AllowPrivate,
            seeds: Vec::new(),
            discovered: Mutex::new(Vec::new()),
            refused: Mutex::new(None),
            reach: Reachability::default(),
        };
        Self::with_guard(client, Arc::new(guard))
    }

    fn with_guard(client: Client, guard: Arc<Guard>) -> Self {
        DriverPort {
            client,
            txn_numbers: Arc::default(),
            guard,
            split_events: Arc::new(AtomicBool::new(true)),
            commit_wtimeout: ConnectOptions::default().commit_wtimeout,
        }
    }

    fn collection(&self, db: &str, collection: &str) -> Collection<Document> {
        self.client.database(db).collection(collection)
    }
}

#[async_trait]
impl MongoPort for DriverPort {
    fn servers(&self) -> Vec<String> {
        self.guard
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn ping(&self) -> PortResult<()> {
        self.guard.check()?;
        let admin = self.client.database("admin");
        deadline(
            PING_DEADLINE,
            "a ping",
            admin.run_command(doc! { "ping": 1 }),
        )
        .await?
        .map_err(|e| self.guard.classify(e))?;
        Ok(())
    }

    async fn list_database_names(&self) -> PortResult<Vec<String>> {
        self.guard.check()?;
        // `authorizedDatabases` lets a user without the cluster-wide `listDatabases` action
        // (a plain readWrite user) see the databases it has privileges on.
        self.client
            .list_database_names()
            .authorized_databases(true)
            .await
            .map_err(|e| self.guard.classify(e))
    }

    async fn list_collections(&self, db: &str) -> PortResult<Vec<CollectionInfo>> {
        self.guard.check()?;
        // Read as plain documents rather than the driver's `CollectionSpecification`: that struct
        // fails to deserialize on options it does not model, and we need only four fields.
        let docs: Vec<Document> = self
            .client
            .database(db)
            .list_collections()
            .await
            .map_err(|e| self.guard.classify(e))?
            .with_type::<Document>()
            .try_collect()
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(docs.iter().filter_map(parse_collection_info).collect())
    }

    async fn privileges(&self) -> PortResult<Vec<Privilege>> {
        self.guard.check()?;
        let reply = self
            .client
            .database("admin")
            .run_command(doc! { "connectionStatus": 1, "showPrivileges": true })
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(parse_privileges(&reply))
    }

    async fn topology(&self) -> PortResult<Topology> {
        self.guard.check()?;
        let reply = self
            .client
            .database("admin")
            .run_command(doc! { "hello": 1 })
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(Topology::from_hello(&reply))
    }

    /// Since MongoDB 7.0 `create` answers ok for a collection that already exists with the same
    /// options, so its answer does not tell whether this call created it: the collection is
    /// looked up first.
    async fn create_collection(&self, db: &str, name: &str) -> PortResult<bool> {
        self.guard.check()?;
        let database = self.client.database(db);
        let existing = database
            .list_collection_names()
            .filter(doc! { "name": name })
            .await
            .map_err(|e| self.guard.classify(e))?;
        if !existing.is_empty() {
            return Ok(false);
        }
        match database.create_collection(name).await {
            Ok(()) => Ok(true),
            // Created by someone else since the lookup (or there with other options).
            Err(err) if command_code(&err) == Some(NAMESPACE_EXISTS) => Ok(false),
            Err(err) => Err(self.guard.classify(err)),
        }
    }

    async fn enable_pre_and_post_images(&self, db: &str, collection: &str) -> PortResult<()> {
        self.guard.check()?;
        self.client
            .database(db)
            .run_command(doc! {
                "collMod": collection,
                "changeStreamPreAndPostImages": { "enabled": true },
            })
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(())
    }

    async fn list_indexes(&self, db: &str, collection: &str) -> PortResult<Vec<IndexInfo>> {
        self.guard.check()?;
        // Plain documents, as for collections: the driver's `IndexModel` would fail on an
        // index option it does not model, and only the key and two options matter here.
        let docs: Vec<Document> = self
            .collection(db, collection)
            .list_indexes()
            .await
            .map_err(|e| self.guard.classify(e))?
            .with_type::<Document>()
            .try_collect()
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(docs.iter().filter_map(parse_index_info).collect())
    }

    async fn create_index(
        &self,
        db: &str,
        collection: &str,
        keys: &[String],
        unique: bool,
    ) -> PortResult<()> {
        self.guard.check()?;
        let mut key = Document::new();
        for field in keys {
            key.insert(field.clone(), 1);
        }
        let index = IndexModel::builder()
            .keys(key)
            .options(IndexOptions::builder().unique(unique).build())
            .build();
        self.collection(db, collection)
            .create_index(index)
            .await
            .map_err(|e| self.guard.classify(e))?;
        Ok(())
    }

    /// `{_id: {$gt: after}}` would only match `_id`s of `after`'s BSON type (type bracketing),
    /// so the scan walks the `_id` index instead: `min` is an inclusive index bound in MongoDB's
    /// cross-type order, and the one document equal to `after` is dropped afterwards.
    async fn scan(
        &self,
        db: &str,
        collection: &str,
        after: Option<&Bson>,
        batch_size: u32,
    ) -> PortResult<Vec<Document>> {
        self.guard.check()?;
        if batch_size == 0 {
            // `limit: 0` means "no limit" to the server.
            return Ok(Vec::new());
        }
        let fetch = match after {
            Some(_) => batch_size.saturating_add(1),
            None => batch_size,
        };
        let read = async {
            self.collection(db, collection)
                .find(Document::new())
                .with_options(scan_options(after, fetch))
                .await?
                .try_collect::<Vec<Document>>()
                .await
        };
        let docs = deadline(OPERATION_DEADLINE, "a scan batch", read)
            .await?
            .map_err(|e| self.guard.classify(e))?;
        Ok(trim_scan_batch(docs, after, batch_size))
    }

    async fn estimated_count(&self, db: &str, collection: &str) -> PortResult<u64> {
        self.guard.check()?;
        let coll = self.collection(db, collection);
        deadline(
            OPERATION_DEADLINE,
            "a document count",
            coll.estimated_document_count(),
        )
        .await?
        .map_err(|e| self.guard.classify(e))
    }

    async fn oplog_start(&self) -> PortResult<Option<bson::Timestamp>> {
        self.guard.check()?;
        let oplog = self.collection("local", "oplog.rs");
        let first = deadline(
            OPERATION_DEADLINE,
            "reading the oplog's start",
            oplog
                .find_one(doc! {})
                .sort(doc! {"$natural": 1})
                .projection(doc! {"ts": 1, "_id": 0}),
        )
        .await?
        .map_err(|e| self.guard.classify(e))?;
        Ok(first.and_then(|d| d.get_timestamp("ts").ok()))
    }

    async fn watch(
        &self,
        db: &str,
        collection: &str,
        start: StreamStart,
    ) -> PortResult<Box<dyn ChangeStream>> {
        self.guard.check()?;
        let coll = self.collection(db, collection);
        let open = |split: bool| {
            let stages = split.then(|| doc! {"$changeStreamSplitLargeEvent": {}});
            let watch = coll
                .watch()
                .pipeline(stages)
                .full_document(FullDocumentType::Required)
                .full_document_before_change(FullDocumentBeforeChangeType::Required)
                .max_await_time(STREAM_AWAIT);
            let watch = match &start {
                StreamStart::Now => Ok(watch),
                StreamStart::After(token) => to_driver_token(token).map(|t| watch.start_after(t)),
                StreamStart::AtOperationTime(ts) => Ok(watch.start_at_operation_time(*ts)),
            };
            let guard = &self.guard;
            async move {
                deadline(OPERATION_DEADLINE, "aggregate $changeStream", watch?)
                    .await?
                    .map_err(|e| guard.classify(e))
            }
        };
        let split = self.split_events.load(Ordering::Relaxed);
        let stream = match open(split).await {
            Ok(stream) => stream,
            // A server before 6.0.9 does not know the stage: streams go on without it (an event
            // over 16 MiB then stops the collection with `change_event_too_large`).
            Err(e) if split && e.code == Some(UNRECOGNIZED_STAGE) => {
                self.split_events.store(false, Ordering::Relaxed);
                open(false).await?
            }
            Err(e) => return Err(e),
        };
        Ok(Box::new(DriverStream::new(
            stream.with_type::<bson::RawDocumentBuf>(),
            self.guard.clone(),
            STREAM_AWAIT + OPERATION_DEADLINE,
        )))
    }

    async fn start_session(&self) -> PortResult<Box<dyn WriteSession>> {
        self.guard.check()?;
        let session = self
            .client
            .start_session()
            .await
            .map_err(|e| self.guard.classify(e))?;
        let id = SessionId::from_lsid(session.id()).ok_or_else(|| {
            PortError::new(ErrorKind::Other, "the driver's session id has no UUID")
        })?;
        let txn_number = self.txn_numbers.last(&id);
        Ok(Box::new(DriverSession {
            guard: self.guard.clone(),
            session,
            client: self.client.clone(),
            id,
            txn_number,
            txn_numbers: Arc::clone(&self.txn_numbers),
            in_transaction: false,
            commit_wtimeout: self.commit_wtimeout,
        }))
    }
}

/// The server's code of a command error (`ok: 0` reply).
fn command_code(err: &DriverError) -> Option<i32> {
    match err.kind.as_ref() {
        DriverErrorKind::Command(e) => Some(e.code),
        _ => None,
    }
}

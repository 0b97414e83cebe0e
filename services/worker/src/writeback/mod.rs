//! The connector's write-back (edge -> MongoDB, DESIGN §4): it tails the edge store's change feed
//! of the mapped collections (the connector's own writes left out by the api), maps each
//! document back to BSON with its type tree, and writes it in a MongoDB transaction on a session
//! the connector records in its sessions metadata collection. The collections' pipelines know
//! those sessions: an event a session caused is an echo, checked against the edge instead of
//! applied (`EdgeWrite::Verify`), which is what stops writes going round in circles.
//!
//! The feed gives each document's current state, so a change taken twice (after a restart, or
//! two changes of one document) writes the same thing: the position is saved after the commit,
//! at-least-once is enough. A document MongoDB refuses (schema validation, a duplicate key, too
//! large) or that cannot be mapped is recorded in the unsynced-documents metadata collection, in
//! the same transaction as the rest of its batch, counted and reported; it never blocks the
//! pipeline. Its record goes once a later write of it succeeds. Transient errors are retried
//! with backoff.

//!
//! Split: `records` (the session and unsynced-document records in MongoDB, and the edge feed the
//! write-back reads), `plan` (an edge change as a MongoDB write, and batches bounded in
//! documents and bytes), `mirror` (the api's mirror of the unsynced-document records, and the
//! discards users ask for there), `notes` (its warnings, counters, events and trace).

mod mirror;
mod notes;
mod plan;
mod records;

pub use mirror::UnsyncedRecords;
pub use records::{Recorded, load_recorded};

use crate::client::ApiClient;
use crate::pipeline::{PipelineError, PipelineSettings, SharedProgress};
use bson::{Bson, doc};
use edgebridge_domain::CollectionMapping;
use edgebridge_domain::fleet::{CollectionPhase, FeedChange};
use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo::error::ErrorKind;
use edgebridge_mongo::mapping::MappingConfig;
use edgebridge_mongo::port::{MongoPort, SessionId, TxnError, WriteOp, WriteSession};
use plan::{chunks, document_of, plan, refusal_code, write_back_failed};
use records::{Feed, session_binary, unsynced_record};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The sessions whose events are the connector's own writes (echoes).
pub type Sessions = Arc<RwLock<HashSet<SessionId>>>;

/// Largest edge document kept whole in an unsynced record (JSON bytes); a larger one is
/// recorded without it.
const MAX_RECORDED_DOCUMENT: usize = 1024 * 1024;

/// The write-back's own entry in the shared progress (for its events; `$` is in no collection
/// name).
const WRITE_BACK_PROGRESS: &str = "$writeBack";

/// How often a session's record is renewed (`usedAt`) while it writes: far inside the
/// retention, so a session in use is never taken for a stale one.
const SESSION_RENEWAL: Duration = Duration::from_secs(3600);

/// Commits tried for one batch before the connector fails (and restarts after a backoff).
const MAX_ATTEMPTS: u32 = 8;

pub struct WriteBack {
    pub client: ApiClient,
    pub connector_id: Uuid,
    pub epoch: i64,
    pub port: Arc<dyn MongoPort>,
    pub database: String,
    pub collections: BTreeMap<String, CollectionMapping>,
    pub settings: PipelineSettings,
    pub progress: SharedProgress,
    pub sessions: Sessions,
    /// Session records to delete (older than the retention).
    pub stale_sessions: Vec<Bson>,
    /// This connector's unsynced-document records (mirrored in the api: `mirror`).
    pub unsynced: UnsyncedRecords,
    /// When this run last renewed its session's record.
    pub renewed: Option<Instant>,
    /// Traces and debug mode.
    pub diag: crate::diagnostics::Diagnostics,
}

/// One document's write, planned.
#[derive(Debug, Clone)]
struct Planned {
    collection: String,
    id: Value,
    record_id: String,
    op: WriteOp,
}

/// A document that is not written, with why.
#[derive(Debug, Clone)]
struct Refused {
    collection: String,
    id: Value,
    record_id: String,
    document: Option<Map<String, Value>>,
    code: String,
    message: String,
    /// The record itself was refused with the document in it.
    without_document: bool,
}

impl WriteBack {
    fn phase(&self, collection: &str) -> Option<CollectionPhase> {
        self.progress
            .lock()
            .ok()
            .and_then(|p| p.get(collection).and_then(|c| c.phase))
    }

    fn record_id(&self, collection: &str, id: &Value) -> String {
        format!("{}:{collection}:{id}", self.connector_id)
    }

    /// Runs until fenced or failed.
    pub async fn run(mut self) -> Result<(), PipelineError> {
        self.reconcile_mirror().await?;
        let configs: BTreeMap<String, MappingConfig> = self
            .collections
            .iter()
            .map(|(name, mapping)| (name.clone(), MappingConfig::from_spec(mapping)))
            .collect();
        let mut session = self.port.start_session().await?;
        // Known before the session writes anything: its echoes must never count as changes.
        if let Ok(mut sessions) = self.sessions.write() {
            sessions.insert(session.id().clone());
        }
        let mut record = vec![WriteOp::Upsert {
            collection: SESSIONS_COLLECTION.to_owned(),
            filter: doc! {"_id": session_binary(session.id())},
            replacement: doc! {
                "_id": session_binary(session.id()),
                "connectorId": self.connector_id.to_string(),
                "epoch": self.epoch,
                "startedAt": bson::DateTime::now(),
                "usedAt": bson::DateTime::now(),
            },
        }];
        for stale in std::mem::take(&mut self.stale_sessions) {
            record.push(WriteOp::Delete {
                collection: SESSIONS_COLLECTION.to_owned(),
                filter: doc! {"_id": stale},
            });
        }
        self.commit_metadata(session.as_mut(), &record).await?;
        self.renewed = Some(Instant::now());

        // Not before every collection streams: an initial sync makes MongoDB's copy of each
        // document win over what the edge held before the connector (an edge document MongoDB
        // does not have goes to MongoDB afterwards, as it reads then).
        while !self.collections.keys().all(|c| {
            matches!(
                self.phase(c),
                Some(CollectionPhase::Streaming | CollectionPhase::Failed)
            )
        }) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut cursor = self
            .client
            .write_back_position(self.connector_id, self.epoch)
            .await?
            .cursor;
        let mut saved = cursor.clone();
        let mut last_save = Instant::now();
        let feed = self.feed();
        let mut page = feed.fetch(cursor.as_deref()).await?;
        loop {
            if page.next_cursor.is_some() {
                cursor = page.next_cursor.take();
            }
            let changes = std::mem::take(&mut page.changes);
            let wrote = !changes.is_empty();
            // After a commit at once; past changes it had nothing to do for, now and then
            // (taking them again costs nothing).
            let save =
                cursor != saved && (wrote || last_save.elapsed() >= self.settings.idle_checkpoint);
            // The next page is read while this one is written to MongoDB and its position
            // saved: the api's round trips overlap MongoDB's.
            let (next, written) = tokio::join!(feed.fetch(cursor.as_deref()), async {
                if wrote {
                    self.write(session.as_mut(), &configs, changes).await?;
                }
                if save {
                    feed.save(cursor.clone()).await?;
                }
                self.carry_out_discards(session.as_mut()).await?;
                Ok::<(), PipelineError>(())
            });
            written?;
            if save {
                saved = cursor.clone();
                last_save = Instant::now();
            }
            page = next?;
        }
    }

    fn feed(&self) -> Feed {
        Feed {
            client: self.client.clone(),
            connector_id: self.connector_id,
            epoch: self.epoch,
            limit: self.settings.write_back_batch,
            wait_secs: self.settings.feed_wait_secs,
        }
    }

    /// Writes the documents of a page: the last change of each decides (each carries the
    /// document's current state anyway), in batches of one transaction each.
    async fn write(
        &mut self,
        session: &mut dyn WriteSession,
        configs: &BTreeMap<String, MappingConfig>,
        changes: Vec<FeedChange>,
    ) -> Result<(), PipelineError> {
        let mut order: Vec<(String, String)> = Vec::new();
        let mut latest: BTreeMap<(String, String), FeedChange> = BTreeMap::new();
        for change in changes {
            let key = (change.collection.clone(), change.id.to_string());
            if latest.insert(key.clone(), change).is_none() {
                order.push(key);
            }
        }
        let mut planned = Vec::new();
        let mut refused = Vec::new();
        for key in order {
            let change = latest.remove(&key).expect("every key was inserted");
            let Some(config) = configs.get(&change.collection) else {
                continue;
            };
            // A collection that stopped syncing (dropped, its history lost) is not written:
            // that would recreate what the user dropped, unchecked.
            if self.phase(&change.collection) == Some(CollectionPhase::Failed) {
                continue;
            }
            let record_id = self.record_id(&change.collection, &change.id);
            match plan(&change, config) {
                Ok(op) => planned.push(Planned {
                    collection: change.collection,
                    id: change.id,
                    record_id,
                    op,
                }),
                Err((code, message)) => refused.push(Refused {
                    collection: change.collection,
                    id: change.id,
                    record_id,
                    document: change.document,
                    code,
                    message,
                    without_document: false,
                }),
            }
        }
        // Batches of one transaction each, bounded in documents and bytes; the refused
        // documents' records go with the first. A batch MongoDB finds too large (past the
        // transaction's time or cache limits) goes again in halves.
        let mut pending: VecDeque<Vec<Planned>> = chunks(planned, self.settings.write_back_batch);
        loop {
            let chunk = pending.pop_front().unwrap_or_default();
            if chunk.is_empty() && refused.is_empty() && pending.is_empty() {
                break;
            }
            if let Some((mut too_large, records)) = self
                .commit_batch(session, chunk, std::mem::take(&mut refused))
                .await?
            {
                refused = records;
                tracing::info!(connector_id = %self.connector_id, documents = too_large.len(), "the write-back's batch was too large for one transaction; halving it");
                let second = too_large.split_off(too_large.len() / 2);
                pending.push_front(second);
                pending.push_front(too_large);
            }
        }
        Ok(())
    }

    /// One transaction: the documents, the records of those refused, and the removal of the
    /// records of documents now written. A document MongoDB refuses is moved to the records and
    /// the rest is tried again.
    ///
    /// `Some` gives back a batch of two or more documents that was too large for one
    /// transaction (nothing of it written), with the records still to write.
    async fn commit_batch(
        &mut self,
        session: &mut dyn WriteSession,
        mut data: Vec<Planned>,
        mut refused: Vec<Refused>,
    ) -> Result<Option<(Vec<Planned>, Vec<Refused>)>, PipelineError> {
        let mut attempts = 0u32;
        let mut wait = Duration::from_millis(100);
        loop {
            let mut ops: Vec<WriteOp> = data.iter().map(|p| p.op.clone()).collect();
            let data_ops = ops.len();
            for r in &refused {
                ops.push(unsynced_record(self.connector_id, r));
            }
            let cleared: Vec<String> = data
                .iter()
                .filter(|p| self.unsynced.contains(&p.record_id))
                .map(|p| p.record_id.clone())
                .collect();
            for id in &cleared {
                ops.push(WriteOp::Delete {
                    collection: UNSYNCED_DOCUMENTS_COLLECTION.to_owned(),
                    filter: doc! {"_id": id},
                });
            }
            if ops.is_empty() {
                return Ok(None);
            }
            // The session's record says it is in use (its echoes stay recognised for the
            // retention after): renewed now and then, not by every transaction, which would
            // cost each one a round trip.
            let renew = self
                .renewed
                .is_none_or(|at| at.elapsed() >= SESSION_RENEWAL);
            if renew {
                ops.push(WriteOp::Update {
                    collection: SESSIONS_COLLECTION.to_owned(),
                    filter: doc! {"_id": session_binary(session.id())},
                    update: doc! {"$set": {"usedAt": bson::DateTime::now()}}.into(),
                    upsert: false,
                });
            }
            match session.commit(&self.database, &ops).await {
                Ok(outcome) => {
                    if self.diag.active() {
                        self.trace(session.id(), outcome.txn_number, &data, &refused);
                    }
                    if renew {
                        self.renewed = Some(Instant::now());
                    }
                    for id in &cleared {
                        self.unsynced.remove(id);
                    }
                    for r in &refused {
                        self.unsynced.insert(r.record_id.clone());
                    }
                    self.note(&data, &refused);
                    self.mirror(&refused, &cleared).await?;
                    return Ok(None);
                }
                Err(TxnError { error, .. })
                    if error.kind == ErrorKind::BatchTooLarge && data.len() > 1 =>
                {
                    return Ok(Some((data, refused)));
                }
                Err(TxnError { error, .. })
                    if error.kind == ErrorKind::BatchTooLarge && data.len() == 1 =>
                {
                    // One document alone is too much for a transaction: it is that document's.
                    let p = data.remove(0);
                    refused.push(Refused {
                        collection: p.collection,
                        id: p.id,
                        record_id: p.record_id,
                        document: document_of(&p.op),
                        code: "document_too_large".to_owned(),
                        message: error.to_string(),
                        without_document: true,
                    });
                }
                Err(TxnError {
                    op_index: Some(i),
                    error,
                }) if i < data_ops => {
                    let p = data.remove(i);
                    refused.push(Refused {
                        collection: p.collection,
                        id: p.id,
                        record_id: p.record_id,
                        document: document_of(&p.op),
                        code: refusal_code(&error).to_owned(),
                        message: error.to_string(),
                        without_document: false,
                    });
                }
                Err(TxnError {
                    op_index: Some(i),
                    error,
                }) if i < data_ops + refused.len() => {
                    // The record itself was refused: once more without the document, then
                    // without the record (reported all the same).
                    let r = &mut refused[i - data_ops];
                    if r.without_document {
                        tracing::warn!(connector_id = %self.connector_id, collection = %r.collection, %error, "an unsynced-document record was refused; reporting it only");
                        let r = refused.remove(i - data_ops);
                        self.note(&[], std::slice::from_ref(&r));
                    } else {
                        r.without_document = true;
                    }
                }
                Err(TxnError { error, .. }) if error.is_transient() && attempts < MAX_ATTEMPTS => {
                    attempts += 1;
                    tracing::warn!(connector_id = %self.connector_id, %error, attempt = attempts, "write-back commit failed; retrying");
                    if attempts == 1 {
                        // Said at once, not after the retries: a commit MongoDB cannot finish
                        // (no majority, no primary) is what the user must see.
                        self.warn_retrying(&error, data.len());
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                Err(TxnError { error, .. }) => return Err(write_back_failed(error)),
            }
        }
    }

    /// Metadata writes (the session record): retried like a batch, never recorded as unsynced.
    async fn commit_metadata(
        &self,
        session: &mut dyn WriteSession,
        ops: &[WriteOp],
    ) -> Result<(), PipelineError> {
        let mut wait = Duration::from_millis(100);
        let mut attempts = 0u32;
        loop {
            match session.commit(&self.database, ops).await {
                Ok(_) => return Ok(()),
                Err(TxnError { error, .. }) if error.is_transient() && attempts < MAX_ATTEMPTS => {
                    attempts += 1;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                Err(TxnError { error, .. }) => return Err(write_back_failed(error)),
            }
        }
    }
}

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

use crate::client::ApiClient;
use crate::pipeline::{PipelineError, PipelineSettings, SharedProgress, while_unavailable};
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document, doc};
use edgebridge_domain::CollectionMapping;
use edgebridge_domain::fleet::{
    CollectionPhase, EventLevel, FeedChange, ReportedEvent, WriteBackPosition,
};
use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo::error::{ErrorKind, PortError};
use edgebridge_mongo::mapping::{MappingConfig, to_mongo};
use edgebridge_mongo::port::{MongoPort, SessionId, TxnError, WriteOp, WriteSession};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The sessions whose events are the connector's own writes (echoes).
pub type Sessions = Arc<RwLock<HashSet<SessionId>>>;

/// Largest edge document kept whole in an unsynced record (JSON bytes); a larger one is
/// recorded without it.
const MAX_RECORDED_DOCUMENT: usize = 1024 * 1024;

/// Commits tried for one batch before the connector fails (and restarts after a backoff).
const MAX_ATTEMPTS: u32 = 8;

/// What a run needs from the metadata collections before anything streams.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Sessions of this connector whose events may still be in a stream.
    pub sessions: HashSet<SessionId>,
    /// Session records older than the retention: deleted by this run's first commit.
    pub stale: Vec<Bson>,
    /// Ids of this connector's unsynced-document records.
    pub unsynced: BTreeSet<String>,
}

/// Reads the connector's session and unsynced-document records. A missing collection holds
/// none.
pub async fn load_recorded(
    port: &dyn MongoPort,
    database: &str,
    connector_id: Uuid,
    retention: Duration,
) -> Result<Recorded, PortError> {
    let connector = connector_id.to_string();
    let mut recorded = Recorded::default();
    let cutoff = bson::DateTime::from_millis(
        bson::DateTime::now()
            .timestamp_millis()
            .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX)),
    );
    for doc in scan_all(port, database, SESSIONS_COLLECTION).await? {
        if doc.get_str("connectorId").ok() != Some(connector.as_str()) {
            continue;
        }
        let Some(Bson::Binary(bin)) = doc.get("_id") else {
            continue;
        };
        // Kept while in use: every transaction of the session renews `usedAt`.
        let used = doc
            .get_datetime("usedAt")
            .or_else(|_| doc.get_datetime("startedAt"))
            .copied()
            .unwrap_or(cutoff);
        if used < cutoff {
            recorded.stale.push(Bson::Binary(bin.clone()));
        } else {
            recorded.sessions.insert(SessionId(bin.bytes.clone()));
        }
    }
    let prefix = format!("{connector}:");
    for doc in scan_all(port, database, UNSYNCED_DOCUMENTS_COLLECTION).await? {
        if let Ok(id) = doc.get_str("_id")
            && id.starts_with(&prefix)
        {
            recorded.unsynced.insert(id.to_owned());
        }
    }
    Ok(recorded)
}

async fn scan_all(
    port: &dyn MongoPort,
    database: &str,
    collection: &str,
) -> Result<Vec<Document>, PortError> {
    let mut out = Vec::new();
    let mut after: Option<Bson> = None;
    loop {
        let batch = match port.scan(database, collection, after.as_ref(), 1000).await {
            Ok(batch) => batch,
            Err(e) if e.kind == ErrorKind::NamespaceNotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        let full = batch.len() == 1000;
        after = batch.last().and_then(|d| d.get("_id")).cloned();
        out.extend(batch);
        if !full || after.is_none() {
            return Ok(out);
        }
    }
}

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
    /// This connector's unsynced-document records.
    pub unsynced: BTreeSet<String>,
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
        loop {
            let page = self.fetch(cursor.as_deref()).await?;
            let wrote = !page.changes.is_empty();
            if wrote {
                self.write(session.as_mut(), &configs, page.changes).await?;
            }
            if page.next_cursor.is_some() {
                cursor = page.next_cursor;
            }
            // After a commit at once; past changes it had nothing to do for, now and then
            // (taking them again costs nothing).
            if cursor != saved && (wrote || last_save.elapsed() >= self.settings.idle_checkpoint) {
                self.save(cursor.clone()).await?;
                saved = cursor.clone();
                last_save = Instant::now();
            }
        }
    }

    async fn fetch(
        &self,
        after: Option<&str>,
    ) -> Result<edgebridge_domain::fleet::FeedPage, PipelineError> {
        while_unavailable(self.connector_id, "reading the edge feed", || {
            self.client.changes(
                self.connector_id,
                self.epoch,
                after,
                self.settings.write_back_batch,
                self.settings.feed_wait_secs,
            )
        })
        .await
    }

    async fn save(&self, cursor: Option<String>) -> Result<(), PipelineError> {
        let position = WriteBackPosition {
            epoch: self.epoch,
            cursor,
        };
        while_unavailable(self.connector_id, "saving the write-back position", || {
            self.client
                .save_write_back_position(self.connector_id, &position)
        })
        .await
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
        // Batches of one transaction each; the refused documents' records go with the first.
        let batch = self.settings.write_back_batch.max(1) as usize;
        let mut rest = planned.into_iter();
        loop {
            let chunk: Vec<Planned> = rest.by_ref().take(batch).collect();
            if chunk.is_empty() && refused.is_empty() {
                break;
            }
            self.commit_batch(session, chunk, std::mem::take(&mut refused))
                .await?;
        }
        Ok(())
    }

    /// One transaction: the documents, the records of those refused, and the removal of the
    /// records of documents now written. A document MongoDB refuses is moved to the records and
    /// the rest is tried again.
    async fn commit_batch(
        &mut self,
        session: &mut dyn WriteSession,
        mut data: Vec<Planned>,
        mut refused: Vec<Refused>,
    ) -> Result<(), PipelineError> {
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
                return Ok(());
            }
            // The session's record says it is in use (its echoes stay recognised).
            ops.push(WriteOp::Update {
                collection: SESSIONS_COLLECTION.to_owned(),
                filter: doc! {"_id": session_binary(session.id())},
                update: doc! {"$set": {"usedAt": bson::DateTime::now()}},
                upsert: false,
            });
            match session.commit(&self.database, &ops).await {
                Ok(_) => {
                    for id in &cleared {
                        self.unsynced.remove(id);
                    }
                    for r in &refused {
                        self.unsynced.insert(r.record_id.clone());
                    }
                    self.note(&data, &refused);
                    return Ok(());
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

    fn note(&self, written: &[Planned], refused: &[Refused]) {
        let Ok(mut all) = self.progress.lock() else {
            return;
        };
        for p in written {
            all.entry(p.collection.clone()).or_default().written_back += 1;
        }
        for r in refused {
            let progress = all.entry(r.collection.clone()).or_default();
            progress.unsynced += 1;
            if progress.events.len() < 20 {
                progress.events.push(ReportedEvent {
                    level: EventLevel::Warn,
                    code: "document_unsynced".into(),
                    message: format!(
                        "The edge document {} of {} was not written to MongoDB: {}. It is recorded in {}.",
                        r.id, r.collection, r.message, UNSYNCED_DOCUMENTS_COLLECTION
                    ),
                    context: serde_json::json!({
                        "collection": r.collection,
                        "id": r.id,
                        "reason": r.code,
                    }),
                    at: chrono::Utc::now(),
                });
            }
        }
    }
}

fn write_back_failed(error: PortError) -> PipelineError {
    match PipelineError::from(error) {
        PipelineError::Failed {
            code,
            message,
            remediation,
        } => PipelineError::Failed {
            code: if code == "not_authorized" {
                "write_back_not_authorized"
            } else {
                code
            },
            message: format!("Writing edge changes to MongoDB failed: {message}"),
            remediation: if code == "not_authorized" {
                "Grant the connector's database user insert, update and remove on the synced collections and the __edgebridge_* metadata collections."
            } else {
                remediation
            },
        },
        other => other,
    }
}

fn refusal_code(error: &PortError) -> &'static str {
    match error.kind {
        ErrorKind::SchemaValidation => "schema_validation",
        ErrorKind::DuplicateKey => "duplicate_key",
        ErrorKind::DocumentTooLarge => "document_too_large",
        ErrorKind::InvalidDocument => "invalid_document",
        _ => "refused",
    }
}

fn session_binary(id: &SessionId) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Uuid,
        bytes: id.0.clone(),
    })
}

/// The MongoDB write of one edge change: an upsert keyed by the mapped fields (keeping what
/// MongoDB holds and the edge never had), or a delete.
fn plan(change: &FeedChange, config: &MappingConfig) -> Result<WriteOp, (String, String)> {
    let refused = |d: edgebridge_mongo::mapping::Diagnostic| {
        (
            d.code.to_owned(),
            format!("{} (at `{}`)", d.message, d.path),
        )
    };
    match &change.document {
        Some(body) => {
            let mongo = to_mongo(body, change.types.as_ref(), config).map_err(refused)?;
            if mongo.preserve.is_empty() {
                return Ok(WriteOp::Upsert {
                    collection: change.collection.clone(),
                    filter: mongo.filter,
                    replacement: mongo.document,
                });
            }
            // MongoDB holds values the edge never had: set what the edge has around them. A
            // replacement would drop them, so a document that cannot be written that way is
            // left alone (and recorded) instead.
            match mongo.set_update() {
                Some(update) => Ok(WriteOp::Update {
                    collection: change.collection.clone(),
                    filter: mongo.filter,
                    update,
                    upsert: true,
                }),
                None => Err((
                    "field_not_addressable".to_owned(),
                    "MongoDB holds values of types the edge does not carry in this document, and a field on the way to them has a name an update cannot address (empty, with a `.`, or starting with `$`); writing the whole document would drop those values".to_owned(),
                )),
            }
        }
        None => {
            let mut id_only = Map::new();
            id_only.insert("_id".to_owned(), change.id.clone());
            let mongo = to_mongo(&id_only, change.types.as_ref(), config).map_err(refused)?;
            Ok(WriteOp::Delete {
                collection: change.collection.clone(),
                filter: mongo.filter,
            })
        }
    }
}

/// The edge document a planned write carries, for its record (as Extended JSON).
fn document_of(op: &WriteOp) -> Option<Map<String, Value>> {
    let doc = match op {
        WriteOp::Upsert { replacement, .. } => replacement.clone(),
        WriteOp::Update { update, .. } => update.get_document("$set").ok()?.clone(),
        _ => return None,
    };
    match Bson::Document(doc).into_relaxed_extjson() {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The unsynced-document record (one per document: a later refusal replaces it).
fn unsynced_record(connector_id: Uuid, r: &Refused) -> WriteOp {
    let document = r
        .document
        .as_ref()
        .filter(|_| !r.without_document)
        .and_then(|d| serde_json::to_string(d).ok())
        .filter(|json| json.len() <= MAX_RECORDED_DOCUMENT);
    let mut record = doc! {
        "_id": &r.record_id,
        "connectorId": connector_id.to_string(),
        "collection": &r.collection,
        "edgeId": r.id.to_string(),
        "code": &r.code,
        "error": &r.message,
        "at": bson::DateTime::now(),
    };
    match document {
        Some(json) => record.insert("document", json),
        None => record.insert("documentOmitted", true),
    };
    WriteOp::Upsert {
        collection: UNSYNCED_DOCUMENTS_COLLECTION.to_owned(),
        filter: doc! {"_id": &r.record_id},
        replacement: record,
    }
}

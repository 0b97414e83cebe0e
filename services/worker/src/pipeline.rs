//! One collection's MongoDB -> edge pipeline (DESIGN §4): initial sync when asked, then the
//! change stream, each batch applied to the edge store together with the checkpoint after it
//! (one fenced transaction in the api), so a restart or a move resumes exactly after what was
//! applied. Applying a document state twice is harmless, which is what makes the overlap
//! between the scan and the stream (and any redelivery) safe.
//!
//! The collection's `filter` applies to both: the scan copies matching documents only, and a
//! document that stops matching is removed from the edge (it left the synced set).
//!
//! An event caused by one of the connector's write-back sessions ([`crate::writeback`]) is an
//! echo of an edge write: it is not applied but checked (`EdgeWrite::Verify`), and the api
//! queues the document for write-back again only when the edge reads otherwise (MongoDB
//! overwrote a concurrent edit).

use crate::client::{ApiClient, ClientError};
use crate::writeback::Sessions;
use bson::{Bson, Document};
use edgebridge_domain::fleet::{
    ApplyRequest, CheckpointPhase, CollectionCheckpoint, CollectionPhase, EdgeWrite, PreImage,
    ReportedEvent,
};
use edgebridge_domain::{CollectionMapping, OnHistoryLost};
use edgebridge_edge::ids::document_key;
use edgebridge_mongo::error::{ErrorClass, ErrorKind, PortError};
use edgebridge_mongo::filter::Filter;
use edgebridge_mongo::mapping::{EdgeDocument, MappingConfig, Rejected, edge_id, to_edge};
use edgebridge_mongo::port::{
    ChangeEvent, ChangeStream, MongoPort, OperationType, ResumeToken, StreamStart,
};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How pipelines pace themselves.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Documents per scan batch (and per apply).
    pub scan_batch: u32,
    /// Most documents copied per second by an initial sync; 0: no limit.
    pub scan_rate: u32,
    /// Batches a pipeline (copy or stream) has the api apply at once, the api's work on one
    /// overlapping the edge store's on another; 1 applies them one after the other. A stream's
    /// batch that shares a document with one in flight waits for it.
    pub apply_in_flight: usize,
    /// Most change events per applied batch.
    pub stream_batch: usize,
    /// Longest an event waits for its batch to fill.
    pub stream_linger: Duration,
    /// Pause after an empty answer of the change stream.
    pub idle_pause: Duration,
    /// How often an idle stream's advanced token is checkpointed.
    pub idle_checkpoint: Duration,
    /// Edge changes per write-back page (and documents per MongoDB transaction).
    pub write_back_batch: u32,
    /// How long a write-back read of the edge feed waits for changes.
    pub feed_wait_secs: u32,
    /// How long a session's record is kept (its echoes are recognised while it is).
    pub session_retention: Duration,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            scan_batch: 4000,
            scan_rate: 0,
            apply_in_flight: 2,
            stream_batch: 4000,
            stream_linger: Duration::from_millis(20),
            idle_pause: Duration::from_millis(100),
            idle_checkpoint: Duration::from_secs(5),
            write_back_batch: 500,
            feed_wait_secs: 10,
            session_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What a pipeline shows in its connector's reports.
#[derive(Debug, Clone, Default)]
pub struct CollectionProgress {
    pub phase: Option<CollectionPhase>,
    pub copied: u64,
    pub estimated_total: Option<u64>,
    pub applied: u64,
    pub skipped: u64,
    /// Edge documents written to MongoDB.
    pub written_back: u64,
    /// Edge documents MongoDB refused (recorded as unsynced).
    pub unsynced: u64,
    /// Diagnostics for the next report.
    pub events: Vec<ReportedEvent>,
    /// When MongoDB last answered the collection's scan or change stream (an idle stream
    /// answers too, with empty batches), or the pipeline last waited on purpose (rate limit).
    pub last_answer: Option<Instant>,
}

pub type SharedProgress = Arc<Mutex<BTreeMap<String, CollectionProgress>>>;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The api refused the epoch: the connector is someone else's now.
    #[error("fenced")]
    Fenced,
    /// This collection cannot be synced as configured (the others go on).
    #[error("{code}: {message}")]
    Collection {
        code: &'static str,
        message: String,
        remediation: &'static str,
    },
    #[error("{code}: {message}")]
    Failed {
        code: &'static str,
        message: String,
        remediation: &'static str,
    },
}

impl From<PortError> for PipelineError {
    fn from(e: PortError) -> Self {
        let (code, remediation) = match e.kind {
            ErrorKind::HistoryLost => (
                "resume_point_lost",
                "The change stream's resume point has rolled off the oplog: enlarge the oplog, then resync the collection (its data is re-copied).",
            ),
            ErrorKind::Unauthorized | ErrorKind::Authentication => (
                "not_authorized",
                "Grant the connector's database user find and changeStream on the collection.",
            ),
            _ if e.class() == ErrorClass::Transient => (
                "mongodb_unavailable",
                "None needed if it passes: the connector retries by itself.",
            ),
            _ => (
                "mongodb_error",
                "Check the error; the connector retries by itself.",
            ),
        };
        PipelineError::Failed {
            code,
            message: e.to_string(),
            remediation,
        }
    }
}

impl From<ClientError> for PipelineError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Fenced(_) | ClientError::Expired(_) => PipelineError::Fenced,
            other => PipelineError::Failed {
                code: "edge_store_unavailable",
                message: other.to_string(),
                remediation: "None needed if it passes: the connector retries by itself.",
            },
        }
    }
}

/// Calls the api until it answers, retrying while it is unavailable (100 ms, doubling, about
/// 50 s in all); any other error ends it.
pub(crate) async fn while_unavailable<T, Fut>(
    connector_id: Uuid,
    what: &str,
    mut call: impl FnMut() -> Fut,
) -> Result<T, PipelineError>
where
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut wait = Duration::from_millis(100);
    loop {
        match call().await {
            Ok(answer) => return Ok(answer),
            Err(ClientError::Unavailable(why)) if wait < Duration::from_secs(30) => {
                tracing::warn!(%connector_id, %why, "{what} failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

pub struct Pipeline {
    pub client: ApiClient,
    pub connector_id: Uuid,
    pub epoch: i64,
    pub port: Arc<dyn MongoPort>,
    pub database: String,
    pub collection: String,
    pub mapping: CollectionMapping,
    pub settings: PipelineSettings,
    pub progress: SharedProgress,
    pub on_history_lost: OnHistoryLost,
    /// The checkpoint the api last took.
    pub last: Mutex<Option<CollectionCheckpoint>>,
    /// The connector's write-back sessions: their events are echoes.
    pub sessions: Sessions,
}

fn event(
    level: edgebridge_domain::fleet::EventLevel,
    code: &str,
    message: String,
) -> ReportedEvent {
    ReportedEvent {
        level,
        code: code.to_owned(),
        message,
        context: serde_json::Value::Null,
        at: chrono::Utc::now(),
    }
}

impl Pipeline {
    /// MongoDB answered (or the pipeline waits on purpose): the stream is alive.
    fn answered(&self) {
        self.update(|p| p.last_answer = Some(Instant::now()));
    }

    fn update(&self, f: impl FnOnce(&mut CollectionProgress)) {
        if let Ok(mut all) = self.progress.lock() {
            f(all.entry(self.collection.clone()).or_default());
        }
    }

    fn note_rejected(&self, rejected: &Rejected) {
        let message = format!(
            "A document of {} was not synced: {} (at `{}`)",
            self.collection, rejected.diagnostic.message, rejected.diagnostic.path
        );
        self.update(|p| {
            p.skipped += 1;
            if p.events.len() < 20 {
                p.events.push(event(
                    edgebridge_domain::fleet::EventLevel::Warn,
                    rejected.diagnostic.code,
                    message,
                ));
            }
        });
    }

    /// Applies writes and the checkpoint after them (retrying what the api could not take). A
    /// batch too large for the api goes in halves: the first with the checkpoint from before
    /// the batch (applying it again after a crash is harmless), the second with the new one.
    async fn apply(
        &self,
        writes: Vec<EdgeWrite>,
        checkpoint: &CollectionCheckpoint,
    ) -> Result<(), PipelineError> {
        let mut pending = vec![(writes, checkpoint.clone())];
        while let Some((writes, checkpoint)) = pending.pop() {
            if let Some((first, second)) = self.apply_once(writes, checkpoint).await? {
                // Second half last: it carries the new checkpoint.
                pending.push(second);
                pending.push(first);
            }
        }
        Ok(())
    }

    /// One request; `Some(halves)` when it was too large and can be split.
    #[allow(clippy::type_complexity)]
    async fn apply_once(
        &self,
        writes: Vec<EdgeWrite>,
        checkpoint: CollectionCheckpoint,
    ) -> Result<
        Option<(
            (Vec<EdgeWrite>, CollectionCheckpoint),
            (Vec<EdgeWrite>, CollectionCheckpoint),
        )>,
        PipelineError,
    > {
        let request = ApplyRequest {
            epoch: self.epoch,
            collection: self.collection.clone(),
            writes,
            checkpoint,
        };
        let mut wait = Duration::from_millis(100);
        let answer = loop {
            match self.client.apply(self.connector_id, &request).await {
                Ok(answer) => break answer,
                Err(ClientError::TooLarge(why)) if request.writes.len() > 1 => {
                    tracing::debug!(%why, writes = request.writes.len(), "batch too large; splitting");
                    let ApplyRequest {
                        mut writes,
                        checkpoint,
                        ..
                    } = request;
                    let second = writes.split_off(writes.len() / 2);
                    let before = self.last_checkpoint(&checkpoint);
                    return Ok(Some(((writes, before), (second, checkpoint))));
                }
                Err(ClientError::TooLarge(_)) if request.writes.len() == 1 => {
                    // One document alone is too large: without its pre-image if it has one
                    // (the whole post-image is written then), else it is skipped and reported;
                    // the checkpoint moves on either way.
                    let mut request = request;
                    let write = request.writes.pop().expect("one write");
                    let checkpoint = request.checkpoint;
                    let id = write.id().clone();
                    if let EdgeWrite::Upsert {
                        id,
                        body,
                        counters,
                        types,
                        before: Some(_),
                    } = write
                    {
                        let lighter = EdgeWrite::Upsert {
                            id,
                            body,
                            counters,
                            types,
                            before: None,
                        };
                        return Ok(Some((
                            (Vec::new(), self.last_checkpoint(&checkpoint)),
                            (vec![lighter], checkpoint),
                        )));
                    }
                    let message = format!(
                        "The document {id} of {} is larger than the api takes in one request; it was not synced.",
                        self.collection
                    );
                    self.update(|p| {
                        p.skipped += 1;
                        p.events.push(event(
                            edgebridge_domain::fleet::EventLevel::Warn,
                            "document_too_large",
                            message,
                        ));
                    });
                    return Ok(Some((
                        (Vec::new(), self.last_checkpoint(&checkpoint)),
                        (Vec::new(), checkpoint),
                    )));
                }
                Err(ClientError::Unavailable(why)) if wait < Duration::from_secs(30) => {
                    tracing::warn!(connector_id = %self.connector_id, collection = %self.collection, %why, "apply failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => return Err(e.into()),
            }
        };
        let skipped = answer.skipped.len() as u64;
        let applied = answer.changed as u64;
        let notes: Vec<ReportedEvent> = answer
            .skipped
            .iter()
            .take(20)
            .map(|w| {
                event(
                    edgebridge_domain::fleet::EventLevel::Warn,
                    &w.code,
                    format!(
                        "The edge store refused the document {}: {}",
                        w.id, w.message
                    ),
                )
            })
            .collect();
        self.update(|p| {
            p.applied += applied;
            p.skipped += skipped;
            p.events.extend(notes);
        });
        if let Ok(mut last) = self.last.lock() {
            *last = Some(request.checkpoint);
        }
        Ok(None)
    }

    /// The checkpoint last applied (what a first half may carry), or `fallback` before any.
    fn last_checkpoint(&self, fallback: &CollectionCheckpoint) -> CollectionCheckpoint {
        self.last
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .unwrap_or_else(|| fallback.clone())
    }

    /// Runs until an error; a fenced epoch or a failure ends it.
    pub async fn run(self, checkpoint: Option<CollectionCheckpoint>) -> Result<(), PipelineError> {
        let filter = match &self.mapping.filter {
            None => None,
            Some(query) => Some(Filter::parse(query).map_err(|why| PipelineError::Collection {
                code: "invalid_filter",
                message: format!(
                    "The filter of collection {} cannot be used: {why}; the collection is not synced (never unfiltered).",
                    self.collection
                ),
                remediation: "Correct the collection's filter (PATCH the connector).",
            })?),
        };
        let config = MappingConfig::from_spec(&self.mapping);
        let scope = Scope {
            config: &config,
            filter: filter.as_ref(),
        };
        let mut checkpoint = match checkpoint {
            // A resync was asked for: keep a new start point first.
            Some(cp) if cp.phase == CheckpointPhase::InitialSync && cp.resume_token.is_none() => {
                self.fresh_start(true).await?
            }
            Some(cp) => {
                // What a split batch's first part carries: never a position past unapplied writes.
                if let Ok(mut last) = self.last.lock() {
                    *last = Some(cp.clone());
                }
                cp
            }
            None => self.fresh_start(self.mapping.initial_sync).await?,
        };
        loop {
            if checkpoint.phase == CheckpointPhase::InitialSync {
                self.scan(&scope, &mut checkpoint).await?;
            }
            match self.stream(&scope, checkpoint).await {
                Err(PipelineError::Failed {
                    code: "resume_point_lost",
                    message,
                    ..
                }) => {
                    if self.on_history_lost == OnHistoryLost::Fail {
                        return Err(PipelineError::Collection {
                            code: "resume_point_lost",
                            message: format!("Collection {}: {message}", self.collection),
                            remediation: "The oplog no longer holds where this collection stopped. Resync it (POST .../collections/{name}/resync), or set onHistoryLost to resync; consider a larger oplog.",
                        });
                    }
                    self.update(|p| {
                        p.events.push(event(
                            edgebridge_domain::fleet::EventLevel::Warn,
                            "resync_started",
                            format!(
                                "The change stream of {} could not resume (its history rolled off the oplog); copying the collection again (onHistoryLost: resync).",
                                self.collection
                            ),
                        ))
                    });
                    checkpoint = self.fresh_start(true).await?;
                }
                other => return other,
            }
        }
    }

    /// A new start point: the stream's current position kept before anything is scanned (what
    /// changes during the scan is streamed after it), saved as the checkpoint.
    async fn fresh_start(&self, initial_sync: bool) -> Result<CollectionCheckpoint, PipelineError> {
        // Keep the stream's start before anything is scanned: what changes during the
        // scan is streamed after it.
        let stream = self
            .port
            .watch(&self.database, &self.collection, StreamStart::Now)
            .await?;
        // Without a start position the scan's concurrent changes could be missed: refuse.
        let token = Some(
            stream
                .resume_token()
                .ok_or_else(|| PipelineError::Failed {
                    code: "no_stream_position",
                    message: format!(
                        "MongoDB gave no change stream position for {}",
                        self.collection
                    ),
                    remediation: "None needed if it passes: the connector retries by itself.",
                })?
                .to_json(),
        );
        let cp = if initial_sync {
            CollectionCheckpoint {
                phase: CheckpointPhase::InitialSync,
                resume_token: token,
                scan_after: None,
                copied: 0,
                estimated_total: self
                    .port
                    .estimated_count(&self.database, &self.collection)
                    .await
                    .ok(),
            }
        } else {
            CollectionCheckpoint {
                phase: CheckpointPhase::Streaming,
                resume_token: token,
                scan_after: None,
                copied: 0,
                estimated_total: None,
            }
        };
        self.apply(Vec::new(), &cp).await?;
        Ok(cp)
    }

    async fn scan(
        &self,
        scope: &Scope<'_>,
        checkpoint: &mut CollectionCheckpoint,
    ) -> Result<(), PipelineError> {
        self.update(|p| {
            p.phase = Some(CollectionPhase::InitialSync);
            p.last_answer = Some(Instant::now());
            p.copied = checkpoint.copied;
            p.estimated_total = checkpoint.estimated_total;
        });
        let started = Instant::now();
        let mut copied_here = 0u64;
        let depth = self.settings.apply_in_flight.max(1);
        // Batches being applied, oldest first, each answering with the checkpoint after it.
        let mut applying = FuturesOrdered::new();
        // The checkpoint after the last batch whose apply, and every earlier one, finished.
        let mut settled = checkpoint.clone();
        let outcome = async {
            loop {
                let after = checkpoint
                    .scan_after
                    .clone()
                    .map(|v| {
                        Bson::try_from(v).map_err(|e| PipelineError::Failed {
                            code: "checkpoint_unreadable",
                            message: format!("the stored scan position cannot be read: {e}"),
                            remediation: "Resync the collection.",
                        })
                    })
                    .transpose()?;
                // The next batch is read while earlier ones are applied.
                let read = self.port.scan(
                    &self.database,
                    &self.collection,
                    after.as_ref(),
                    self.settings.scan_batch,
                );
                let docs = settle_while(read, &mut applying, |cp| settled = cp).await??;
                self.answered();
                let Some(last) = docs.last().and_then(|d| d.get("_id")).cloned() else {
                    break;
                };
                let full = docs.len() as u32 == self.settings.scan_batch;
                let mut writes = Vec::with_capacity(docs.len());
                for doc in docs.iter().filter(|d| scope.wants(d)) {
                    match to_edge(doc, scope.config) {
                        Ok(edge) => writes.push(upsert(edge, None)),
                        Err(rejected) => self.note_rejected(&rejected),
                    }
                }
                checkpoint.copied += docs.len() as u64;
                checkpoint.scan_after = Some(last.into_canonical_extjson());
                while applying.len() >= depth {
                    if let Some(done) = applying.next().await {
                        settled = done?;
                    }
                }
                // A batch carries its own checkpoint only when no earlier one is still being
                // applied: batches commit in any order, and a stored position must never pass a
                // batch that is not applied. Otherwise it carries the settled one (the api keeps
                // the furthest), and a restart copies at most the batches in flight again.
                let carried = if applying.is_empty() {
                    checkpoint.clone()
                } else {
                    settled.clone()
                };
                let after_batch = checkpoint.clone();
                applying.push_back(async move {
                    self.apply(writes, &carried).await.map(|()| after_batch)
                });
                copied_here += docs.len() as u64;
                let copied = checkpoint.copied;
                self.update(|p| p.copied = copied);
                if !full {
                    break;
                }
                if self.settings.scan_rate > 0 {
                    let due = Duration::from_secs_f64(
                        copied_here as f64 / f64::from(self.settings.scan_rate),
                    );
                    // In steps, each counting as an answer: a slow copy is not a stalled one.
                    while let Some(wait) = due.checked_sub(started.elapsed()) {
                        let pause = tokio::time::sleep(wait.min(Duration::from_secs(1)));
                        settle_while(pause, &mut applying, |cp| settled = cp).await?;
                        self.answered();
                    }
                }
            }
            while let Some(done) = applying.next().await {
                done?;
            }
            Ok::<(), PipelineError>(())
        }
        .await;
        if let Err(e) = outcome {
            // The batches still in flight finish (or fail) first: none outlives this pipeline,
            // so a restarted one never races a late commit of this one's.
            while applying.next().await.is_some() {}
            return Err(e);
        }
        checkpoint.phase = CheckpointPhase::Streaming;
        checkpoint.scan_after = None;
        self.apply(Vec::new(), checkpoint).await
    }

    async fn stream(
        &self,
        scope: &Scope<'_>,
        mut checkpoint: CollectionCheckpoint,
    ) -> Result<(), PipelineError> {
        let start = match checkpoint
            .resume_token
            .clone()
            .and_then(ResumeToken::from_json)
        {
            Some(token) => StreamStart::After(token),
            None => StreamStart::Now,
        };
        let mut stream = self
            .port
            .watch(&self.database, &self.collection, start)
            .await?;
        self.update(|p| {
            p.phase = Some(CollectionPhase::Streaming);
            p.last_answer = Some(Instant::now());
        });
        let mut last_checkpoint = Instant::now();
        // Batches are applied while the next is read and mapped, up to `apply_in_flight` at
        // once. They may commit in any order, so a batch sharing a document with one in flight
        // waits for it, and one sent while another is in flight carries the position of what is
        // applied already, not its own (a restart replays at most the batches in flight).
        let depth = self.settings.apply_in_flight.max(1);
        let mut applying = FuturesOrdered::new();
        // The documents of the batches in flight (disjoint sets).
        let mut busy: HashSet<String> = HashSet::new();
        let mut settled = checkpoint.clone();
        // The position the last batch sent carries.
        let mut carried = checkpoint.resume_token.clone();
        let outcome: Result<(), PipelineError> = async {
            loop {
                let batch = settle_while(
                    self.read_batch(&mut stream, scope),
                    &mut applying,
                    |(cp, keys): (CollectionCheckpoint, HashSet<String>)| {
                        settled = cp;
                        busy.retain(|k| !keys.contains(k));
                    },
                )
                .await??;
                // Never replace a stored position with none.
                let token = stream
                    .resume_token()
                    .map(|t| t.to_json())
                    .or_else(|| checkpoint.resume_token.clone());
                if batch.dropped {
                    // What came before it is applied; then this collection stops (a restart
                    // would replay the drop forever).
                    while let Some(done) = applying.next().await {
                        done?;
                    }
                    checkpoint.resume_token = token;
                    self.apply(batch.writes, &checkpoint).await?;
                    return Err(PipelineError::Collection {
                        code: "collection_dropped",
                        message: format!(
                            "Collection {} was dropped or renamed in MongoDB; its stream ended.",
                            self.collection
                        ),
                        remediation: "Recreate the collection and resync it, or remove it from the connector.",
                    });
                }
                let moved = token != checkpoint.resume_token;
                if !batch.writes.is_empty()
                    || (moved && last_checkpoint.elapsed() >= self.settings.idle_checkpoint)
                {
                    checkpoint.resume_token = token;
                    let keys: HashSet<String> = batch.writes.iter().map(doc_of).collect();
                    while !applying.is_empty()
                        && (applying.len() >= depth || !keys.is_disjoint(&busy))
                    {
                        if let Some(done) = applying.next().await {
                            let (cp, done_keys): (CollectionCheckpoint, HashSet<String>) = done?;
                            settled = cp;
                            busy.retain(|k| !done_keys.contains(k));
                        }
                    }
                    let with = if applying.is_empty() {
                        checkpoint.clone()
                    } else {
                        settled.clone()
                    };
                    carried = with.resume_token.clone();
                    busy.extend(keys.iter().cloned());
                    let after_batch = checkpoint.clone();
                    let writes = batch.writes;
                    applying.push_back(async move {
                        self.apply(writes, &with)
                            .await
                            .map(|()| (after_batch, keys))
                    });
                    last_checkpoint = Instant::now();
                }
                if batch.idle {
                    while let Some(done) = applying.next().await {
                        settled = done?.0;
                    }
                    busy.clear();
                    if carried != checkpoint.resume_token {
                        // The last batch carried an earlier position: the stream's own goes now.
                        self.apply(Vec::new(), &checkpoint).await?;
                        carried = checkpoint.resume_token.clone();
                    }
                    tokio::time::sleep(self.settings.idle_pause).await;
                }
            }
        }
        .await;
        // The batches still in flight finish (or fail) first: none outlives this pipeline.
        while applying.next().await.is_some() {}
        outcome
    }

    /// Reads and maps up to a batch of events (or what arrives within the linger time).
    async fn read_batch(
        &self,
        stream: &mut Box<dyn ChangeStream>,
        scope: &Scope<'_>,
    ) -> Result<Batch, PipelineError> {
        let mut batch = Batch::default();
        let first = Instant::now();
        while batch.writes.len() < self.settings.stream_batch {
            match stream.next().await? {
                Some(event)
                    if matches!(
                        event.operation,
                        OperationType::Drop
                            | OperationType::Rename
                            | OperationType::DropDatabase
                            | OperationType::Invalidate
                    ) =>
                {
                    batch.dropped = true;
                    return Ok(batch);
                }
                Some(event) => {
                    if let Some(write) = self.map_event(&event, scope, &mut batch.writes) {
                        batch.writes.push(write);
                    }
                }
                None => {
                    batch.idle = true;
                    self.answered();
                    return Ok(batch);
                }
            }
            if first.elapsed() >= self.settings.stream_linger {
                break;
            }
        }
        self.answered();
        Ok(batch)
    }

    /// The edge write of a change event; `None` for events that change nothing here (and for
    /// documents that cannot be mapped, which are reported).
    fn map_event(
        &self,
        change: &ChangeEvent,
        scope: &Scope<'_>,
        out: &mut Vec<EdgeWrite>,
    ) -> Option<EdgeWrite> {
        let config = scope.config;
        let echo = change.lsid.as_ref().is_some_and(|lsid| {
            self.sessions
                .read()
                .map(|s| s.contains(lsid))
                .unwrap_or(false)
        });
        if echo {
            return self.map_echo(change, scope);
        }
        match &change.operation {
            OperationType::Insert | OperationType::Replace | OperationType::Update => {
                let doc = change.full_document.as_ref()?;
                if !scope.wants(doc) {
                    // Outside the filter (now): if it was synced, it leaves the edge.
                    let source = change.full_document_before_change.as_ref().unwrap_or(doc);
                    if change.operation == OperationType::Insert {
                        return None;
                    }
                    return match edge_id(source, config) {
                        Ok((id, _)) => Some(EdgeWrite::Delete { id }),
                        Err(_) => None,
                    };
                }
                // An update's pre-image says what changed, if the document was synced before.
                let before = (change.operation == OperationType::Update)
                    .then_some(change.full_document_before_change.as_ref())
                    .flatten()
                    .filter(|b| scope.wants(b))
                    .and_then(|b| to_edge(b, config).ok());
                match to_edge(doc, config) {
                    // The mapped id changed: the old edge document goes, the new one is whole.
                    Ok(edge) if before.as_ref().is_some_and(|b| b.key != edge.key) => {
                        if let Some(old) = before {
                            out.push(EdgeWrite::Delete { id: old.id });
                        }
                        Some(upsert(edge, None))
                    }
                    Ok(edge) => Some(upsert(edge, before)),
                    Err(rejected) => {
                        self.note_rejected(&rejected);
                        None
                    }
                }
            }
            OperationType::Delete => {
                // The edge id comes from the pre-image (mapped by non-`_id` fields), or from the
                // document key when `_id` is the id.
                let source: &Document = change
                    .full_document_before_change
                    .as_ref()
                    .or(change.document_key.as_ref())?;
                match edge_id(source, config) {
                    Ok((id, _)) => Some(EdgeWrite::Delete { id }),
                    Err(rejected) => {
                        self.note_rejected(&rejected);
                        None
                    }
                }
            }
            // Handled by the stream loop (the collection stops).
            OperationType::Drop
            | OperationType::Rename
            | OperationType::DropDatabase
            | OperationType::Invalidate => None,
            OperationType::Other(_) => None,
        }
    }
}

impl Pipeline {
    /// An event of the connector's own write-back: what MongoDB now holds, to check against the
    /// edge. A document outside the filter, or that cannot be mapped, is not checked (the edge
    /// wrote it; it does not come back).
    fn map_echo(&self, change: &ChangeEvent, scope: &Scope<'_>) -> Option<EdgeWrite> {
        match &change.operation {
            OperationType::Insert | OperationType::Replace | OperationType::Update => {
                let doc = change.full_document.as_ref()?;
                if !scope.wants(doc) {
                    return None;
                }
                let edge = to_edge(doc, scope.config).ok()?;
                Some(EdgeWrite::Verify {
                    id: edge.id,
                    body: Some(edge.body),
                    counters: edge.counters,
                })
            }
            OperationType::Delete => {
                let source = change
                    .full_document_before_change
                    .as_ref()
                    .or(change.document_key.as_ref())?;
                let (id, _) = edge_id(source, scope.config).ok()?;
                Some(EdgeWrite::Verify {
                    id,
                    body: None,
                    counters: Vec::new(),
                })
            }
            _ => None,
        }
    }
}

/// Events read from the stream, mapped.
#[derive(Default)]
struct Batch {
    writes: Vec<EdgeWrite>,
    /// The stream answered empty: nothing more for now.
    idle: bool,
    /// The collection was dropped, renamed or invalidated (after `writes`).
    dropped: bool,
}

/// How documents of the collection are mapped, and which are synced.
struct Scope<'a> {
    config: &'a MappingConfig,
    filter: Option<&'a Filter>,
}

impl Scope<'_> {
    fn wants(&self, doc: &Document) -> bool {
        self.filter.is_none_or(|f| f.matches(doc))
    }
}

/// Awaits `work` while driving the applies in flight (`done` takes what a finished one
/// answers); an apply that fails ends the wait with its error.
async fn settle_while<T, A, O>(
    work: impl Future<Output = T>,
    applying: &mut FuturesOrdered<A>,
    mut done: impl FnMut(O),
) -> Result<T, PipelineError>
where
    A: Future<Output = Result<O, PipelineError>>,
{
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return Ok(out),
            Some(finished) = applying.next(), if !applying.is_empty() => done(finished?),
        }
    }
}

/// A write's document as the edge store keys it (`5` and `5.0`, or a composite id's members
/// in any order, are one document), which the batches in flight are compared by.
fn doc_of(write: &EdgeWrite) -> String {
    document_key(write.id()).unwrap_or_else(|_| write.id().to_string())
}

fn upsert(edge: EdgeDocument, before: Option<EdgeDocument>) -> EdgeWrite {
    EdgeWrite::Upsert {
        id: edge.id,
        body: edge.body,
        counters: edge.counters,
        // Always stated, so a tree that no longer applies is cleared rather than kept.
        types: Some(edge.types.unwrap_or_else(|| serde_json::json!({}))),
        before: before.map(|b| {
            Box::new(PreImage {
                body: b.body,
                counters: b.counters,
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batches_in_flight_compare_documents_as_the_edge_store_keys_them() {
        let delete = |id| doc_of(&EdgeWrite::Delete { id });
        assert_eq!(delete(json!(5)), delete(json!(5.0)));
        assert_eq!(
            delete(json!({"a": 1, "b": "x"})),
            delete(json!({"b": "x", "a": 1}))
        );
        assert_ne!(delete(json!(5)), delete(json!("5")));
    }
}

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

//!
//! The pipeline is split: `error` (what ends a pipeline, and how the supervisor treats it),
//! `apply` (batches to the api, halved when too large), `scan` (the initial copy), `stream`
//! (the change stream, and mapping events to edge writes).

mod apply;
mod error;
mod readahead;
mod scan;
mod stream;

pub(crate) use error::while_unavailable;
pub use error::{PipelineError, TRANSIENT_CODES};

use crate::diagnostics::Diagnostics;
use crate::writeback::Sessions;
use bson::Document;
use chrono::{DateTime, Utc};
use edgebridge_domain::fleet::{
    CheckpointPhase, CollectionCheckpoint, CollectionPhase, EdgeWrite, PreImage, ReportedEvent,
};
use edgebridge_domain::{CollectionMapping, OnHistoryLost};
use edgebridge_edge::ids::document_key;
use edgebridge_mongo::filter::Filter;
use edgebridge_mongo::mapping::{EdgeDocument, MappingConfig, Rejected};
use edgebridge_mongo::port::{MongoPort, StreamStart};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::client::ApiClient;
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
            write_back_batch: 1000,
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
    /// Documents copied by this run (`copied` counts the whole copy, resumed ones included).
    pub copied_run: u64,
    /// Change stream events were read that are not applied yet (or the stream has not caught
    /// up since): the lag is measured, else it is 0.
    pub behind: bool,
    /// The cluster time of the oldest event read while caught up (the lag's floor when
    /// nothing newer was applied).
    pub pending_from: Option<DateTime<Utc>>,
    /// The cluster time of the last change stream event applied.
    pub last_event_at: Option<DateTime<Utc>>,
    /// When the collection was last known up to date (stream caught up, copy finished).
    pub last_synced_at: Option<DateTime<Utc>>,
}

impl CollectionProgress {
    /// The MongoDB -> edge lag now, in milliseconds, while streaming.
    pub fn lag_ms(&self, now: DateTime<Utc>) -> Option<u64> {
        if self.phase != Some(CollectionPhase::Streaming) {
            return None;
        }
        if !self.behind {
            return Some(0);
        }
        let since = match (self.last_event_at, self.pending_from) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b)?,
        };
        Some(u64::try_from((now - since).num_milliseconds()).unwrap_or(0))
    }
}

/// A cluster time as a time of day (its seconds).
pub fn cluster_time(ts: bson::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(ts.time), 0).unwrap_or_default()
}

/// A stream that cannot go on again this soon after a resync fails its collection instead.
const RESYNC_AGAIN_WITHIN: Duration = Duration::from_secs(600);

pub type SharedProgress = Arc<Mutex<BTreeMap<String, CollectionProgress>>>;

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
    /// Traces and debug mode.
    pub diag: Diagnostics,
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
        collection: None,
        document_id: None,
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
        let mut last_resync: Option<(&'static str, Instant)> = None;
        loop {
            if checkpoint.phase == CheckpointPhase::InitialSync {
                self.scan(&scope, &mut checkpoint).await?;
            }
            match self.stream(&scope, checkpoint).await {
                Err(PipelineError::HistoryLost {
                    code,
                    message,
                    remediation,
                }) => {
                    // A resync that meets the same wall again soon would copy forever (images
                    // turned off, an event that stays too large): the collection fails instead.
                    let again = last_resync.is_some_and(|(c, at): (&str, Instant)| {
                        c == code && at.elapsed() < RESYNC_AGAIN_WITHIN
                    });
                    if self.on_history_lost == OnHistoryLost::Fail || again {
                        let message = if again {
                            format!(
                                "Collection {}: {message}; it happened again right after a resync, so the collection stopped (the others go on).",
                                self.collection
                            )
                        } else {
                            format!("Collection {}: {message}", self.collection)
                        };
                        return Err(PipelineError::Collection {
                            code,
                            message,
                            remediation,
                        });
                    }
                    self.update(|p| {
                        p.events.push(event(
                            edgebridge_domain::fleet::EventLevel::Warn,
                            "resync_started",
                            format!(
                                "The change stream of {} could not go on ({code}: {message}); copying the collection again (onHistoryLost: resync).",
                                self.collection
                            ),
                        ))
                    });
                    last_resync = Some((code, Instant::now()));
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

//! The internal API between the api and its workers (`/internal/v1/...`), as types both sides
//! share. Every message about a connector names its assignment epoch: the api refuses a stale
//! one (409 `stale_epoch`), which is how a paused or cut-off worker is fenced out.
//!
//! Flow: a worker registers with the operator's worker token and gets its id and a short-lived
//! worker JWT; it heartbeats every `heartbeatIntervalMs`, and each answer lists its assignments
//! (connector id + epoch) and a fresh JWT; it fetches the spec of an assigned connector at that
//! epoch, runs it, and reports; on shutdown it reports its connectors stopped and deregisters.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Paths, relative to the api's base URL.
pub mod paths {
    pub const REGISTER: &str = "/internal/v1/workers/register";
    pub fn heartbeat(worker: uuid::Uuid) -> String {
        format!("/internal/v1/workers/{worker}/heartbeat")
    }
    pub fn deregister(worker: uuid::Uuid) -> String {
        format!("/internal/v1/workers/{worker}/deregister")
    }
    pub fn connector(worker: uuid::Uuid, connector: uuid::Uuid) -> String {
        format!("/internal/v1/workers/{worker}/connectors/{connector}")
    }
    pub fn report(worker: uuid::Uuid, connector: uuid::Uuid) -> String {
        format!("/internal/v1/workers/{worker}/connectors/{connector}/report")
    }
    pub fn apply(worker: uuid::Uuid, connector: uuid::Uuid) -> String {
        format!("/internal/v1/workers/{worker}/connectors/{connector}/apply")
    }
    pub fn checkpoints(worker: uuid::Uuid, connector: uuid::Uuid) -> String {
        format!("/internal/v1/workers/{worker}/connectors/{connector}/checkpoints")
    }
    pub fn changes(worker: uuid::Uuid, connector: uuid::Uuid) -> String {
        format!("/internal/v1/workers/{worker}/connectors/{connector}/changes")
    }
    pub fn write_back(worker: uuid::Uuid, connector: uuid::Uuid) -> String {
        format!("/internal/v1/workers/{worker}/connectors/{connector}/write-back")
    }
}

/// Limits the api enforces on reports (a worker keeps within them).
pub const MAX_EVENTS_PER_REPORT: usize = 100;
pub const MAX_EVENT_MESSAGE_CHARS: usize = 2_000;
pub const MAX_EVENT_CONTEXT_BYTES: usize = 8 * 1024;
pub const MAX_REPORTED_COLLECTIONS: usize = 1_000;

/// `POST /internal/v1/workers/register`, authenticated with the worker token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// Unique among active workers. Registering under the name of an active worker whose lease
    /// has run out replaces it at once (a restarted pod need not wait for the scheduler's tick);
    /// under the name of one whose lease still runs is refused (409 `worker_name_in_use`).
    pub name: String,
    /// Total connector weight it takes (a connector weighs 1 + its collections).
    pub capacity: u32,
    pub version: String,
}

/// The answer to register and to heartbeat: the worker's credential for the next calls.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerCredential {
    pub worker_id: Uuid,
    /// A worker JWT: `Authorization: Bearer <accessToken>` on the worker's own routes.
    pub access_token: String,
    pub expires_in: u64,
    pub heartbeat_interval_ms: u64,
    pub lease_ttl_ms: u64,
}

impl std::fmt::Debug for WorkerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerCredential")
            .field("worker_id", &self.worker_id)
            .field("access_token", &"****")
            .finish_non_exhaustive()
    }
}

/// A connector the worker runs, at the epoch it runs it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub connector_id: Uuid,
    pub epoch: i64,
}

/// `POST /internal/v1/workers/{workerId}/heartbeat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatRequest {
    /// The worker is shutting down: it takes no new connectors (it stops its own next).
    #[serde(default)]
    pub draining: bool,
}

/// A worker's state as the api sees it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    Live,
    /// Takes no new connectors; the ones it runs move away a few per scheduler tick.
    Draining,
    /// Missed its lease; its connectors went elsewhere.
    Dead,
    /// Deregistered or replaced.
    Gone,
}

impl WorkerState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Live => "live",
            WorkerState::Draining => "draining",
            WorkerState::Dead => "dead",
            WorkerState::Gone => "gone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "live" => WorkerState::Live,
            "draining" => WorkerState::Draining,
            "dead" => WorkerState::Dead,
            "gone" => WorkerState::Gone,
            _ => return None,
        })
    }
}

/// The answer to a heartbeat. A worker that is no longer live or draining gets 410
/// `worker_expired` instead: it stops everything and registers again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatResponse {
    pub state: WorkerState,
    /// Exactly what the worker should run (paused connectors are left out at once).
    pub assignments: Vec<Assignment>,
    pub credential: WorkerCredential,
}

/// `GET /internal/v1/workers/{workerId}/connectors/{connectorId}?epoch=N`: the spec with its
/// connection string in clear, only for the worker it is assigned to at that epoch.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorAssignmentSpec {
    pub connector_id: Uuid,
    pub epoch: i64,
    pub org_id: Uuid,
    pub app_id: Uuid,
    pub name: String,
    /// Decrypted. Never logged (see the `Debug` impl).
    pub connection_string: String,
    pub database: String,
    pub collections: BTreeMap<String, crate::CollectionMapping>,
    pub auto_configure: bool,
    #[serde(default)]
    pub on_history_lost: crate::OnHistoryLost,
    /// The configuration version.
    pub version: i64,
}

impl std::fmt::Debug for ConnectorAssignmentSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorAssignmentSpec")
            .field("connector_id", &self.connector_id)
            .field("epoch", &self.epoch)
            .field("connection_string", &crate::redact(&self.connection_string))
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

/// A connector's lifecycle as its supervisor reports it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LifecycleState {
    /// Checking and connecting.
    Starting,
    Running,
    /// Stopped by an error it cannot get past by itself (it retries with backoff).
    Failed,
    /// Stopped by the worker (paused, moved, drained).
    Stopped,
}

impl LifecycleState {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Starting => "starting",
            LifecycleState::Running => "running",
            LifecycleState::Failed => "failed",
            LifecycleState::Stopped => "stopped",
        }
    }
}

/// Where one collection's pipeline is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CollectionPhase {
    /// Not started.
    Pending,
    /// Preflight checks running.
    Checking,
    /// Checks passed, the MongoDB client is held; the sync pipelines start from here.
    Ready,
    InitialSync,
    Streaming,
    /// Stopped by an error about this collection (see the connector's last error).
    Failed,
}

/// One collection as reported.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionReport {
    pub phase: CollectionPhase,
    /// Why it is failed, a stable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// While it copies or streams: how long MongoDB has not answered its scan or change stream
    /// (an idle stream still answers, with empty batches), in milliseconds at the time of the
    /// report. The api shows a stream that stopped delivering in the connector's health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_ms: Option<u64>,
}

/// An error with what to do about it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportedError {
    #[schema(example = "pre_and_post_images_disabled")]
    pub code: String,
    pub message: String,
    pub remediation: String,
    /// RFC 3339.
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum EventLevel {
    Info,
    Warn,
    Error,
}

impl EventLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            EventLevel::Info => "info",
            EventLevel::Warn => "warn",
            EventLevel::Error => "error",
        }
    }

    pub fn severity(self) -> i16 {
        match self {
            EventLevel::Info => 1,
            EventLevel::Warn => 2,
            EventLevel::Error => 3,
        }
    }
}

/// A diagnostics event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportedEvent {
    pub level: EventLevel,
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub context: serde_json::Value,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// `POST /internal/v1/workers/{workerId}/connectors/{connectorId}/report`. 204 when taken; 409
/// `stale_epoch` when the connector is no longer this worker's at this epoch: stop it at once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorReport {
    pub epoch: i64,
    /// Grows with every report of one run (epoch); the api ignores a report whose `seq` it has
    /// already taken, so a retried report does not store its events twice.
    #[serde(default)]
    pub seq: u64,
    /// The next report comes within this many milliseconds (0: no promise, e.g. `stopped`).
    /// Past it the connector shows health yellow, and past it by a lease, red and `pending`.
    #[serde(default)]
    pub next_report_within_ms: u64,
    pub state: LifecycleState,
    #[serde(default)]
    pub collections: BTreeMap<String, CollectionReport>,
    /// Counters of this run (documents copied, events applied, errors...), by name; they start
    /// from zero when the connector is restarted or moved.
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
    /// The error behind `failed` (or the latest one recovered from); `null` keeps the stored
    /// one, so an error stays visible after a restart.
    #[serde(default)]
    pub last_error: Option<ReportedError>,
    #[serde(default)]
    pub events: Vec<ReportedEvent>,
}

/// Writes to the edge store and a checkpoint in one batch.
pub const MAX_WRITES_PER_APPLY: usize = 5_000;

/// One document as MongoDB reports it, already mapped (see `edgebridge_mongo::mapping`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "lowercase", try_from = "WireWrite")]
pub enum EdgeWrite {
    /// Make the edge document read as `body` (fields that differ are written, fields MongoDB
    /// no longer has are removed).
    Upsert {
        /// The edge `_id`.
        id: serde_json::Value,
        /// The fields, settable counters taken out.
        body: serde_json::Map<String, serde_json::Value>,
        /// Settable counters present, with their values (each a reset).
        #[serde(default)]
        counters: Vec<(Vec<String>, f64)>,
        /// The BSON type tree (native mode), for the way back.
        #[serde(default)]
        types: Option<serde_json::Value>,
        /// An update's pre-image, mapped the same way: only what changed between the two is
        /// written, so an edge edit not yet in MongoDB is not overwritten by MongoDB's stale
        /// copy of that field. Absent for inserts, replaces and the initial scan.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<Box<PreImage>>,
    },
    Delete {
        id: serde_json::Value,
    },
    /// What MongoDB holds after the connector's own write-back (an event of one of its
    /// sessions): nothing is written to the edge. When the edge reads otherwise, MongoDB
    /// overwrote something the edge has (a concurrent write), so the document is queued for
    /// write-back again with the edge's state. `body: None`: MongoDB no longer has it.
    Verify {
        id: serde_json::Value,
        #[serde(default)]
        body: Option<serde_json::Map<String, serde_json::Value>>,
        #[serde(default)]
        counters: Vec<(Vec<String>, f64)>,
    },
}

/// How an [`EdgeWrite`] is read: every variant's fields in one flat struct, deserialized
/// straight from the stream. serde's internally tagged enums first buffer each value whole (its
/// `Content` tree), then convert it, which doubled the cost of reading a batch of documents.
/// The JSON is the same either way: `{"op": "upsert", "id": ..., "body": {...}, ...}`.
#[derive(Deserialize)]
struct WireWrite {
    op: WireOp,
    id: serde_json::Value,
    #[serde(default)]
    body: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    counters: Vec<(Vec<String>, f64)>,
    #[serde(default)]
    types: Option<serde_json::Value>,
    #[serde(default)]
    before: Option<Box<PreImage>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireOp {
    Upsert,
    Delete,
    Verify,
}

impl TryFrom<WireWrite> for EdgeWrite {
    type Error = &'static str;

    fn try_from(w: WireWrite) -> Result<Self, Self::Error> {
        Ok(match w.op {
            WireOp::Upsert => EdgeWrite::Upsert {
                id: w.id,
                body: w
                    .body
                    .ok_or("missing field `body` (an upsert states the document)")?,
                counters: w.counters,
                types: w.types,
                before: w.before,
            },
            WireOp::Delete => EdgeWrite::Delete { id: w.id },
            WireOp::Verify => EdgeWrite::Verify {
                id: w.id,
                body: w.body,
                counters: w.counters,
            },
        })
    }
}

impl EdgeWrite {
    /// The edge `_id` the write is about.
    pub fn id(&self) -> &serde_json::Value {
        match self {
            EdgeWrite::Upsert { id, .. }
            | EdgeWrite::Delete { id }
            | EdgeWrite::Verify { id, .. } => id,
        }
    }
}

/// A mapped pre-image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PreImage {
    pub body: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub counters: Vec<(Vec<String>, f64)>,
}

/// Where a collection's pipeline is, as persisted (fenced by epoch) after each applied batch.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointPhase {
    /// Scanning: resume the scan after `scanAfter`, then stream from `resumeToken`.
    InitialSync,
    /// Streaming from `resumeToken`.
    Streaming,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CollectionCheckpoint {
    pub phase: CheckpointPhase,
    /// Canonical Extended JSON of the change stream's resume token.
    pub resume_token: Option<serde_json::Value>,
    /// Canonical Extended JSON of the last scanned `_id` (initial sync).
    #[serde(default)]
    pub scan_after: Option<serde_json::Value>,
    /// Documents copied by the initial sync so far.
    #[serde(default)]
    pub copied: u64,
    #[serde(default)]
    pub estimated_total: Option<u64>,
}

/// `POST .../connectors/{connectorId}/apply`: the writes and the checkpoint after them, in one
/// transaction, only for the connector's current owner at this epoch (409 otherwise).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplyRequest {
    pub epoch: i64,
    pub collection: String,
    #[serde(default)]
    pub writes: Vec<EdgeWrite>,
    pub checkpoint: CollectionCheckpoint,
}

/// A write the edge store refused (too large, too deep, an unusable `_id`); the rest of the
/// batch is applied and the checkpoint moves past it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SkippedWrite {
    pub id: serde_json::Value,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResponse {
    /// Documents that changed (a write equal to what the edge holds changes nothing).
    pub changed: usize,
    pub skipped: Vec<SkippedWrite>,
}

/// One edge-store change for the write-back path: a document of a mapped collection, written by
/// someone other than this connector.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FeedChange {
    /// Resume after this change by passing it as `after`.
    pub cursor: String,
    pub collection: String,
    /// The edge `_id`.
    pub id: serde_json::Value,
    /// The document as the edge reads it now (not as of this change: a write-back always
    /// writes the current state, so replaying an old change is harmless); `None` when it is
    /// deleted.
    pub document: Option<serde_json::Map<String, serde_json::Value>>,
    /// The document's BSON type tree (the connector's metadata slot), for restoring types.
    pub types: Option<serde_json::Value>,
}

/// `GET .../connectors/{connectorId}/changes?epoch=&after=&limit=&wait=`: the feed of the
/// connector's mapped collections without its own writes, for its owner at `epoch`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FeedPage {
    pub changes: Vec<FeedChange>,
    /// Pass as `after` next time (also when `changes` is empty).
    pub next_cursor: Option<String>,
}

/// `GET`/`PUT .../connectors/{connectorId}/write-back`: how far the write-back has taken the
/// feed (`cursor: None`: from its beginning), saved after each commit to MongoDB, for the
/// connector's owner at `epoch`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WriteBackPosition {
    pub epoch: i64,
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edge_writes_read_back_as_written_whatever_the_key_order() {
        let writes = vec![
            EdgeWrite::Upsert {
                id: json!("a"),
                body: json!({"_id": "a", "n": 1}).as_object().unwrap().clone(),
                counters: vec![(vec!["qty".into()], 2.0)],
                types: Some(json!({"n": "long"})),
                before: Some(Box::new(PreImage {
                    body: json!({"_id": "a", "n": 0}).as_object().unwrap().clone(),
                    counters: vec![],
                })),
            },
            EdgeWrite::Upsert {
                id: json!(1),
                body: serde_json::Map::new(),
                counters: vec![],
                types: None,
                before: None,
            },
            EdgeWrite::Delete {
                id: json!({"k": 1}),
            },
            EdgeWrite::Verify {
                id: json!("v"),
                body: None,
                counters: vec![],
            },
        ];
        let text = serde_json::to_string(&writes).unwrap();
        assert!(text.starts_with(r#"[{"op":"upsert","id":"a""#), "{text}");
        let back: Vec<EdgeWrite> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, writes);
        // The tag may come last; unknown fields are ignored.
        let late: EdgeWrite =
            serde_json::from_value(json!({"id": 3, "extra": true, "op": "delete"})).unwrap();
        assert_eq!(late, EdgeWrite::Delete { id: json!(3) });
        let err = serde_json::from_value::<EdgeWrite>(json!({"op": "upsert", "id": 3}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `body`"), "{err}");
        let err = serde_json::from_value::<EdgeWrite>(json!({"op": "merge", "id": 3}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `merge`"), "{err}");
    }
}

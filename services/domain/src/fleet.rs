//! The internal API between the api and its workers (`/internal/v1/...`), as types both sides
//! share. Every message about a connector names its assignment epoch: the api refuses a stale
//! one (409 `stale_epoch`), which is how a paused or cut-off worker is fenced out.
//!
//! Flow: a worker registers with the operator's worker token and gets its id and a short-lived
//! worker JWT; it heartbeats every `heartbeatIntervalMs`, and each answer lists its assignments
//! (connector id + epoch) and a fresh JWT; it fetches the spec of an assigned connector at that
//! epoch, runs it, and reports; on shutdown it reports its connectors stopped and deregisters.

mod monitoring;
mod sync;

pub use monitoring::*;
pub use sync::*;

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
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CollectionPhase {
    /// Not started.
    #[default]
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
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
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
    /// MongoDB -> edge lag at the time of the report, in milliseconds: now minus the cluster
    /// time of the last change stream event applied to the edge, 0 when the stream is caught up
    /// (nothing read and not applied). Absent before the stream starts (while it copies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
    /// The cluster time of the last change stream event applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The last time the collection was known up to date from MongoDB: its stream caught up,
    /// or its copy finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a collection's sync did, as numbers: in a report, since the previous report the api
/// took (the api adds them to the totals kept across runs); in the api, since the connector was
/// created.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncTotals {
    /// Documents copied by initial syncs.
    #[serde(default)]
    pub copied: u64,
    /// Change stream events applied to the edge.
    #[serde(default)]
    pub applied: u64,
    /// Edge changes written to MongoDB.
    #[serde(default)]
    pub written_back: u64,
    /// Documents or events left out (filtered, unmappable, echoes).
    #[serde(default)]
    pub skipped: u64,
    /// Edge documents MongoDB refused (recorded as unsynced).
    #[serde(default)]
    pub unsynced: u64,
    /// Failures of the collection's pipeline (each restart counts one).
    #[serde(default)]
    pub errors: u64,
}

impl SyncTotals {
    pub fn is_zero(&self) -> bool {
        *self == SyncTotals::default()
    }

    /// `self - earlier`, field by field (never below zero).
    pub fn since(&self, earlier: &SyncTotals) -> SyncTotals {
        SyncTotals {
            copied: self.copied.saturating_sub(earlier.copied),
            applied: self.applied.saturating_sub(earlier.applied),
            written_back: self.written_back.saturating_sub(earlier.written_back),
            skipped: self.skipped.saturating_sub(earlier.skipped),
            unsynced: self.unsynced.saturating_sub(earlier.unsynced),
            errors: self.errors.saturating_sub(earlier.errors),
        }
    }

    pub fn add(&mut self, other: &SyncTotals) {
        self.copied += other.copied;
        self.applied += other.applied;
        self.written_back += other.written_back;
        self.skipped += other.skipped;
        self.unsynced += other.unsynced;
        self.errors += other.errors;
    }
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
    /// Reported only while the connector is in debug mode.
    Debug,
    Info,
    Warn,
    Error,
}

impl EventLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            EventLevel::Debug => "debug",
            EventLevel::Info => "info",
            EventLevel::Warn => "warn",
            EventLevel::Error => "error",
        }
    }

    pub fn severity(self) -> i16 {
        match self {
            EventLevel::Debug => 0,
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
    /// The collection it concerns, to filter events by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// The document it concerns (its edge id as JSON text), to filter events by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
}

/// `POST /internal/v1/workers/{workerId}/connectors/{connectorId}/report`. 200 with a [`ReportAnswer`] when taken (or when a retry of one taken); 409
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
    /// What each collection did since the previous report the api took (`$writeBack`-style
    /// names are the connector's own work). Added to the totals once: a retried report
    /// (same `seq`) is not counted again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deltas: BTreeMap<String, SyncTotals>,
    /// Documents' sync steps since the previous report (at most [`MAX_TRACE_STEPS_PER_REPORT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<TraceStep>,
    /// Steps recorded but not sent (more than a report carries), since the previous report.
    #[serde(default)]
    pub traces_dropped: u64,
    /// Events the worker left out since the previous report (debug events past their rate
    /// limit, or past what a report carries): counted in the connector's `dropped`.
    #[serde(default)]
    pub events_dropped: u64,
    /// The cluster's oplog window as last measured (`None`: not measured in this run yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oplog: Option<OplogWindow>,
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

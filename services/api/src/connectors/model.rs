//! Connector DTOs. The request body is validated by the domain crate from raw JSON (so every
//! violation is reported at once); `ConnectorIn` documents its shape for the OpenAPI document.

use chrono::{DateTime, Utc};
use edgebridge_domain::fleet::{CollectionPhase, ReportedError};
use edgebridge_domain::plan::ReconfigurationPlan;
use edgebridge_domain::{CollectionMapping, OnHistoryLost, SyncMode, Violation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

pub use edgebridge_domain::DesiredState;

/// Where the connector is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorStatus {
    /// Saved, not running yet.
    Pending,
    Running,
    /// Stopped by an error; see `statusDetail`.
    Failed,
    /// Paused by the user.
    Paused,
}

/// Why the connector is in its status (set for failures).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetail {
    #[schema(example = "collection_not_found")]
    pub code: Option<String>,
    pub message: Option<String>,
    /// What to do about it.
    pub remediation: Option<String>,
    pub since: DateTime<Utc>,
}

/// How the connector is doing, at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Running as asked (or paused as asked).
    Green,
    /// Getting there, or running with a recent error it recovered from.
    Yellow,
    /// Failed, or its worker stopped reporting.
    Red,
}

/// `state` with the reason, a stable code and words.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub state: HealthState,
    #[schema(example = "worker_unresponsive")]
    pub code: String,
    pub reason: String,
}

/// The worker running the connector (its name only).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignedWorker {
    #[schema(example = "worker-7f9c")]
    pub name: String,
    /// Since when it has the connector.
    pub since: DateTime<Utc>,
}

/// Settings of one synced collection, as sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionMappingIn {
    /// `["_id"]` to match IDs, one other top-level field, or several for a composite ID.
    #[schema(example = json!(["_id"]))]
    pub fields: Vec<String>,
    /// Copy existing documents when the collection is added or its ID mapping changes. Default false.
    pub initial_sync: Option<bool>,
    /// `json` (default) or `ejson`.
    pub mode: Option<SyncMode>,
    /// Default true. Must be false for `ejson` and for settable counters.
    pub dql_strict_mode: Option<bool>,
    /// A MongoDB query document: only matching documents are synced.
    #[schema(value_type = Option<Object>, example = json!({"deleted": false}))]
    pub filter: Option<serde_json::Value>,
    /// Numeric field paths synced as settable counters.
    #[schema(example = json!(["quantity", "order.qty"]))]
    pub settable_counters: Option<Vec<String>>,
    /// The reference product's spelling of `settableCounters`, accepted for pasted specs.
    pub ditto_types: Option<DittoTypesIn>,
}

/// `{"settableCounters": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DittoTypesIn {
    pub settable_counters: Option<Vec<String>>,
}

/// A connector spec in which every member may be left out: the body of validate (every problem
/// is reported) and of a merge patch (members left out stay as they are; `null` removes one, e.g.
/// a collection).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"collections": {"users": null, "stores": {"fields": ["_id"], "initialSync": true}}}))]
pub struct ConnectorDraft {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Never returned in clear; sending the redacted value you read keeps the stored one.
    pub connection_string: Option<String>,
    pub database: Option<String>,
    /// Collection name -> settings (or `null` in a merge patch to stop syncing it).
    #[schema(value_type = Option<BTreeMap<String, CollectionMappingIn>>)]
    pub collections: Option<BTreeMap<String, Option<CollectionMappingIn>>>,
    pub auto_configure: Option<bool>,
    /// When a collection's change stream cannot resume (its history rolled off the oplog):
    /// `fail` (default) or `resync` (copy the collection again).
    pub on_history_lost: Option<OnHistoryLost>,
    /// `running` or `paused` (see `ConnectorIn`); in a merge patch it must be left out or equal
    /// the current state: pause and resume have their own operations.
    pub desired_state: Option<DesiredState>,
}

/// A connector as sent on create and replace. The output-only members of a connector you read
/// (`id`, `appId`, `status`, `statusDetail`, `health`, `assignedWorker`, `collectionStatus`,
/// `counters`, `lastError`, `version`, `createdAt`, `updatedAt`) may be sent back as read:
/// they are ignored, so get, modify, put works.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "name": "retail",
    "description": "store data for the retail app",
    "connectionString": "mongodb+srv://user:pass@cluster.example.net/",
    "database": "retail-demo",
    "collections": {
        "tasks": {"fields": ["_id"], "initialSync": true, "mode": "ejson", "dqlStrictMode": false},
        "users": {"fields": ["userId"]},
        "orders": {"fields": ["orderId", "storeId"], "initialSync": true, "filter": {"deleted": false},
                   "settableCounters": ["quantity", "order.qty"], "dqlStrictMode": false}
    }
}))]
pub struct ConnectorIn {
    /// 1-64 letters, digits, '-', '_' or '.', unique in the app.
    pub name: String,
    pub description: Option<String>,
    /// `mongodb://` or `mongodb+srv://`. Required on create; on replace, leave it out (or send
    /// the redacted value you read) to keep the stored one. Never returned in clear.
    pub connection_string: Option<String>,
    /// The MongoDB database to sync.
    pub database: String,
    /// Collection name -> settings. At least one.
    pub collections: BTreeMap<String, CollectionMappingIn>,
    /// Let the connector enable change stream pre- and post-images itself (`collMod`, which its
    /// database user must be allowed) where they are off. Default false.
    pub auto_configure: Option<bool>,
    /// When a collection's change stream cannot resume (its history rolled off the oplog):
    /// `fail` (default) or `resync` (copy the collection again).
    pub on_history_lost: Option<OnHistoryLost>,
    /// On create: `running` (the default) starts syncing; `paused` saves the connector without
    /// running it, so you can test it (`POST .../test`) and start it later (`POST .../resume`).
    /// On replace it must be left out or equal the current state: pause and resume have their
    /// own operations.
    pub desired_state: Option<DesiredState>,
}

/// A connector. The connection string is shown only redacted.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorOut {
    pub id: Uuid,
    pub app_id: Uuid,
    #[schema(example = "retail")]
    pub name: String,
    pub description: String,
    /// The password and secret options replaced by `****`.
    #[schema(example = "mongodb+srv://user:****@cluster.example.net/")]
    pub connection_string: String,
    #[schema(example = "retail-demo")]
    pub database: String,
    /// Collection name -> normalized settings (defaults filled in).
    pub collections: BTreeMap<String, CollectionMapping>,
    /// Whether the connector enables pre- and post-images itself where they are off.
    pub auto_configure: bool,
    pub on_history_lost: OnHistoryLost,
    pub desired_state: DesiredState,
    pub status: ConnectorStatus,
    pub status_detail: Option<StatusDetail>,
    pub health: Health,
    /// `null` while no worker has the connector.
    pub assigned_worker: Option<AssignedWorker>,
    /// Per collection, where its pipeline is (as last reported; `pending` before any report),
    /// and how far its copy is while one runs.
    pub collection_status: BTreeMap<String, CollectionStatus>,
    /// How far behind the connector is, each way: the worst of its collections.
    pub lag: super::stats::Lag,
    /// The connector is in sync with MongoDB up to then: the oldest of its collections' last
    /// syncs (`null` while one has never synced).
    pub last_synced_at: Option<DateTime<Utc>>,
    /// What it did since it was created (the sum of its collections), across restarts and
    /// moves; `counters` hold the current run's.
    pub totals: edgebridge_domain::fleet::SyncTotals,
    /// Documents per second each way, lately (its collections together).
    pub throughput: super::stats::Throughput,
    /// How long it could stop and still resume its change streams (the oplog window against
    /// its oldest resume point), where the database user may read the oplog.
    pub resume_point: super::stats::ResumePoint,
    /// Counters of the current run (documents copied, events applied...), reported by its worker;
    /// they start from zero when the connector restarts or moves.
    pub counters: BTreeMap<String, u64>,
    /// The latest error, also after the connector recovered from it.
    pub last_error: Option<ReportedError>,
    /// The configuration version; the `ETag` is this number in quotes.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One collection of a connector: its pipeline's phase and, during a copy, its progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionStatus {
    pub phase: CollectionPhase,
    /// Why it is failed, a stable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "resume_point_lost")]
    pub code: Option<String>,
    /// Present while the collection is being copied (initial sync or resync), including while
    /// the copy waits for a worker; it resumes where it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_sync: Option<CopyProgress>,
    /// How far behind the collection is, each way.
    pub lag: super::stats::Lag,
    /// The last time the collection was known up to date from MongoDB (its stream caught up,
    /// or its copy finished); `null` before.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// What its sync did since the connector was created, across restarts and moves.
    pub totals: edgebridge_domain::fleet::SyncTotals,
    /// Documents per second each way, lately.
    pub throughput: super::stats::Throughput,
}

/// How far a collection's copy is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CopyProgress {
    /// Documents copied so far by this copy.
    #[schema(example = 120000)]
    pub copied: u64,
    /// MongoDB's estimate of the collection's size when the copy began; `null` when unknown.
    #[schema(example = 500000)]
    pub estimated_total: Option<u64>,
    /// `copied` of `estimatedTotal`, 0-100 (capped at 100: the estimate can be low).
    #[schema(example = 24.0)]
    pub percent: Option<f64>,
    /// The recent copy rate, smoothed over about 10 seconds; `null` when the copy is not
    /// moving (no worker, paused, or just started).
    #[schema(example = 21500.0)]
    pub documents_per_second: Option<f64>,
    /// Seconds left at the current rate; `null` without a rate or an estimate.
    #[schema(example = 18)]
    pub eta_seconds: Option<u64>,
    /// When this copy began.
    pub started_at: Option<DateTime<Utc>>,
    /// When its last batch was applied.
    pub updated_at: DateTime<Utc>,
}

impl CopyProgress {
    /// Fills in the derived figures. A rate older than `stale_after` seconds is not shown.
    pub fn new(
        copied: u64,
        estimated_total: Option<u64>,
        rate: Option<f64>,
        idle_secs: f64,
        started_at: Option<DateTime<Utc>>,
        updated_at: DateTime<Utc>,
    ) -> CopyProgress {
        const STALE_AFTER_SECS: f64 = 30.0;
        let rate = rate.filter(|r| r.is_finite() && *r > 0.0 && idle_secs < STALE_AFTER_SECS);
        let percent = estimated_total.map(|total| {
            if total == 0 {
                100.0
            } else {
                ((copied as f64 / total as f64) * 1000.0)
                    .round()
                    .min(1000.0)
                    / 10.0
            }
        });
        let eta_seconds = match (rate, estimated_total) {
            (Some(rate), Some(total)) => {
                Some((total.saturating_sub(copied) as f64 / rate).ceil() as u64)
            }
            _ => None,
        };
        CopyProgress {
            copied,
            estimated_total,
            percent,
            documents_per_second: rate.map(|r| (r * 10.0).round() / 10.0),
            eta_seconds,
            started_at,
            updated_at,
        }
    }
}

/// A connector spec as it would be saved (validate answers with this).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NormalizedConnector {
    pub name: String,
    pub description: String,
    #[schema(example = "mongodb+srv://user:****@cluster.example.net/")]
    pub connection_string: Option<String>,
    pub database: String,
    pub collections: BTreeMap<String, CollectionMapping>,
    pub auto_configure: bool,
    pub on_history_lost: OnHistoryLost,
}

/// The answer to a replace or patch: the connector and what the change does.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorUpdate {
    /// The connector after the change (with `dryRun`, as it would be; nothing was saved).
    pub connector: ConnectorOut,
    pub plan: ReconfigurationPlan,
    /// True when nothing was saved.
    pub dry_run: bool,
}

/// The answer to validate.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    pub valid: bool,
    /// Every problem found, each with its JSON pointer.
    pub errors: Vec<Violation>,
    /// The spec with defaults filled in, whenever it is well-formed (also when the only problem is
    /// a name already taken).
    pub connector: Option<NormalizedConnector>,
}

/// One page of connectors.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorPage {
    pub items: Vec<ConnectorOut>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `?dryRun=true` on replace and patch.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DryRunParams {
    /// Answer with the plan and the resulting connector, but save nothing.
    #[serde(default)]
    pub dry_run: bool,
}

//! What workers report for monitoring beside their status: the oplog window, the
//! per-document trace steps, and the api's answer to a report (debug mode).

use serde::{Deserialize, Serialize};

/// How far back the cluster's oplog reaches, as a worker measured it: a resume token older than
/// its start cannot resume a change stream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OplogWindow {
    /// When it was measured.
    pub measured_at: chrono::DateTime<chrono::Utc>,
    /// The cluster time of the oldest oplog entry; `None` when unknown.
    #[serde(default)]
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it is unknown (the user may not read `local.oplog.rs`, the read failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_because: Option<String>,
    /// The oplog's start moved between two measures of this run: it is full and rolls over,
    /// so old entries (and resume points) leave it. Until then nothing does.
    #[serde(default)]
    pub rolling: bool,
}

pub const MAX_TRACE_STEPS_PER_REPORT: usize = 5_000;

/// Which way a document's sync step went.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TraceDirection {
    MongoToEdge,
    EdgeToMongo,
}

impl TraceDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceDirection::MongoToEdge => "mongo_to_edge",
            TraceDirection::EdgeToMongo => "edge_to_mongo",
        }
    }
}

/// One sync step of one document: a MongoDB change read (operation, cluster time, resume
/// token, fields changed), its edge write's outcome (merged with an edge edit, refused), a
/// write to MongoDB (transaction, session), an echo of one recognised, a refusal and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TraceStep {
    pub at: chrono::DateTime<chrono::Utc>,
    pub collection: String,
    /// The document's edge id as JSON text.
    pub document_id: String,
    pub direction: TraceDirection,
    /// `mongo_change`, `edge_merged`, `edge_refused`, `echo`, `echo_differs`, `write_back`,
    /// `refused`.
    pub step: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// The api's answer to a report it took (200).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportAnswer {
    /// While set and in the future: report each event and write as a debug event.
    #[serde(default)]
    pub debug_until: Option<chrono::DateTime<chrono::Utc>>,
}

//! Alerts: rules per app (defaults) and per connector (overrides), built-in defaults for every
//! kind without a rule, an evaluation cycle that moves each alert pending -> firing -> resolved
//! durably in Postgres (one evaluator at a time, whatever the number of replicas), and a
//! notification per transition (a webhook message whose dedupe key is the alert and its state,
//! so a transition is notified once even across a restart).

pub mod evaluate;
pub mod routes;
pub mod transitions;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an alert watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The connector lags more than `threshold` seconds (either way) for `forSecs`.
    Lag,
    /// Failures above `threshold` % of the documents synced plus failures, over `windowSecs`.
    ErrorRate,
    /// The connector failed (its worker reported `failed`), for `forSecs`.
    ConnectorFailed,
    /// The connector ran and is no longer running although nobody paused it (its worker went
    /// silent, it waits for a worker, it is stuck starting), for `forSecs`.
    StoppedUnexpectedly,
    /// A copying or streaming collection has had no answer from MongoDB for more than
    /// `threshold` seconds (default: the api's stream-stall setting).
    StreamStalled,
    /// More than `threshold` edge documents were refused by MongoDB (recorded as unsynced)
    /// within `windowSecs`.
    UnsyncedIncreasing,
    /// The oldest resume point would leave the oplog in less than `threshold` seconds if the
    /// connector stopped moving it on (stopped, failing, far behind): past that, the collection
    /// needs a resync. Evaluated where the oplog's window is known (the database user may read
    /// `local.oplog.rs`); unknown otherwise (the connector's `resumePoint` says why).
    ResumePointAtRisk,
}

impl AlertKind {
    pub const ALL: [AlertKind; 7] = [
        AlertKind::Lag,
        AlertKind::ErrorRate,
        AlertKind::ConnectorFailed,
        AlertKind::StoppedUnexpectedly,
        AlertKind::StreamStalled,
        AlertKind::UnsyncedIncreasing,
        AlertKind::ResumePointAtRisk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Lag => "lag",
            AlertKind::ErrorRate => "error_rate",
            AlertKind::ConnectorFailed => "connector_failed",
            AlertKind::StoppedUnexpectedly => "stopped_unexpectedly",
            AlertKind::StreamStalled => "stream_stalled",
            AlertKind::UnsyncedIncreasing => "unsynced_increasing",
            AlertKind::ResumePointAtRisk => "resume_point_at_risk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The built-in rule: (threshold, for seconds, window seconds).
    pub fn default_rule(self, stream_stall_secs: f64) -> (Option<f64>, i32, Option<i32>) {
        match self {
            AlertKind::Lag => (Some(300.0), 300, None),
            AlertKind::ErrorRate => (Some(5.0), 0, Some(900)),
            AlertKind::ConnectorFailed => (None, 0, None),
            AlertKind::StoppedUnexpectedly => (None, 300, None),
            AlertKind::StreamStalled => (Some(stream_stall_secs), 0, None),
            AlertKind::UnsyncedIncreasing => (Some(0.0), 0, Some(900)),
            AlertKind::ResumePointAtRisk => (Some(3600.0), 0, None),
        }
    }

    /// Whether the kind has a threshold and a window.
    pub fn takes(self) -> (bool, bool) {
        match self {
            AlertKind::Lag | AlertKind::StreamStalled | AlertKind::ResumePointAtRisk => {
                (true, false)
            }
            AlertKind::ErrorRate | AlertKind::UnsyncedIncreasing => (true, true),
            AlertKind::ConnectorFailed | AlertKind::StoppedUnexpectedly => (false, false),
        }
    }
}

//! What a run reports: each check's status and result, and the whole run's report.

use serde::Serialize;
use utoipa::ToSchema;

/// A check's outcome. `warning`: something to fix that does not stop the connector (with a
/// code and a remediation, like a failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Passed,
    Failed,
    Skipped,
    Warning,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// Which check: `connection_string`, `target_allowed`, `cluster_reachable`, `replica_set`,
    /// `list_databases`, `list_collections`, `database_exists`, `collection_exists`,
    /// `collection_not_capped`, `pre_and_post_images`, `id_index`, `sync_privileges`,
    /// `shard_metadata`, `metadata_collections`.
    #[schema(example = "pre_and_post_images")]
    pub check: &'static str,
    pub status: CheckStatus,
    /// The collection this check is about (per-collection checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Why it failed or warns, stable (see the README's table).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "pre_and_post_images_disabled")]
    pub code: Option<&'static str>,
    pub message: String,
    /// What to do about a failure or a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    pub duration_ms: u64,
}

/// All checks of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreflightReport {
    /// True when no check failed (warnings do not stop a connector).
    pub ok: bool,
    pub checks: Vec<CheckResult>,
    /// What `autoConfigure` changed in MongoDB, in words.
    pub changes: Vec<String>,
    pub duration_ms: u64,
}

impl PreflightReport {
    /// The first failure, for a connector's `failed` status.
    pub fn first_failure(&self) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.status == CheckStatus::Failed)
    }
}

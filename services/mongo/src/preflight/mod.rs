//! The checks a connector passes before it starts, and on demand ("test connection", also for an
//! unsaved spec). Each failure has a stable code, a message that names the object, and a
//! remediation. A failed check skips the checks that depend on it, and says so. A warning has a
//! code and a remediation too, but the connector still runs.
//!
//! This file holds the entry point ([`run`]), the order of the checks and the bound on each step;
//! the submodules hold the request and report types, the run's bookkeeping, the remediation
//! texts, the checks themselves (reaching the cluster, the deployment and catalog, the
//! collections, the ID fields' unique indexes, the privileges and metadata collections) and the
//! check of the members a cluster advertises.

mod access;
mod checks;
mod collections;
mod indexes;
mod members;
mod reach;
mod recorder;
mod remedy;
mod report;
mod request;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{ErrorKind, PortError};
use crate::port::MongoConnector;
use checks::run_checks;
use recorder::Run;

pub use report::{CheckResult, CheckStatus, PreflightReport};
pub use request::{PreflightOptions, PreflightRequest};

/// Every check, in the order they run.
pub const ORDER: [&str; 14] = [
    "connection_string",
    "target_allowed",
    "cluster_reachable",
    "replica_set",
    "list_databases",
    "list_collections",
    "database_exists",
    "collection_exists",
    "collection_not_capped",
    "pre_and_post_images",
    "id_index",
    "sync_privileges",
    "shard_metadata",
    "metadata_collections",
];

const PER_COLLECTION: [&str; 5] = [
    "collection_exists",
    "collection_not_capped",
    "pre_and_post_images",
    "id_index",
    "sync_privileges",
];

/// What syncing a collection needs: read it, watch it, and write back to it.
const SYNC_ACTIONS: [&str; 5] = ["find", "changeStream", "insert", "update", "remove"];

/// What the write-back does to the metadata collections: reads them when it starts, upserts its
/// session's record and the documents MongoDB refused, updates and deletes them.
const METADATA_ACTIONS: [&str; 4] = ["find", "insert", "update", "remove"];

async fn bounded<T>(
    limit: Duration,
    what: &str,
    step: impl Future<Output = Result<T, PortError>>,
) -> Result<T, PortError> {
    match tokio::time::timeout(limit, step).await {
        Ok(result) => result,
        Err(_) => Err(PortError::new(
            ErrorKind::Timeout,
            format!("{what} did not answer within {} s", limit.as_secs()),
        )),
    }
}

/// Runs every check against the deployment `connector` reaches.
pub async fn run(
    connector: &dyn MongoConnector,
    request: &PreflightRequest,
    options: &PreflightOptions,
) -> PreflightReport {
    let started = Instant::now();
    let mut run = Run {
        checks: Vec::new(),
        changes: Vec::new(),
    };
    let finished = tokio::time::timeout(
        options.total_timeout,
        run_checks(connector, request, options, &mut run),
    )
    .await;
    if finished.is_err() {
        run.out_of_time(&request.collections, options.total_timeout);
    }
    PreflightReport {
        ok: run
            .checks
            .iter()
            .all(|c| matches!(c.status, CheckStatus::Passed | CheckStatus::Warning)),
        checks: run.checks,
        changes: run.changes,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

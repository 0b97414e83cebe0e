//! Starting a connector: fetching its spec, the retry loop with backoff, and one start (preflight
//! checks, then a client for the cluster).

use super::report::{Reporter, event, fail};
use super::running::watch_cluster;
use super::{Context, Progress, Stop, SupervisorSettings};
use crate::client::ClientError;
use backon::BackoffBuilder;
use chrono::Utc;
use edgebridge_domain::MongoUri;
use edgebridge_domain::fleet::{
    CollectionPhase, CollectionReport, ConnectorAssignmentSpec, EventLevel, LifecycleState,
    ReportedError,
};
use edgebridge_mongo::port::MongoPort;
use edgebridge_mongo::preflight::{self, CheckStatus, PreflightRequest};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A run at least this long counts as healthy (its failure restarts the backoff).
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Waits `wait`, or returns `Err` when cancelled first.
async fn pause(cancel: &CancellationToken, wait: Duration) -> Result<(), Stop> {
    tokio::select! {
        _ = cancel.cancelled() => Err(Stop::Cancelled),
        _ = tokio::time::sleep(wait) => Ok(()),
    }
}

/// Fetches the spec at this epoch (a 409: it moved on already, end quietly; anything else:
/// report `failed` with `spec_unavailable` and retry with backoff), then supervises.
pub(super) async fn fetch_and_supervise(ctx: &Context, reporter: &mut Reporter) -> Stop {
    let connector_id = ctx.assignment.connector_id;
    let mut backoff = retry_delays(&ctx.settings);
    let mut reported = false;
    let spec = loop {
        match ctx
            .client
            .connector(connector_id, ctx.assignment.epoch)
            .await
        {
            Ok(spec) => break spec,
            Err(ClientError::Fenced(_) | ClientError::Expired(_)) => return Stop::Fenced,
            Err(e) => {
                tracing::warn!(%connector_id, error = %e, "could not fetch the connector's spec");
                if !reported {
                    reporter.last_error = Some(spec_error(&e));
                    if let Err(stop) = reporter
                        .send(LifecycleState::Failed, BTreeMap::new(), Vec::new())
                        .await
                    {
                        return stop;
                    }
                    reported = true;
                    settled(&ctx.progress);
                }
                let wait = backoff.next().unwrap_or(ctx.settings.retry_max);
                if let Err(stop) = pause(&ctx.cancel, wait).await {
                    return stop;
                }
            }
        }
    };
    reporter.collections = spec.collections.keys().cloned().collect();
    tracing::info!(%connector_id, epoch = spec.epoch, connector = %spec.name, "supervisor started");
    supervise(ctx, &spec, reporter).await
}

/// What a user is told when the spec cannot be fetched.
fn spec_error(e: &ClientError) -> ReportedError {
    let (code, message, remediation) = match e {
        ClientError::SecretUnavailable(_) => (
            crate::client::SECRET_UNAVAILABLE,
            "The api cannot open the connector's stored connection string: the encryption key it was saved under is no longer configured.".to_owned(),
            "Replace the connection string (PUT or PATCH the connector with a new connectionString), or ask the operator to restore the key it was saved under (EDGEBRIDGE_ENCRYPTION_KEYS).",
        ),
        other => (
            "spec_unavailable",
            format!("The worker could not fetch the connector's configuration: {other}"),
            "Retried automatically; if it persists, check that the api is reachable from the worker and see the api's logs.",
        ),
    };
    ReportedError {
        code: code.into(),
        message,
        remediation: remediation.into(),
        at: Utc::now(),
    }
}

fn settled(progress: &watch::Sender<Progress>) {
    progress.send_if_modified(|p| {
        let changed = *p == Progress::Starting;
        *p = Progress::Settled;
        changed
    });
}

fn retry_delays(settings: &SupervisorSettings) -> impl Iterator<Item = Duration> + use<> {
    backon::ExponentialBuilder::default()
        .with_min_delay(settings.retry_min)
        .with_max_delay(settings.retry_max)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

async fn supervise(ctx: &Context, spec: &ConnectorAssignmentSpec, reporter: &mut Reporter) -> Stop {
    let mut backoff = retry_delays(&ctx.settings);
    let mut first = true;
    loop {
        let started = tokio::time::Instant::now();
        let result = attempt(ctx, spec, reporter, first).await;
        first = false;
        settled(&ctx.progress);
        match result {
            Err(stop) => return stop,
            // It ran for a while, then failed: start over from the first wait. (A run that
            // fails soon after starting keeps backing off: no restart every few seconds.)
            Ok(Outcome::Healthy) if started.elapsed() >= HEALTHY_RUN => {
                backoff = retry_delays(&ctx.settings)
            }
            Ok(_) => {}
        }
        let wait = backoff.next().unwrap_or(ctx.settings.retry_max);
        if let Err(stop) = pause(&ctx.cancel, wait).await {
            return stop;
        }
    }
}

pub(super) enum Outcome {
    /// It could not start.
    Failed,
    /// It ran for a while, then failed.
    Healthy,
}

/// One start: check, connect, watch. Returns when it failed (after reporting it) or must stop.
/// Only the first start reports `starting`: a retry of a failed connector stays `failed` until
/// it runs.
async fn attempt(
    ctx: &Context,
    spec: &ConnectorAssignmentSpec,
    reporter: &mut Reporter,
    first: bool,
) -> Result<Outcome, Stop> {
    if first {
        reporter
            .send(
                LifecycleState::Starting,
                reporter.phases(CollectionPhase::Checking),
                Vec::new(),
            )
            .await?;
    }
    reporter.bump("preflightRuns");
    let request = PreflightRequest {
        connection_string: spec.connection_string.clone(),
        database: spec.database.clone(),
        collections: reporter.collections.clone(),
        id_fields: PreflightRequest::id_fields_of(&spec.collections),
        auto_configure: spec.auto_configure,
    };
    let report = preflight::run(ctx.mongo.as_ref(), &request, &ctx.preflight).await;
    let unavailable = unavailable_collections(&report, &reporter.collections);
    if let Some(failure) = report.first_failure().filter(|_| unavailable.is_none()) {
        reporter.bump("preflightFailures");
        let code = failure.code.unwrap_or("preflight_failed");
        let message = failure.message.clone();
        let remediation = failure.remediation.clone().unwrap_or_default();
        reporter.last_error = Some(ReportedError {
            code: code.to_owned(),
            message: message.clone(),
            remediation: remediation.clone(),
            at: Utc::now(),
        });
        let mut phases = reporter.phases(CollectionPhase::Pending);
        for check in report
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Failed)
        {
            match &check.collection {
                Some(collection) => {
                    phases.insert(
                        collection.clone(),
                        CollectionReport {
                            phase: CollectionPhase::Failed,
                            code: check.code.map(str::to_owned),
                            ..Default::default()
                        },
                    );
                }
                None => {
                    for p in phases.values_mut() {
                        p.phase = CollectionPhase::Failed;
                        p.code = check.code.map(str::to_owned);
                    }
                }
            }
        }
        let events = vec![event(
            EventLevel::Error,
            code,
            message,
            json!({"check": failure.check, "collection": failure.collection, "remediation": remediation}),
        )];
        reporter
            .send(LifecycleState::Failed, phases, events)
            .await?;
        return Ok(Outcome::Failed);
    }
    // The checks passed: hold a client for the pipelines.
    let uri = match MongoUri::parse(&spec.connection_string) {
        Ok(uri) => uri,
        Err(e) => {
            // The checks parse it first, so this is not expected; still, say so.
            fail(
                reporter,
                "invalid_connection_string",
                format!("The stored connection string does not parse: {e}"),
                "Replace the connection string (PUT or PATCH the connector).",
            )
            .await?;
            return Ok(Outcome::Failed);
        }
    };
    let mut options = ctx.preflight.connect.clone();
    options.app_name = format!("edgebridge-connector-{}", spec.connector_id);
    let port: Arc<dyn MongoPort> = match ctx.mongo.connect(&uri, &options).await {
        Ok(port) => port,
        Err(e) => {
            fail(
                reporter,
                "cluster_unreachable",
                format!("The cluster cannot be reached: {e}"),
                REMEDY_UNREACHABLE,
            )
            .await?;
            return Ok(Outcome::Failed);
        }
    };
    let unavailable = unavailable.unwrap_or_default();
    let mut events: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Failed)
        .map(|c| {
            let remediation = c.remediation.clone().unwrap_or_default();
            event(
                EventLevel::Error,
                c.code.unwrap_or("preflight_failed"),
                format!("{} The other collections start.", c.message),
                json!({"check": c.check, "collection": c.collection, "remediation": remediation}),
            )
        })
        .collect();
    if let Some(failure) = report.first_failure() {
        reporter.last_error = Some(ReportedError {
            code: failure.code.unwrap_or("preflight_failed").to_owned(),
            message: failure.message.clone(),
            remediation: failure.remediation.clone().unwrap_or_default(),
            at: Utc::now(),
        });
    }
    events.push(event(
        EventLevel::Info,
        "connector_started",
        format!(
            "Checks passed in {} ms; connected to the cluster.",
            report.duration_ms
        ),
        json!({"changes": report.changes}),
    ));
    // What the checks warn about (a missing unique index on the ID fields): the connector runs,
    // and the user sees what to do.
    for check in report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Warning)
    {
        let remediation = check.remediation.clone().unwrap_or_default();
        events.push(event(
            EventLevel::Warn,
            check.code.unwrap_or("preflight_warning"),
            check.message.clone(),
            json!({"check": check.check, "collection": check.collection, "remediation": remediation}),
        ));
    }
    for change in &report.changes {
        events.push(event(
            EventLevel::Info,
            "auto_configured",
            change.clone(),
            json!({}),
        ));
    }
    let mut phases = reporter.phases(CollectionPhase::Ready);
    for (name, code) in &unavailable {
        phases.insert(
            name.clone(),
            CollectionReport {
                phase: CollectionPhase::Failed,
                code: Some(code.clone()),
                ..Default::default()
            },
        );
    }
    reporter
        .send(LifecycleState::Running, phases, events)
        .await?;
    settled(&ctx.progress);
    watch_cluster(ctx, spec, reporter, port, &unavailable).await
}

/// When every failed check concerns one collection and some collections passed: those
/// collections (with the code of their first failure), which the connector runs without. A
/// collection dropped or renamed while the connector was stopped must not stop the others.
fn unavailable_collections(
    report: &preflight::PreflightReport,
    collections: &[String],
) -> Option<BTreeMap<String, String>> {
    let mut unavailable = BTreeMap::new();
    for check in report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Failed)
    {
        let collection = check.collection.clone()?;
        unavailable
            .entry(collection)
            .or_insert_with(|| check.code.unwrap_or("preflight_failed").to_owned());
    }
    let runnable = collections.iter().any(|c| !unavailable.contains_key(c));
    (!unavailable.is_empty() && runnable).then_some(unavailable)
}

pub(super) const REMEDY_UNREACHABLE: &str = "Check that the cluster is up and that its network access list admits Edgebridge's workers; the connector retries by itself.";

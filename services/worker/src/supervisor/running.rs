//! The running connector: its pipelines and write-back, cluster pings, and periodic reports.

use super::report::{Reporter, event, fail};
use super::start::{Outcome, REMEDY_UNREACHABLE};
use super::{Context, Stop};
use crate::client::ClientError;
use crate::pipeline::{Pipeline, PipelineError, SharedProgress};
use crate::writeback::{self, Sessions, WriteBack};
use chrono::Utc;
use edgebridge_domain::fleet::{
    CollectionPhase, ConnectorAssignmentSpec, EventLevel, LifecycleState, ReportedError,
};
use edgebridge_mongo::port::MongoPort;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The write-back's name among the supervisor's tasks (no collection has it: `$` is not allowed
/// in collection names).
const WRITE_BACK: &str = "$writeBack";

/// While running: the collections' pipelines run; the cluster is pinged every
/// `health_interval`; a report goes out every `report_interval` when the pipelines moved on (and
/// every `health_interval` regardless: the supervisor's sign of life). A few failed pings in a
/// row, or a pipeline failure, fail the connector (it restarts from the checkpoints after a
/// backoff); a collection that cannot be synced at all is shown failed while the others run.
pub(super) async fn watch_cluster(
    ctx: &Context,
    spec: &ConnectorAssignmentSpec,
    reporter: &mut Reporter,
    port: Arc<dyn MongoPort>,
) -> Result<Outcome, Stop> {
    let checkpoints = match ctx.client.checkpoints(spec.connector_id, spec.epoch).await {
        Ok(c) => c,
        Err(ClientError::Fenced(_) | ClientError::Expired(_)) => return Err(Stop::Fenced),
        Err(e) => {
            fail(
                reporter,
                "edge_store_unavailable",
                format!("The connector's checkpoints could not be read: {e}"),
                "None needed if it passes: the connector retries by itself.",
            )
            .await?;
            return Ok(Outcome::Failed);
        }
    };
    // The connector's write-back sessions (their events are echoes), known before any stream
    // starts.
    let recorded = match writeback::load_recorded(
        port.as_ref(),
        &spec.database,
        spec.connector_id,
        ctx.settings.pipeline.session_retention,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            fail(
                reporter,
                "metadata_unreadable",
                format!("The connector's metadata collections could not be read: {e}"),
                "Grant the connector's database user find on the __edgebridge_* metadata collections; the connector retries by itself.",
            )
            .await?;
            return Ok(Outcome::Failed);
        }
    };
    let sessions: Sessions = Arc::new(std::sync::RwLock::new(recorded.sessions));
    let progress: SharedProgress = Default::default();
    let mut pipelines = tokio::task::JoinSet::new();
    let write_back = WriteBack {
        client: ctx.client.clone(),
        connector_id: spec.connector_id,
        epoch: spec.epoch,
        port: port.clone(),
        database: spec.database.clone(),
        collections: spec.collections.clone(),
        settings: ctx.settings.pipeline.clone(),
        progress: progress.clone(),
        sessions: sessions.clone(),
        stale_sessions: recorded.stale,
        unsynced: recorded.unsynced,
    };
    pipelines.spawn(async move { (WRITE_BACK.to_owned(), write_back.run().await) });
    for (name, mapping) in &spec.collections {
        let pipeline = Pipeline {
            client: ctx.client.clone(),
            connector_id: spec.connector_id,
            epoch: spec.epoch,
            port: port.clone(),
            database: spec.database.clone(),
            collection: name.clone(),
            mapping: mapping.clone(),
            settings: ctx.settings.pipeline.clone(),
            progress: progress.clone(),
            on_history_lost: spec.on_history_lost,
            last: Default::default(),
            sessions: sessions.clone(),
        };
        let checkpoint = checkpoints.get(name).cloned();
        let name = name.clone();
        pipelines.spawn(async move { (name, pipeline.run(checkpoint).await) });
    }
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    let mut failures = 0u32;
    let tick = ctx
        .settings
        .report_interval
        .min(ctx.settings.health_interval);
    let mut last_ping = tokio::time::Instant::now();
    let mut last_report = tokio::time::Instant::now();
    let mut reported = String::new();
    loop {
        let mut events = Vec::new();
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            ended = pipelines.join_next(), if !pipelines.is_empty() => {
                let Some(ended) = ended else { continue };
                let (name, result) = match ended {
                    Ok(r) => r,
                    Err(e) => {
                        fail(reporter, "pipeline_crashed", format!("A pipeline stopped unexpectedly: {e}"), "None needed: the connector restarts it; report it if it recurs.").await?;
                        return Ok(Outcome::Healthy);
                    }
                };
                match result {
                    Err(PipelineError::Fenced) => return Err(Stop::Fenced),
                    Err(PipelineError::Collection { code, message, remediation }) => {
                        if let Ok(mut all) = progress.lock() {
                            all.entry(name.clone()).or_default().phase = Some(CollectionPhase::Failed);
                        }
                        failed.insert(name.clone(), code.into());
                        reporter.last_error = Some(ReportedError { code: code.into(), message: message.clone(), remediation: remediation.into(), at: Utc::now() });
                        events.push(event(EventLevel::Error, code, message, json!({"collection": name})));
                    }
                    Err(PipelineError::Failed { code, message, remediation }) => {
                        let message = if name == WRITE_BACK { message } else { format!("Collection {name}: {message}") };
                        fail(reporter, code, message, remediation).await?;
                        return Ok(Outcome::Healthy);
                    }
                    Ok(()) => {}
                }
            }
        }
        if last_ping.elapsed() >= ctx.settings.health_interval {
            last_ping = tokio::time::Instant::now();
            match port.ping().await {
                Ok(()) => {
                    if failures > 0 {
                        events.push(event(
                            EventLevel::Info,
                            "cluster_reachable_again",
                            format!("The cluster answers again after {failures} failed ping(s)."),
                            json!({}),
                        ));
                    }
                    failures = 0;
                }
                Err(e) => {
                    failures += 1;
                    reporter.bump("pingFailures");
                    if failures >= ctx.settings.failed_pings {
                        fail(
                            reporter,
                            "cluster_unreachable",
                            format!("The cluster stopped answering: {e}"),
                            REMEDY_UNREACHABLE,
                        )
                        .await?;
                        return Ok(Outcome::Healthy);
                    }
                    reporter.last_error = Some(ReportedError {
                        code: "cluster_ping_failed".into(),
                        message: format!("A ping to the cluster failed: {e}"),
                        remediation: "None needed if it passes; the connector fails and retries after repeated failures.".into(),
                        at: Utc::now(),
                    });
                    events.push(event(
                        EventLevel::Warn,
                        "cluster_ping_failed",
                        format!(
                            "Ping {failures} of {} failed: {e}",
                            ctx.settings.failed_pings
                        ),
                        json!({"class": format!("{:?}", e.kind.class())}),
                    ));
                }
            }
        }
        // What the pipelines did since the last report.
        let mut phases = reporter.phases(CollectionPhase::Ready);
        let (mut copied, mut applied, mut skipped) = (0u64, 0u64, 0u64);
        let (mut written_back, mut unsynced) = (0u64, 0u64);
        if let Ok(mut all) = progress.lock() {
            for (name, p) in all.iter_mut() {
                if let Some(phase) = p.phase
                    && let Some(entry) = phases.get_mut(name)
                {
                    entry.phase = phase;
                    if matches!(
                        phase,
                        CollectionPhase::InitialSync | CollectionPhase::Streaming
                    ) {
                        entry.silent_ms = p
                            .last_answer
                            .map(|t| u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX));
                    }
                }
                copied += p.copied;
                applied += p.applied;
                skipped += p.skipped;
                written_back += p.written_back;
                unsynced += p.unsynced;
                events.append(&mut p.events);
            }
        }
        for (name, code) in &failed {
            if let Some(entry) = phases.get_mut(name) {
                entry.phase = CollectionPhase::Failed;
                entry.code = Some(code.clone());
            }
        }
        reporter.counters.insert("documentsCopied".into(), copied);
        reporter.counters.insert("changesApplied".into(), applied);
        reporter.counters.insert("documentsSkipped".into(), skipped);
        reporter
            .counters
            .insert("documentsWrittenBack".into(), written_back);
        reporter
            .counters
            .insert("documentsUnsynced".into(), unsynced);
        // What changed decides whether a report goes now; a stream's silence grows by itself
        // and goes with the next report (at least every health interval).
        let shown: Vec<(&String, CollectionPhase, &Option<String>)> = phases
            .iter()
            .map(|(name, r)| (name, r.phase, &r.code))
            .collect();
        let state = format!("{shown:?}{copied}/{applied}/{skipped}/{written_back}/{unsynced}");
        let due = last_report.elapsed() >= ctx.settings.health_interval;
        if state != reported || !events.is_empty() || due {
            events.truncate(edgebridge_domain::fleet::MAX_EVENTS_PER_REPORT);
            reporter
                .send(LifecycleState::Running, phases, events)
                .await?;
            reported = state;
            last_report = tokio::time::Instant::now();
        }
    }
}

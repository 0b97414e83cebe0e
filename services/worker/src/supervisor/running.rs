//! The running connector: its pipelines and write-back, cluster pings, and periodic reports.

use super::report::{Reporter, event, fail};
use super::start::{Outcome, REMEDY_UNREACHABLE};
use super::tasks::{Guard, Launcher, Start, Verdict, WRITE_BACK};
use super::{Context, Stop};
use crate::client::ClientError;
use crate::pipeline::{PipelineError, SharedProgress, TRANSIENT_CODES};
use crate::writeback::{self, Recorded, Sessions};
use chrono::Utc;
use edgebridge_domain::fleet::{
    CollectionPhase, ConnectorAssignmentSpec, EventLevel, LifecycleState, ReportedError, SyncTotals,
};
use edgebridge_mongo::port::MongoPort;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// While running: the collections' pipelines and the write-back run as tasks; the cluster is
/// pinged every `health_interval`; a report goes out every `report_interval` when the pipelines
/// moved on (and every `health_interval` regardless: the supervisor's sign of life). A failed
/// task starts again on its own, as the [`Guard`] decides: a collection that cannot be synced
/// (or an error that keeps coming back at the same position) is shown failed while the others
/// run. A few failed pings in a row, or transient failures past the failover window, fail the
/// connector (it restarts from the checkpoints after a backoff).
pub(super) async fn watch_cluster(
    ctx: &Context,
    spec: &ConnectorAssignmentSpec,
    reporter: &mut Reporter,
    port: Arc<dyn MongoPort>,
    unavailable: &BTreeMap<String, String>,
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
    let Recorded {
        sessions,
        stale,
        unsynced,
    } = recorded;
    let sessions: Sessions = Arc::new(std::sync::RwLock::new(sessions));
    let progress: SharedProgress = Default::default();
    let launcher = Launcher {
        ctx,
        spec,
        port: port.clone(),
        progress: progress.clone(),
        sessions,
        diag: reporter.diag.clone(),
    };
    // Collections the checks found unusable (dropped, renamed, images off): shown failed with
    // their code while the others and the write-back run.
    let mut failed: BTreeMap<String, String> = unavailable.clone();
    if let Ok(mut all) = progress.lock() {
        for name in unavailable.keys() {
            all.entry(name.clone()).or_default().phase = Some(CollectionPhase::Failed);
        }
    }
    let recorded = Recorded {
        sessions: Default::default(),
        stale,
        unsynced,
    };
    let mut tasks = tokio::task::JoinSet::new();
    launcher.write_back(&mut tasks, Some(recorded), Duration::ZERO);
    for name in spec.collections.keys() {
        if !unavailable.contains_key(name) {
            let start = Start::At(checkpoints.get(name).cloned());
            launcher.collection(&mut tasks, name, start, Duration::ZERO);
        }
    }
    let mut guard = Guard::default();
    let mut failures = 0u32;
    let tick = ctx
        .settings
        .report_interval
        .min(ctx.settings.health_interval);
    let mut last_ping = tokio::time::Instant::now();
    let mut last_report = tokio::time::Instant::now();
    let mut reported = String::new();
    // Per collection: what this run had done at the last report (deltas go from there), and
    // its task failures.
    let mut sent: BTreeMap<String, SyncTotals> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        let mut events = Vec::new();
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            ended = tasks.join_next(), if !tasks.is_empty() => {
                let Some(ended) = ended else { continue };
                let (name, result) = match ended {
                    Ok(r) => r,
                    Err(e) => {
                        fail(reporter, "pipeline_crashed", format!("A pipeline stopped unexpectedly: {e}"), "None needed: the connector restarts it; report it if it recurs.").await?;
                        return Ok(Outcome::Healthy);
                    }
                };
                if !matches!(result, Ok(()) | Err(PipelineError::Fenced)) {
                    *errors.entry(name.clone()).or_default() += 1;
                }
                let who = if name == WRITE_BACK { "The write-back".to_owned() } else { format!("Collection {name}") };
                let mut stop = |code: &'static str, message: String, remediation: &str, events: &mut Vec<_>| {
                    if name != WRITE_BACK {
                        if let Ok(mut all) = progress.lock() {
                            all.entry(name.clone()).or_default().phase = Some(CollectionPhase::Failed);
                        }
                        failed.insert(name.clone(), code.into());
                    }
                    reporter.last_error = Some(ReportedError { code: code.into(), message: message.clone(), remediation: remediation.into(), at: Utc::now() });
                    events.push(event(EventLevel::Error, code, message, json!({"collection": name, "remediation": remediation})));
                };
                match result {
                    Err(PipelineError::Fenced) => return Err(Stop::Fenced),
                    Err(PipelineError::Collection { code, message, remediation } | PipelineError::HistoryLost { code, message, remediation }) => {
                        stop(code, message, remediation, &mut events);
                    }
                    Err(PipelineError::Failed { code, message, remediation }) => {
                        let transient = TRANSIENT_CODES.contains(&code);
                        let position = position_of(ctx, spec, &name).await?;
                        match guard.judge(&ctx.settings.retry, &name, code, transient, position) {
                            Verdict::Retry { after, first } => {
                                if first {
                                    let message = format!("{who}: {message}; it starts again by itself in {} ms.", after.as_millis());
                                    reporter.last_error = Some(ReportedError { code: code.into(), message: message.clone(), remediation: remediation.into(), at: Utc::now() });
                                    events.push(event(EventLevel::Warn, code, message, json!({"collection": name, "transient": transient})));
                                }
                                if name == WRITE_BACK {
                                    launcher.write_back(&mut tasks, None, after);
                                } else {
                                    launcher.collection(&mut tasks, &name, Start::Stored, after);
                                }
                            }
                            Verdict::Stop => {
                                let n = ctx.settings.retry.same_failures;
                                let message = format!("{who}: {message}. The same error came {n} times in a row at the same position, so it stopped; the rest of the connector goes on.");
                                stop(code, message, remediation, &mut events);
                            }
                            Verdict::FailConnector => {
                                let window = ctx.settings.retry.failover_window.as_secs();
                                fail(reporter, code, format!("{who}: {message} (failing for over {window} s)"), remediation).await?;
                                return Ok(Outcome::Healthy);
                            }
                        }
                    }
                    Ok(()) => {}
                }
            }
        }
        if last_ping.elapsed() >= ctx.settings.health_interval {
            last_ping = tokio::time::Instant::now();
            match port.ping().await {
                Ok(()) => {
                    // The oplog's window, beside the ping (at the health interval): how long a
                    // stopped connector could still resume.
                    let previous = reporter.oplog.as_ref();
                    if let Some(window) = super::oplog::window(port.as_ref(), previous).await {
                        reporter.oplog = Some(window);
                    }
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
        let mut done: BTreeMap<String, SyncTotals> = BTreeMap::new();
        let now = Utc::now();
        if let Ok(mut all) = progress.lock() {
            for (name, p) in all.iter_mut() {
                done.insert(
                    name.clone(),
                    SyncTotals {
                        copied: p.copied_run,
                        applied: p.applied,
                        written_back: p.written_back,
                        skipped: p.skipped,
                        unsynced: p.unsynced,
                        errors: errors.get(name).copied().unwrap_or(0),
                    },
                );
                if let Some(entry) = phases.get_mut(name) {
                    entry.lag_ms = p.lag_ms(now);
                    entry.last_event_at = p.last_event_at;
                    entry.last_synced_at = p.last_synced_at;
                }
                if !name.starts_with('$') {
                    for e in p.events.iter_mut() {
                        e.collection.get_or_insert_with(|| name.clone());
                    }
                }
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
        // A lag goes with the next report when it crosses a second (a growing one is news),
        // and when it comes back to 0 (the api extrapolates a lag it last saw above 0).
        let shown: String = phases
            .iter()
            .map(|(name, r)| {
                let lag = r.lag_ms.map(|l| (l > 0, l / 1000));
                format!("{name}:{:?}:{:?}:{lag:?};", r.phase, r.code)
            })
            .collect();
        let state = format!("{shown}{copied}/{applied}/{skipped}/{written_back}/{unsynced}");
        let due = last_report.elapsed() >= ctx.settings.health_interval;
        for (name, count) in &errors {
            done.entry(name.clone()).or_default().errors = *count;
        }
        if state != reported || !events.is_empty() || due {
            events.truncate(edgebridge_domain::fleet::MAX_EVENTS_PER_REPORT);
            for (name, now) in &done {
                let delta = now.since(sent.get(name).unwrap_or(&SyncTotals::default()));
                if !delta.is_zero() {
                    reporter.deltas.entry(name.clone()).or_default().add(&delta);
                }
            }
            sent = done;
            reporter
                .send(LifecycleState::Running, phases, events)
                .await?;
            reported = state;
            last_report = tokio::time::Instant::now();
        }
    }
}

/// Where a failed task would resume (its checkpoint, or the write-back's feed position), as the
/// guard compares it: the same error there again means no progress.
async fn position_of(
    ctx: &Context,
    spec: &ConnectorAssignmentSpec,
    task: &str,
) -> Result<String, Stop> {
    let (id, epoch) = (spec.connector_id, spec.epoch);
    let answer = if task == WRITE_BACK {
        ctx.client
            .write_back_position(id, epoch)
            .await
            .map(|p| p.cursor.unwrap_or_default())
    } else {
        ctx.client.checkpoints(id, epoch).await.map(|mut all| {
            all.remove(task)
                .and_then(|cp| serde_json::to_string(&cp).ok())
                .unwrap_or_default()
        })
    };
    match answer {
        Ok(position) => Ok(position),
        Err(ClientError::Fenced(_) | ClientError::Expired(_)) => Err(Stop::Fenced),
        // Unknown: counted as one position (the api is down, which the window bounds).
        Err(_) => Ok("unknown".to_owned()),
    }
}

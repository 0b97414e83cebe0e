//! One connector's supervisor: checks the connector (preflight), holds its MongoDB client while
//! it runs, watches the cluster, and reports under its epoch. A failed check or a lost cluster
//! is retried with backoff, never a crash loop. The sync pipelines (next issue) run under it.
//!
//! The supervisor stops at once, without another word, when the api refuses a report as stale
//! (409): the connector belongs to someone else now.

use crate::client::{ApiClient, ClientError};
use crate::pipeline::{Pipeline, PipelineError, PipelineSettings, SharedProgress};
use crate::writeback::{self, Sessions, WriteBack};
use backon::BackoffBuilder;
use chrono::Utc;
use edgebridge_domain::MongoUri;
use edgebridge_domain::fleet::{
    Assignment, CollectionPhase, CollectionReport, ConnectorAssignmentSpec, ConnectorReport,
    EventLevel, LifecycleState, ReportedError, ReportedEvent,
};
use edgebridge_mongo::port::{MongoConnector, MongoPort};
use edgebridge_mongo::preflight::{self, CheckStatus, PreflightOptions, PreflightRequest};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How supervisors behave; the defaults suit production.
#[derive(Debug, Clone)]
pub struct SupervisorSettings {
    /// Time between cluster pings (and periodic reports) while running.
    pub health_interval: Duration,
    /// Consecutive failed pings before the connector is failed and restarted.
    pub failed_pings: u32,
    /// First and longest wait before retrying a failed start.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Shortest time between two reports while the pipelines make progress.
    pub report_interval: Duration,
    pub pipeline: PipelineSettings,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        SupervisorSettings {
            health_interval: Duration::from_secs(15),
            failed_pings: 3,
            retry_min: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            report_interval: Duration::from_secs(2),
            pipeline: PipelineSettings::default(),
        }
    }
}

/// Where a supervisor is, for the worker (and tests) to wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Starting,
    /// The first attempt ended (running or failed) and was reported.
    Settled,
    /// The supervisor ended.
    Ended,
}

pub struct Context {
    pub client: ApiClient,
    pub assignment: Assignment,
    pub mongo: Arc<dyn MongoConnector>,
    pub preflight: PreflightOptions,
    pub settings: SupervisorSettings,
    pub cancel: CancellationToken,
    pub progress: watch::Sender<Progress>,
    /// Told the connector id when the api fenced this supervisor out.
    pub fenced: mpsc::UnboundedSender<Uuid>,
    /// When the worker's lease is as good as lost (renewed by every heartbeat): the supervisor
    /// stops by itself at that instant, without another word, before its connector can be
    /// given to another worker.
    pub lease: watch::Receiver<tokio::time::Instant>,
}

/// Resolves once the lease deadline has passed.
pub async fn lease_lost(mut lease: watch::Receiver<tokio::time::Instant>) {
    loop {
        let deadline = *lease.borrow_and_update();
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            changed = lease.changed() => {
                if changed.is_err() {
                    // The worker is gone: so is the lease.
                    return;
                }
            }
        }
    }
}

struct Reporter {
    client: ApiClient,
    connector_id: Uuid,
    epoch: i64,
    seq: u64,
    settings: SupervisorSettings,
    /// Bound on one preflight run.
    preflight_timeout: Duration,
    collections: Vec<String>,
    counters: BTreeMap<String, u64>,
    last_error: Option<ReportedError>,
}

/// The write-back's name among the supervisor's tasks (no collection has it: `$` is not allowed
/// in collection names).
const WRITE_BACK: &str = "$writeBack";

/// A run at least this long counts as healthy (its failure restarts the backoff).
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Why the supervisor must stop.
enum Stop {
    /// The api refused it: the connector is someone else's.
    Fenced,
    /// The worker's lease is about to run out.
    LeaseLost,
    Cancelled,
}

impl Reporter {
    fn bump(&mut self, counter: &str) {
        *self.counters.entry(counter.to_owned()).or_default() += 1;
    }

    fn phases(&self, phase: CollectionPhase) -> BTreeMap<String, CollectionReport> {
        self.collections
            .iter()
            .map(|c| {
                let report = CollectionReport {
                    phase,
                    code: None,
                    silent_ms: None,
                };
                (c.clone(), report)
            })
            .collect()
    }

    /// When the next report will come at the latest, given the state this one reports.
    fn next_report_within(&self, state: LifecycleState) -> Duration {
        let s = &self.settings;
        match state {
            LifecycleState::Starting => self.preflight_timeout + s.health_interval,
            LifecycleState::Running => s.health_interval * 3,
            // The longest backoff (with its jitter), then a start.
            LifecycleState::Failed => s.retry_max * 2 + self.preflight_timeout + s.health_interval,
            LifecycleState::Stopped => Duration::ZERO,
        }
    }

    /// Sends a report, retrying transient failures with backoff until it is taken (a retried
    /// report keeps its `seq`, so the api takes it once). A stale epoch stops the supervisor.
    /// Cancellation and a lost lease interrupt it from outside.
    async fn send(
        &mut self,
        state: LifecycleState,
        collections: BTreeMap<String, CollectionReport>,
        events: Vec<ReportedEvent>,
    ) -> Result<(), Stop> {
        self.seq += 1;
        let report = ConnectorReport {
            epoch: self.epoch,
            seq: self.seq,
            next_report_within_ms: u64::try_from(self.next_report_within(state).as_millis())
                .unwrap_or(u64::MAX),
            state,
            collections,
            counters: self.counters.clone(),
            last_error: self.last_error.clone(),
            events,
        };
        let mut wait = Duration::from_millis(200);
        loop {
            match self.client.report(self.connector_id, &report).await {
                Ok(()) => return Ok(()),
                Err(ClientError::Fenced(why)) => {
                    tracing::warn!(connector_id = %self.connector_id, epoch = self.epoch, %why, "fenced: stopping the connector");
                    return Err(Stop::Fenced);
                }
                Err(ClientError::Expired(why)) => {
                    tracing::warn!(connector_id = %self.connector_id, %why, "worker expired: stopping the connector");
                    return Err(Stop::Fenced);
                }
                Err(e) => {
                    tracing::warn!(connector_id = %self.connector_id, error = %e, retry_in_ms = wait.as_millis() as u64, "report failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

fn event(
    level: EventLevel,
    code: &str,
    message: String,
    context: serde_json::Value,
) -> ReportedEvent {
    ReportedEvent {
        level,
        code: code.to_owned(),
        message,
        context,
        at: Utc::now(),
    }
}

/// Waits `wait`, or returns `Err` when cancelled first.
async fn pause(cancel: &CancellationToken, wait: Duration) -> Result<(), Stop> {
    tokio::select! {
        _ = cancel.cancelled() => Err(Stop::Cancelled),
        _ = tokio::time::sleep(wait) => Ok(()),
    }
}

pub async fn run(ctx: Context) {
    let connector_id = ctx.assignment.connector_id;
    let epoch = ctx.assignment.epoch;
    let mut reporter = Reporter {
        client: ctx.client.clone(),
        connector_id,
        epoch,
        seq: 0,
        settings: ctx.settings.clone(),
        preflight_timeout: ctx.preflight.total_timeout,
        collections: Vec::new(),
        counters: BTreeMap::new(),
        last_error: None,
    };
    let outcome = tokio::select! {
        // Dropping the run cancels whatever it waited on (MongoDB, a report in flight).
        _ = ctx.cancel.cancelled() => Stop::Cancelled,
        _ = lease_lost(ctx.lease.clone()) => {
            tracing::error!(%connector_id, epoch, "the worker's lease is about to run out: stopping the connector");
            Stop::LeaseLost
        }
        stop = fetch_and_supervise(&ctx, &mut reporter) => stop,
    };
    match outcome {
        Stop::Fenced => {
            let _ = ctx.fenced.send(connector_id);
        }
        Stop::LeaseLost => {}
        Stop::Cancelled => {
            // Best effort, bounded: the connector stopped here (a move or pause follows).
            let phases = reporter.phases(CollectionPhase::Pending);
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                reporter.send(LifecycleState::Stopped, phases, Vec::new()),
            )
            .await;
        }
    }
    tracing::info!(%connector_id, epoch, "supervisor stopped");
    let _ = ctx.progress.send(Progress::Ended);
}

/// Fetches the spec at this epoch (a 409: it moved on already, end quietly; anything else:
/// report `failed` with `spec_unavailable` and retry with backoff), then supervises.
async fn fetch_and_supervise(ctx: &Context, reporter: &mut Reporter) -> Stop {
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

enum Outcome {
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
        auto_configure: spec.auto_configure,
    };
    let report = preflight::run(ctx.mongo.as_ref(), &request, &ctx.preflight).await;
    if let Some(failure) = report.first_failure() {
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
                            silent_ms: None,
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
    let mut events = vec![event(
        EventLevel::Info,
        "connector_started",
        format!(
            "Checks passed in {} ms; connected to the cluster.",
            report.duration_ms
        ),
        json!({"changes": report.changes}),
    )];
    for change in &report.changes {
        events.push(event(
            EventLevel::Info,
            "auto_configured",
            change.clone(),
            json!({}),
        ));
    }
    reporter
        .send(
            LifecycleState::Running,
            reporter.phases(CollectionPhase::Ready),
            events,
        )
        .await?;
    settled(&ctx.progress);
    watch_cluster(ctx, spec, reporter, port).await
}

const REMEDY_UNREACHABLE: &str = "Check that the cluster is up and that its network access list admits Edgebridge's workers; the connector retries by itself.";

async fn fail(
    reporter: &mut Reporter,
    code: &str,
    message: String,
    remediation: &str,
) -> Result<(), Stop> {
    let remediation = remediation.to_owned();
    reporter.last_error = Some(ReportedError {
        code: code.to_owned(),
        message: message.clone(),
        remediation: remediation.clone(),
        at: Utc::now(),
    });
    let phases = reporter.phases(CollectionPhase::Failed);
    reporter
        .send(
            LifecycleState::Failed,
            phases,
            vec![event(EventLevel::Error, code, message, json!({}))],
        )
        .await
}

/// While running: the collections' pipelines run; the cluster is pinged every
/// `health_interval`; a report goes out every `report_interval` when the pipelines moved on (and
/// every `health_interval` regardless: the supervisor's sign of life). A few failed pings in a
/// row, or a pipeline failure, fail the connector (it restarts from the checkpoints after a
/// backoff); a collection that cannot be synced at all is shown failed while the others run.
async fn watch_cluster(
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

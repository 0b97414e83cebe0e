//! One connector's supervisor: checks the connector (preflight), holds its MongoDB client while
//! it runs, watches the cluster, and reports under its epoch. A failed check or a lost cluster
//! is retried with backoff, never a crash loop. The sync pipelines (next issue) run under it.
//!
//! The supervisor stops at once, without another word, when the api refuses a report as stale
//! (409): the connector belongs to someone else now.
//!
//! This file holds the settings, the context and the supervisor's entry point ([`run`]); the
//! submodules hold its reports (`report`), fetching the spec and starting with backoff (`start`),
//! and the running connector's pipelines and cluster watch (`running`).

mod oplog;
mod report;
mod running;
mod start;
mod tasks;

pub use tasks::RetrySettings;

use crate::client::ApiClient;
use crate::pipeline::PipelineSettings;
use edgebridge_domain::fleet::{Assignment, CollectionPhase, LifecycleState};
use edgebridge_mongo::port::MongoConnector;
use edgebridge_mongo::preflight::PreflightOptions;
use report::Reporter;
use start::fetch_and_supervise;
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
    /// How a failed pipeline or write-back is restarted on its own.
    pub retry: RetrySettings,
    /// Record each document's sync steps for the per-document trace.
    pub trace: bool,
    /// Routine trace steps (changes read, echoes, writes) recorded per second at most per
    /// connector; refusals and merges always. Past it the trace samples.
    pub trace_steps_per_sec: u32,
    /// What the worker counts (its supervisors, reports and api calls); the binary serves them
    /// on `/metrics`.
    pub metrics: crate::metrics::WorkerMetrics,
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
            retry: RetrySettings::default(),
            trace: true,
            trace_steps_per_sec: 200,
            metrics: Default::default(),
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

/// Why the supervisor must stop.
enum Stop {
    /// The api refused it: the connector is someone else's.
    Fenced,
    /// The worker's lease is about to run out.
    LeaseLost,
    Cancelled,
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
        deltas: BTreeMap::new(),
        oplog: None,
        diag: crate::diagnostics::Diagnostics::new(
            ctx.settings.trace,
            ctx.settings.trace_steps_per_sec,
        ),
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

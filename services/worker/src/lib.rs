//! The worker role. A worker registers with the api, heartbeats, and keeps one supervisor per
//! connector assigned to it, at the assignment's epoch:
//!
//! * an assignment it does not run yet: fetch the spec at that epoch, start a supervisor;
//! * an assignment at a newer epoch (restart, move back): stop the old supervisor, start anew;
//! * a supervisor whose connector is no longer assigned (moved, paused, deleted): stop it.
//!
//! A worker that cannot renew its lease for longer than the lease TTL stops every supervisor by
//! itself (its connectors have been given to others by then), and one the api declares expired
//! stops everything and registers again. On shutdown it drains: it stops taking work, stops its
//! supervisors (each reports `stopped`), and deregisters, so its connectors move at once.
//!
//! [`Worker::step`] is one heartbeat and reconciliation; [`Worker::run`] loops it. Tests drive
//! `step` directly.

pub mod client;
pub mod diagnostics;
pub mod metrics;
pub mod pipeline;
pub mod supervisor;
pub mod writeback;

use client::{ApiClient, ClientError};
use edgebridge_domain::fleet::{Assignment, RegisterRequest, WorkerState};
use edgebridge_mongo::port::MongoConnector;
use edgebridge_mongo::preflight::PreflightOptions;
use secrecy::SecretString;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use supervisor::{Progress, SupervisorSettings};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A worker's settings.
#[derive(Clone)]
pub struct WorkerConfig {
    /// The api's base URL (`EDGEBRIDGE_API_URL`).
    pub api_url: String,
    /// The operator-issued worker token (`EDGEBRIDGE_WORKER_TOKEN`).
    pub worker_token: SecretString,
    /// Unique among active workers (`EDGEBRIDGE_WORKER_NAME`, default the host name).
    pub name: String,
    /// Total connector weight it takes (a connector weighs 1 + its collections).
    pub capacity: u32,
    pub version: String,
    /// Heartbeat interval; `None` takes the api's.
    pub heartbeat_interval: Option<Duration>,
    /// Bound on each call to the api.
    pub request_timeout: Duration,
    pub mongo: Arc<dyn MongoConnector>,
    pub preflight: PreflightOptions,
    pub supervisor: SupervisorSettings,
}

impl fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("api_url", &self.api_url)
            .field("name", &self.name)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// The host name, for the default worker name.
pub fn host_name() -> String {
    let name = gethostname::gethostname().to_string_lossy().into_owned();
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(128)
        .collect();
    if name.is_empty() {
        "worker".to_owned()
    } else {
        name
    }
}

struct Running {
    epoch: i64,
    cancel: CancellationToken,
    progress: watch::Receiver<Progress>,
    task: JoinHandle<()>,
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    pub started: Vec<Assignment>,
    /// Supervisors stopped by this step, or that stopped by themselves since the last one
    /// because the api fenced them out.
    pub stopped: Vec<Uuid>,
    /// The api no longer knew the worker: it stopped everything and registered again.
    pub re_registered: bool,
    pub state: Option<WorkerState>,
}

pub struct Worker {
    config: WorkerConfig,
    client: ApiClient,
    supervisors: HashMap<Uuid, Running>,
    /// Supervisors told to stop, finishing their last report in the background.
    stopping: Vec<JoinHandle<()>>,
    fenced_tx: mpsc::UnboundedSender<Uuid>,
    fenced_rx: mpsc::UnboundedReceiver<Uuid>,
    heartbeat_interval: Duration,
    lease_ttl: Duration,
    /// When the connectors must stop if no heartbeat renews the lease first; supervisors watch
    /// it and stop by themselves.
    lease: watch::Sender<tokio::time::Instant>,
    draining: bool,
}

impl Worker {
    /// Registers with the api (once; [`Worker::run`] retries).
    pub async fn register(config: WorkerConfig) -> Result<Self, ClientError> {
        let client = ApiClient::new(
            &config.api_url,
            config.worker_token.clone(),
            config.request_timeout,
        )
        .map_err(|e| ClientError::Refused(e.to_string()))?
        .with_metrics(config.supervisor.metrics.clone());
        let credential = client.register(&register_request(&config)).await?;
        tracing::info!(worker = %config.name, worker_id = %credential.worker_id, "registered with the api");
        let (fenced_tx, fenced_rx) = mpsc::unbounded_channel();
        let mut worker = Self {
            heartbeat_interval: config
                .heartbeat_interval
                .unwrap_or(Duration::from_millis(credential.heartbeat_interval_ms)),
            lease_ttl: Duration::from_millis(credential.lease_ttl_ms),
            config,
            client,
            supervisors: HashMap::new(),
            stopping: Vec::new(),
            fenced_tx,
            fenced_rx,
            lease: watch::channel(tokio::time::Instant::now()).0,
            draining: false,
        };
        worker.adopt(&credential);
        worker.renewed(tokio::time::Instant::now());
        Ok(worker)
    }

    pub fn id(&self) -> Option<Uuid> {
        self.client.worker_id()
    }

    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// The connectors it runs, with their epochs.
    pub fn running(&self) -> Vec<Assignment> {
        let mut out: Vec<Assignment> = self
            .supervisors
            .iter()
            .filter(|(_, r)| !r.task.is_finished())
            .map(|(id, r)| Assignment {
                connector_id: *id,
                epoch: r.epoch,
            })
            .collect();
        out.sort();
        out
    }

    /// The client it reports with (tests use it to act as a zombie).
    pub fn client(&self) -> &ApiClient {
        &self.client
    }

    /// One heartbeat, then starts and stops supervisors to match the answer. Never waits on a
    /// supervisor or on MongoDB: stops finish in the background and each new supervisor fetches
    /// its own spec, so the next heartbeat is never late because of them.
    pub async fn step(&mut self) -> Result<StepReport, ClientError> {
        let mut report = StepReport::default();
        self.stopping.retain(|h| !h.is_finished());
        // Supervisors the api fenced out stopped by themselves; forget them (and say so).
        while let Ok(id) = self.fenced_rx.try_recv() {
            if let Some(r) = self.supervisors.get(&id)
                && r.task.is_finished()
            {
                self.supervisors.remove(&id);
                report.stopped.push(id);
            }
        }
        // Supervisors stop by themselves at the lease deadline; forget them here too.
        if tokio::time::Instant::now() >= *self.lease.borrow() && !self.supervisors.is_empty() {
            tracing::error!(
                "could not renew the lease in time: every connector stopped (they are being given to other workers)"
            );
            report.stopped = self.stop_all(false).await;
        }
        let sent = tokio::time::Instant::now();
        let answer = match self
            .client
            .heartbeat(self.draining, self.heartbeat_timeout())
            .await
        {
            Ok(answer) => answer,
            Err(ClientError::Expired(why)) => {
                tracing::warn!(%why, "the api no longer knows this worker: stopping every connector and registering again");
                report.stopped.extend(self.stop_all(false).await);
                self.client.forget();
                let credential = self
                    .client
                    .register(&register_request(&self.config))
                    .await?;
                self.adopt(&credential);
                self.renewed(tokio::time::Instant::now());
                report.re_registered = true;
                return Ok(report);
            }
            Err(e) => return Err(e),
        };
        self.renewed(sent);
        report.state = Some(answer.state);
        let wanted: HashMap<Uuid, i64> = answer
            .assignments
            .iter()
            .map(|a| (a.connector_id, a.epoch))
            .collect();
        // Stop what is no longer ours at that epoch, and what ended by itself.
        let stale: Vec<Uuid> = self
            .supervisors
            .iter()
            .filter(|(id, r)| wanted.get(id) != Some(&r.epoch) || r.task.is_finished())
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            if let Some(r) = self.supervisors.remove(&id) {
                self.stopping.push(tokio::spawn(stop(r, true)));
                report.stopped.push(id);
            }
        }
        if !self.draining {
            for a in &answer.assignments {
                if !self.supervisors.contains_key(&a.connector_id) {
                    self.start(*a);
                    report.started.push(*a);
                }
            }
        }
        self.config
            .supervisor
            .metrics
            .set_supervisors(self.running().len());
        Ok(report)
    }

    /// Bound on a heartbeat: well inside the lease, so a slow api cannot make it late.
    fn heartbeat_timeout(&self) -> Duration {
        (self.lease_ttl / 3)
            .max(Duration::from_millis(200))
            .min(self.config.request_timeout)
    }

    /// Takes the lease and interval of a (new) credential; a configured interval may only be
    /// shorter than the api's.
    fn adopt(&mut self, credential: &edgebridge_domain::fleet::WorkerCredential) {
        self.lease_ttl = Duration::from_millis(credential.lease_ttl_ms);
        let api = Duration::from_millis(credential.heartbeat_interval_ms);
        self.heartbeat_interval = self.config.heartbeat_interval.map_or(api, |c| c.min(api));
    }

    /// The lease runs from the moment the renewing heartbeat was sent (the api stamps its
    /// arrival, which is later); connectors stop one heartbeat interval (at least a fifth of the
    /// lease) before it ends, so the scheduler never gives them away while they still run.
    fn renewed(&mut self, sent: tokio::time::Instant) {
        let margin = self.heartbeat_interval.max(self.lease_ttl / 5);
        let deadline = sent + self.lease_ttl.saturating_sub(margin);
        self.lease.send_replace(deadline);
    }

    fn start(&mut self, a: Assignment) {
        let cancel = CancellationToken::new();
        let (progress_tx, progress) = watch::channel(Progress::Starting);
        let ctx = supervisor::Context {
            client: self.client.clone(),
            assignment: a,
            mongo: self.config.mongo.clone(),
            preflight: self.config.preflight.clone(),
            settings: self.config.supervisor.clone(),
            cancel: cancel.clone(),
            progress: progress_tx,
            fenced: self.fenced_tx.clone(),
            lease: self.lease.subscribe(),
        };
        let task = tokio::spawn(supervisor::run(ctx));
        self.supervisors.insert(
            a.connector_id,
            Running {
                epoch: a.epoch,
                cancel,
                progress,
                task,
            },
        );
    }

    /// Waits until every supervisor finished its first start (reported running or failed) or
    /// ended. Tests use it to step without sleeping.
    pub async fn settle(&mut self) {
        for h in self.stopping.drain(..) {
            let _ = h.await;
        }
        for r in self.supervisors.values_mut() {
            let _ = r
                .progress
                .wait_for(|p| matches!(p, Progress::Settled | Progress::Ended))
                .await;
        }
    }

    async fn stop_all(&mut self, report: bool) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self.supervisors.keys().copied().collect();
        ids.sort();
        // All at once: each may take a moment to report.
        let mut handles: Vec<JoinHandle<()>> = self
            .supervisors
            .drain()
            .map(|(_, r)| tokio::spawn(stop(r, report)))
            .collect();
        if report {
            handles.append(&mut self.stopping);
        } else {
            // Not another word to the api: cut short the stops still reporting.
            for h in self.stopping.drain(..) {
                h.abort();
            }
        }
        for h in handles {
            let _ = h.await;
        }
        self.config.supervisor.metrics.set_supervisors(0);
        ids
    }

    /// Graceful shutdown: tell the api it drains (no new work), stop every supervisor (each
    /// reports `stopped`), deregister so the connectors move at once.
    pub async fn shutdown(mut self) {
        self.draining = true;
        if let Err(e) = self.client.heartbeat(true, self.heartbeat_timeout()).await {
            tracing::warn!(error = %e, "could not announce the drain");
        }
        let stopped = self.stop_all(true).await;
        match self.client.deregister().await {
            Ok(()) => tracing::info!(stopped = stopped.len(), "drained and deregistered"),
            Err(e) => {
                tracing::warn!(error = %e, "could not deregister; the connectors move when the lease runs out")
            }
        }
    }

    /// Stops without a word to the api, like a killed process (tests).
    pub fn crash(self) {
        for (_, r) in self.supervisors {
            r.task.abort();
        }
        for h in self.stopping {
            h.abort();
        }
    }

    /// The role: register (retrying), step every heartbeat interval until `shutdown`, then drain.
    pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut delays = backon::BackoffBuilder::build(
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(500))
                .with_max_delay(Duration::from_secs(30))
                .with_jitter()
                .without_max_times(),
        );
        let mut worker = loop {
            match Worker::register(config.clone()).await {
                Ok(w) => break w,
                Err(ClientError::Unauthorized(why)) => {
                    anyhow::bail!(
                        "the api refused EDGEBRIDGE_WORKER_TOKEN ({why}); set the same value on the api and the workers"
                    )
                }
                Err(ClientError::Refused(why)) => {
                    anyhow::bail!("the api refused the registration: {why}")
                }
                Err(e) => {
                    let wait = delays.next().unwrap_or(Duration::from_secs(30));
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot register with the api yet");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        };
        loop {
            let wait = worker.heartbeat_interval().max(Duration::from_millis(50));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            match worker.step().await {
                Ok(r) if !r.started.is_empty() || !r.stopped.is_empty() || r.re_registered => {
                    tracing::info!(
                        started = r.started.len(),
                        stopped = r.stopped.len(),
                        re_registered = r.re_registered,
                        "assignments changed"
                    );
                }
                Ok(_) => {}
                Err(ClientError::Unauthorized(why)) => {
                    worker.shutdown().await;
                    anyhow::bail!(
                        "the api refused EDGEBRIDGE_WORKER_TOKEN ({why}); set the same value on the api and the workers"
                    )
                }
                Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
            }
        }
        tracing::info!("worker draining");
        worker.shutdown().await;
        Ok(())
    }
}

fn register_request(config: &WorkerConfig) -> RegisterRequest {
    RegisterRequest {
        name: config.name.clone(),
        capacity: config.capacity,
        version: config.version.clone(),
    }
}

/// Stops a supervisor and waits for it; `report` lets it say `stopped` first, otherwise it is
/// aborted (its connector is someone else's already: not another word to the api).
async fn stop(r: Running, report: bool) {
    if report {
        r.cancel.cancel();
        let mut task = r.task;
        if tokio::time::timeout(Duration::from_secs(10), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    } else {
        r.task.abort();
        let _ = r.task.await;
    }
}

//! The dispatcher: claims due deliveries and runs their attempts, at most `concurrency` at once
//! and `per_app` at once for one app (a slow endpoint holds at most that many slots, each for
//! at most the request's time limit), and prunes old messages. Any number of processes may run
//! it: claims skip what another has locked, and leases bring back what a dead one held.

use super::queue;
use super::send::WebhookSender;
use crate::config::WebhookConfig;
use crate::crypto::Keyring;
use edgebridge_mongo::policy::TargetPolicy;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often old messages are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub struct Dispatcher {
    pool: PgPool,
    keyring: Arc<Keyring>,
    sender: WebhookSender,
    tasks: JoinSet<()>,
    /// The app of each running attempt, and how many each app has running.
    task_apps: HashMap<Id, Uuid>,
    in_flight: HashMap<Uuid, usize>,
}

impl Dispatcher {
    pub fn new(
        pool: PgPool,
        keyring: Arc<Keyring>,
        policy: TargetPolicy,
        config: WebhookConfig,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool,
            keyring,
            sender: WebhookSender::new(policy, config)?,
            tasks: JoinSet::new(),
            task_apps: HashMap::new(),
            in_flight: HashMap::new(),
        })
    }

    fn config(&self) -> &WebhookConfig {
        self.sender.config()
    }

    /// Claims due deliveries for the free slots and starts their attempts; how many started.
    async fn fill(&mut self) -> anyhow::Result<usize> {
        let concurrency = self.config().concurrency.max(1);
        let per_app = self.config().per_app.max(1);
        let mut started = 0;
        loop {
            let free = concurrency.saturating_sub(self.tasks.len());
            if free == 0 {
                break;
            }
            let busy: Vec<Uuid> = self
                .in_flight
                .iter()
                .filter(|(_, running)| **running >= per_app)
                .map(|(app, _)| *app)
                .collect();
            let claimed = queue::claim_due(&self.pool, free, &busy, self.sender.lease()).await?;
            if claimed.is_empty() {
                break;
            }
            for delivery in claimed {
                let app_id = delivery.app_id;
                let (pool, keyring, sender) =
                    (self.pool.clone(), self.keyring.clone(), self.sender.clone());
                let handle = self.tasks.spawn(async move {
                    if !delivery.enabled {
                        if let Err(e) = queue::fail_disabled(&pool, &delivery).await {
                            tracing::warn!(error = %e, "recording a disabled webhook's delivery failed");
                        }
                        return;
                    }
                    if let Err(e) = sender.attempt(&pool, &keyring, &delivery).await {
                        tracing::warn!(delivery_id = %delivery.delivery_id, error = format!("{e:#}"), "recording a webhook attempt failed; it is retried when its lease ends");
                    }
                });
                self.task_apps.insert(handle.id(), app_id);
                *self.in_flight.entry(app_id).or_default() += 1;
                started += 1;
            }
        }
        Ok(started)
    }

    fn finished(&mut self, joined: Result<(Id, ()), JoinError>) {
        let id = match joined {
            Ok((id, ())) => id,
            Err(e) => {
                tracing::error!(error = %e, "a webhook attempt panicked");
                e.id()
            }
        };
        if let Some(app) = self.task_apps.remove(&id)
            && let Some(running) = self.in_flight.get_mut(&app)
        {
            *running -= 1;
            if *running == 0 {
                self.in_flight.remove(&app);
            }
        }
    }

    /// Sends every delivery due now (and those that come due while others are still being
    /// sent), waiting for each attempt; the number of attempts made.
    pub async fn dispatch_due(&mut self) -> anyhow::Result<usize> {
        let mut attempts = self.fill().await?;
        while let Some(joined) = self.tasks.join_next_with_id().await {
            self.finished(joined);
            attempts += self.fill().await?;
        }
        Ok(attempts)
    }

    /// Runs until `cancel`, then lets running attempts finish (bounded by their time limit).
    pub async fn run(mut self, cancel: CancellationToken) {
        let poll = self.config().poll_interval.max(Duration::from_millis(10));
        let mut next_prune = Instant::now();
        while !cancel.is_cancelled() {
            if Instant::now() >= next_prune {
                next_prune = Instant::now() + PRUNE_EVERY;
                match queue::prune(&self.pool, self.config().retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "pruned old webhook messages"),
                    Err(e) => tracing::warn!(error = %e, "pruning webhook messages failed"),
                }
            }
            if let Err(e) = self.fill().await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "claiming webhook deliveries failed"
                );
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some(joined) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.finished(joined);
                }
                _ = tokio::time::sleep(poll) => {}
            }
        }
        let drain = self.config().request_timeout + Duration::from_secs(1);
        let tasks = &mut self.tasks;
        if tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!(
                "webhook attempts still running at shutdown were abandoned; their leases bring them back"
            );
        }
        self.tasks.abort_all();
    }
}

/// The dispatcher loop of the scheduler role (and of the all-in-one process) until `cancel`.
pub async fn run(
    pool: PgPool,
    keyring: Arc<Keyring>,
    policy: TargetPolicy,
    config: WebhookConfig,
    cancel: CancellationToken,
) {
    match Dispatcher::new(pool, keyring, policy, config) {
        Ok(dispatcher) => {
            tracing::info!(policy = ?policy, "webhook dispatcher started");
            dispatcher.run(cancel).await;
        }
        Err(e) => tracing::error!(
            error = format!("{e:#}"),
            "the webhook dispatcher cannot start"
        ),
    }
}

/// Sends what is due now and returns the number of attempts made: for tests and tools that
/// drive delivery step by step.
pub async fn dispatch_due(
    pool: &PgPool,
    keyring: Arc<Keyring>,
    policy: TargetPolicy,
    config: &WebhookConfig,
) -> anyhow::Result<usize> {
    Dispatcher::new(pool.clone(), keyring, policy, config.clone())?
        .dispatch_due()
        .await
}

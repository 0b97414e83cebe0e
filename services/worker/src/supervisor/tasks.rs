//! The running connector's tasks (each collection's pipeline and the write-back), started and
//! restarted on their own, and the guard that decides what a task's failure costs: a retry after a
//! backoff, the task stopped (the same error again and again at the same position), or, when the
//! cluster stays unavailable past the failover window, the whole connector failed.

use super::Context;
use crate::diagnostics::Diagnostics;
use crate::pipeline::{Pipeline, PipelineError, SharedProgress, while_unavailable};
use crate::writeback::{self, Recorded, Sessions, WriteBack};
use edgebridge_domain::fleet::{CollectionCheckpoint, ConnectorAssignmentSpec};
use edgebridge_mongo::port::MongoPort;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The write-back's name among the supervisor's tasks (no collection has it: `$` is not allowed
/// in collection names).
pub(super) const WRITE_BACK: &str = "$writeBack";

/// What a task ends with: its name and its outcome.
pub(super) type Ended = (String, Result<(), PipelineError>);

/// Where a collection's pipeline starts.
pub(super) enum Start {
    /// From this checkpoint (`None`: the collection has none yet).
    At(Option<CollectionCheckpoint>),
    /// From the checkpoint the api holds now.
    Stored,
}

/// Starts the tasks of one run.
pub(super) struct Launcher<'a> {
    pub(super) ctx: &'a Context,
    pub(super) spec: &'a ConnectorAssignmentSpec,
    pub(super) port: Arc<dyn MongoPort>,
    pub(super) progress: SharedProgress,
    pub(super) sessions: Sessions,
    pub(super) diag: Diagnostics,
}

impl Launcher<'_> {
    /// Starts (after `delay`) the pipeline of collection `name` from `start`.
    pub(super) fn collection(
        &self,
        tasks: &mut JoinSet<Ended>,
        name: &str,
        start: Start,
        delay: Duration,
    ) {
        let Some(mapping) = self.spec.collections.get(name) else {
            return;
        };
        let pipeline = Pipeline {
            client: self.ctx.client.clone(),
            connector_id: self.spec.connector_id,
            epoch: self.spec.epoch,
            port: self.port.clone(),
            database: self.spec.database.clone(),
            collection: name.to_owned(),
            mapping: mapping.clone(),
            settings: self.ctx.settings.pipeline.clone(),
            progress: self.progress.clone(),
            on_history_lost: self.spec.on_history_lost,
            last: Default::default(),
            sessions: self.sessions.clone(),
            diag: self.diag.clone(),
        };
        let name = name.to_owned();
        let client = self.ctx.client.clone();
        let (connector_id, epoch) = (self.spec.connector_id, self.spec.epoch);
        tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            let checkpoint = match start {
                Start::At(checkpoint) => checkpoint,
                // A restart resumes from what the api holds (what the failed run applied).
                Start::Stored => {
                    match while_unavailable(connector_id, "reading checkpoints", || {
                        client.checkpoints(connector_id, epoch)
                    })
                    .await
                    {
                        Ok(mut all) => all.remove(&name),
                        Err(e) => return (name, Err(e)),
                    }
                }
            };
            (name, pipeline.run(checkpoint).await)
        });
    }

    /// Starts (after `delay`) the write-back; without `recorded` it reads the connector's
    /// records from the metadata collections first (a restart).
    pub(super) fn write_back(
        &self,
        tasks: &mut JoinSet<Ended>,
        recorded: Option<Recorded>,
        delay: Duration,
    ) {
        let spec = self.spec;
        let settings = self.ctx.settings.pipeline.clone();
        let port = self.port.clone();
        let mut write_back = WriteBack {
            client: self.ctx.client.clone(),
            connector_id: spec.connector_id,
            epoch: spec.epoch,
            port: port.clone(),
            database: spec.database.clone(),
            collections: spec.collections.clone(),
            settings: settings.clone(),
            progress: self.progress.clone(),
            sessions: self.sessions.clone(),
            stale_sessions: Vec::new(),
            unsynced: Default::default(),
            renewed: None,
            diag: self.diag.clone(),
        };
        tasks.spawn(async move {
            tokio::time::sleep(delay).await;
            let recorded = match recorded {
                Some(r) => r,
                None => match writeback::load_recorded(
                    port.as_ref(),
                    &write_back.database,
                    write_back.connector_id,
                    settings.session_retention,
                )
                .await
                {
                    Ok(r) => r,
                    Err(e) => return (WRITE_BACK.to_owned(), Err(e.into())),
                },
            };
            write_back.stale_sessions = recorded.stale;
            write_back.unsynced = recorded.unsynced;
            (WRITE_BACK.to_owned(), write_back.run().await)
        });
    }
}

/// How the guard treats task failures.
#[derive(Debug, Clone)]
pub struct RetrySettings {
    /// First wait before a failed task starts again (doubling up to `max`).
    pub min: Duration,
    pub max: Duration,
    /// How long a task may keep failing with transient errors (an election, a network
    /// partition, the api restarting) without moving on before the connector fails.
    pub failover_window: Duration,
    /// Failures with the same error at the same position after which the task stops.
    pub same_failures: u32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            min: Duration::from_millis(200),
            max: Duration::from_secs(10),
            failover_window: Duration::from_secs(60),
            same_failures: 3,
        }
    }
}

/// One task's failures in a row without moving on.
#[derive(Debug)]
struct Streak {
    code: &'static str,
    position: String,
    count: u32,
    since: Instant,
}

/// What to do about a task's failure.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Start it again after this wait (`first`: the first failure of a streak).
    Retry { after: Duration, first: bool },
    /// The same error at the same position too often: stop the task (the others go on).
    Stop,
    /// Transient failures past the failover window: fail the connector.
    FailConnector,
}

#[derive(Debug, Default)]
pub(super) struct Guard {
    streaks: HashMap<String, Streak>,
}

impl Guard {
    /// Judges a failure of `task` with `code` at `position` (where a restart resumes).
    pub(super) fn judge(
        &mut self,
        settings: &RetrySettings,
        task: &str,
        code: &'static str,
        transient: bool,
        position: String,
    ) -> Verdict {
        let now = Instant::now();
        let streak = self
            .streaks
            .entry(task.to_owned())
            .or_insert_with(|| Streak {
                code,
                position: position.clone(),
                count: 0,
                since: now,
            });
        // Moving on (or a different error) starts a new streak.
        if streak.position != position || streak.code != code {
            *streak = Streak {
                code,
                position,
                count: 0,
                since: now,
            };
        }
        streak.count += 1;
        if transient {
            if streak.count > 1 && streak.since.elapsed() >= settings.failover_window {
                self.streaks.remove(task);
                return Verdict::FailConnector;
            }
        } else if streak.count >= settings.same_failures {
            self.streaks.remove(task);
            return Verdict::Stop;
        }
        let doublings = (streak.count - 1).min(16);
        let after = settings
            .min
            .saturating_mul(1 << doublings)
            .min(settings.max);
        Verdict::Retry {
            after,
            first: streak.count == 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RetrySettings {
        RetrySettings {
            min: Duration::from_millis(100),
            max: Duration::from_millis(400),
            failover_window: Duration::from_secs(60),
            same_failures: 3,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_error_at_the_same_position_stops_the_task_on_the_third_time() {
        let mut guard = Guard::default();
        let s = settings();
        let mut judge = |pos: &str| guard.judge(&s, "orders", "not_authorized", false, pos.into());
        assert_eq!(
            judge("a"),
            Verdict::Retry {
                after: Duration::from_millis(100),
                first: true
            }
        );
        assert_eq!(
            judge("a"),
            Verdict::Retry {
                after: Duration::from_millis(200),
                first: false
            }
        );
        assert_eq!(judge("a"), Verdict::Stop);
        // Once it moved on, failures count afresh.
        assert!(matches!(judge("b"), Verdict::Retry { first: true, .. }));
        assert!(matches!(judge("c"), Verdict::Retry { first: true, .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_ridden_out_for_the_failover_window_then_fail_the_connector() {
        let mut guard = Guard::default();
        let s = settings();
        for i in 0..10 {
            let verdict = guard.judge(&s, "orders", "mongodb_unavailable", true, "a".into());
            assert!(matches!(verdict, Verdict::Retry { .. }), "{i}: {verdict:?}");
            tokio::time::advance(Duration::from_secs(5)).await;
        }
        // Capped backoff.
        assert_eq!(
            guard.judge(&s, "orders", "mongodb_unavailable", true, "a".into()),
            Verdict::Retry {
                after: Duration::from_millis(400),
                first: false
            }
        );
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(
            guard.judge(&s, "orders", "mongodb_unavailable", true, "a".into()),
            Verdict::FailConnector
        );
        // Another task's streak is its own.
        assert!(matches!(
            guard.judge(&s, "tasks", "mongodb_unavailable", true, "a".into()),
            Verdict::Retry { first: true, .. }
        ));
    }
}

//! The supervisor's reports to the api: the reporter (sequence, counters, last error), events,
//! and reporting a failure.

use super::{Stop, SupervisorSettings};
use crate::client::{ApiClient, ClientError};
use crate::diagnostics::Diagnostics;
use chrono::Utc;
use edgebridge_domain::fleet::{
    CollectionPhase, CollectionReport, ConnectorReport, EventLevel, LifecycleState,
    MAX_EVENTS_PER_REPORT, MAX_TRACE_STEPS_PER_REPORT, OplogWindow, ReportedError, ReportedEvent,
    SyncTotals,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

pub(super) struct Reporter {
    pub(super) client: ApiClient,
    pub(super) connector_id: Uuid,
    pub(super) epoch: i64,
    pub(super) seq: u64,
    pub(super) settings: SupervisorSettings,
    /// Bound on one preflight run.
    pub(super) preflight_timeout: Duration,
    pub(super) collections: Vec<String>,
    pub(super) counters: BTreeMap<String, u64>,
    pub(super) last_error: Option<ReportedError>,
    /// What each collection did since the last report taken (sent with the next).
    pub(super) deltas: BTreeMap<String, SyncTotals>,
    /// The oplog window as last measured (sent with every report).
    pub(super) oplog: Option<OplogWindow>,
    pub(super) diag: Diagnostics,
}

impl Reporter {
    pub(super) fn bump(&mut self, counter: &str) {
        *self.counters.entry(counter.to_owned()).or_default() += 1;
    }

    pub(super) fn phases(&self, phase: CollectionPhase) -> BTreeMap<String, CollectionReport> {
        self.collections
            .iter()
            .map(|c| {
                let report = CollectionReport {
                    phase,
                    ..Default::default()
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
    pub(super) async fn send(
        &mut self,
        state: LifecycleState,
        collections: BTreeMap<String, CollectionReport>,
        mut events: Vec<ReportedEvent>,
    ) -> Result<(), Stop> {
        self.seq += 1;
        let (traces, traces_dropped) = self.diag.take_steps(MAX_TRACE_STEPS_PER_REPORT);
        let (debug, mut events_dropped) = self.diag.take_debug_events();
        let room = MAX_EVENTS_PER_REPORT.saturating_sub(events.len());
        events_dropped += debug.len().saturating_sub(room) as u64;
        events.extend(debug.into_iter().take(room));
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
            deltas: std::mem::take(&mut self.deltas),
            traces,
            traces_dropped,
            oplog: self.oplog.clone(),
            events_dropped,
        };
        let mut wait = Duration::from_millis(200);
        loop {
            match self.client.report(self.connector_id, &report).await {
                Ok(answer) => {
                    self.diag.set_debug_until(answer.debug_until);
                    return Ok(());
                }
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

pub(super) fn event(
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
        collection: None,
        document_id: None,
    }
}

pub(super) async fn fail(
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

//! A connector row as users see it: status and health worked out from what its worker last
//! reported, the worker's liveness, the copies under way, and whether its secret can be opened.

use super::model::{
    AssignedWorker, CollectionStatus, ConnectorOut, ConnectorStatus, CopyProgress, DesiredState,
    Health, HealthState, StatusDetail,
};
use super::repo::ConnectorRow;
use super::stats::{self, StatsRow};
use crate::config::FleetConfig;
use crate::crypto::{Keyring, connector_secret_aad};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use edgebridge_domain::fleet::{CollectionPhase, SyncTotals};
use edgebridge_domain::{ConnectorSpec, OnHistoryLost};
use std::collections::BTreeMap;

/// A running copy as its checkpoint holds it.
#[derive(Debug, serde::Deserialize)]
pub struct CopyRow {
    copied: i64,
    estimated_total: Option<i64>,
    rate: Option<f64>,
    idle_secs: f64,
    started_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

/// A recovered-from error keeps health yellow this long.
const RECENT_ERROR: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

fn parse_desired(s: &str) -> DesiredState {
    DesiredState::parse(s).unwrap_or_default()
}

pub const SECRET_UNAVAILABLE: &str = "connection_string_unavailable";
pub const SECRET_REMEDIATION: &str = "Replace the connection string (PUT or PATCH the connector with a new connectionString), or ask the operator to restore the encryption key it was saved under (EDGEBRIDGE_ENCRYPTION_KEYS).";

/// Why a stored connection string cannot be used, in the words users see.
pub fn secret_unavailable_message() -> String {
    "The stored connection string cannot be opened with the api's encryption keys (the key it was saved under is no longer configured), so the connector cannot connect to MongoDB.".to_owned()
}

/// The refusal of an operation that needs a secret that cannot be opened (409).
pub fn secret_unavailable() -> ApiError {
    ApiError::conflict(
        SECRET_UNAVAILABLE,
        format!("{} {SECRET_REMEDIATION}", secret_unavailable_message()),
    )
}

/// Whether the stored connection string opens with the configured keys.
pub fn secret_readable(keyring: &Keyring, row: &ConnectorRow) -> bool {
    let aad = connector_secret_aad(row.org_id, row.connector_id);
    keyring.decrypt(&row.connection_ciphertext, &aad).is_ok()
}

impl ConnectorRow {
    pub fn spec(&self) -> ConnectorSpec {
        ConnectorSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            database: self.database_name.clone(),
            collections: self.collections.0.clone(),
            auto_configure: self.auto_configure,
            on_history_lost: OnHistoryLost::parse(&self.on_history_lost).unwrap_or_default(),
        }
    }

    /// Health of a running connector one of whose copying or streaming collections has not had
    /// an answer from MongoDB for longer than `stream_stall` (yellow; five times as long, red):
    /// it claims to run but delivers nothing. The longest-silent collection is named. The
    /// silence is as last reported (reports come at least every health interval; a connector
    /// that stops reporting is `report_overdue`), so no clock but the worker's measures it.
    /// A collection that stopped while the others run (dropped, its history lost, the same
    /// error again and again): the connector runs, but not all of it.
    fn failed_collection(&self) -> Option<Health> {
        let (name, report) = self
            .collection_status
            .0
            .iter()
            .find(|(_, r)| r.phase == CollectionPhase::Failed)?;
        let code = report
            .code
            .clone()
            .unwrap_or_else(|| "collection_failed".into());
        let why = self
            .last_error
            .as_ref()
            .filter(|e| e.0.code == code)
            .map(|e| format!(": {}", e.0.message))
            .unwrap_or_default();
        Some(Health {
            state: HealthState::Yellow,
            code,
            reason: format!(
                "Running, except collection `{name}`, which stopped{why}. See its code and the events for what to do; the other collections sync."
            ),
        })
    }

    fn stalled_stream(&self, fleet: &FleetConfig) -> Option<Health> {
        let (name, silent) = self
            .collection_status
            .0
            .iter()
            .filter(|(_, r)| {
                matches!(
                    r.phase,
                    CollectionPhase::InitialSync | CollectionPhase::Streaming
                )
            })
            .filter_map(|(name, r)| Some((name, r.silent_ms? as f64 / 1000.0)))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        let stall = fleet.stream_stall.as_secs_f64();
        if silent < stall {
            return None;
        }
        let state = if silent >= stall * 5.0 {
            HealthState::Red
        } else {
            HealthState::Yellow
        };
        Some(Health {
            state,
            code: "stream_stalled".into(),
            reason: format!(
                "Collection `{name}` has delivered nothing for {}s although the connector runs: no answer from MongoDB's change stream (or scan), or the edge store not taking its writes (see the events). Check the cluster's health and the network between worker and cluster; restarting the connector opens a new stream.",
                silent.round()
            ),
        })
    }

    /// Status and health as a user should see them: what the worker reported at the current
    /// epoch, unless the worker went silent (never a stale `running`).
    fn effective_status(
        &self,
        fleet: &FleetConfig,
        now: DateTime<Utc>,
        secret_readable: bool,
    ) -> (ConnectorStatus, Option<StatusDetail>, Health) {
        let lease_ttl = fleet.lease_ttl;
        let detail = |code: &str, message: String, remediation: &str, since| {
            Some(StatusDetail {
                code: Some(code.to_owned()),
                message: Some(message),
                remediation: Some(remediation.to_owned()),
                since,
            })
        };
        let health = |state, code: &str, reason: String| Health {
            state,
            code: code.to_owned(),
            reason,
        };
        let paused = parse_desired(&self.desired_state) == DesiredState::Paused;
        if !secret_readable {
            // Whatever the worker says: no run can connect until the secret is replaced.
            let message = secret_unavailable_message();
            let (status, state) = if paused {
                (ConnectorStatus::Paused, HealthState::Yellow)
            } else {
                (ConnectorStatus::Failed, HealthState::Red)
            };
            return (
                status,
                detail(
                    SECRET_UNAVAILABLE,
                    message.clone(),
                    SECRET_REMEDIATION,
                    self.updated_at,
                ),
                health(state, SECRET_UNAVAILABLE, message),
            );
        }
        if paused {
            return (
                ConnectorStatus::Paused,
                None,
                health(HealthState::Green, "paused", "Paused by a user.".into()),
            );
        }
        let since = self.assigned_at.unwrap_or(self.status_changed_at);
        let (Some(_), Some(worker)) = (self.assigned_worker_id, self.worker_name.as_deref()) else {
            let message = "Waiting for a worker with free capacity.".to_owned();
            return (
                ConnectorStatus::Pending,
                detail(
                    "awaiting_worker",
                    message.clone(),
                    "None needed if workers are running; otherwise start a worker (`edgebridge worker`) or free capacity.",
                    self.status_changed_at,
                ),
                health(HealthState::Yellow, "awaiting_worker", message),
            );
        };
        let ttl = lease_ttl.as_secs_f64();
        let silent = self.worker_silent_secs.unwrap_or(f64::INFINITY);
        let worker_active = matches!(self.worker_state.as_deref(), Some("live" | "draining"));
        let lease_expired = match self.worker_lease_left_secs {
            Some(left) => left < 0.0,
            None => silent > ttl,
        };
        if !worker_active || lease_expired {
            let message = format!(
                "Worker `{worker}` has not reported for {}s; the connector moves to another worker once the worker's lease ({}s) runs out.",
                silent.min(1e9).round(),
                lease_ttl.as_secs()
            );
            return (
                ConnectorStatus::Pending,
                detail(
                    "worker_unresponsive",
                    message.clone(),
                    "None needed: the scheduler reassigns it. If it persists, check that a scheduler and other workers are running.",
                    since,
                ),
                health(HealthState::Red, "worker_unresponsive", message),
            );
        }
        if self.reported_epoch != Some(self.assignment_epoch) {
            let message = format!("Starting on worker `{worker}`.");
            return (
                ConnectorStatus::Pending,
                None,
                health(HealthState::Yellow, "starting", message),
            );
        }
        // The supervisor promised its next report by a time; a run silent past it is suspect,
        // and past it by a lease it no longer counts as running.
        let overdue = self.report_overdue_secs.unwrap_or(f64::NEG_INFINITY);
        if overdue > ttl {
            let message = format!(
                "The connector has not reported for {}s past its due time although worker `{worker}` heartbeats; it is restarted if this persists.",
                overdue.round()
            );
            return (
                ConnectorStatus::Pending,
                detail(
                    "connector_unresponsive",
                    message.clone(),
                    "Restart the connector (POST .../restart); if it recurs, report it with the connector id.",
                    since,
                ),
                health(HealthState::Red, "connector_unresponsive", message),
            );
        }
        match self.reported_state.as_deref() {
            Some("running") if overdue > 0.0 => (
                ConnectorStatus::Running,
                None,
                health(
                    HealthState::Yellow,
                    "report_overdue",
                    format!(
                        "Worker `{worker}` heartbeats, but the connector's report is {}s overdue.",
                        overdue.round()
                    ),
                ),
            ),
            Some("running") => {
                if let Some(stalled) = self.stalled_stream(fleet) {
                    return (ConnectorStatus::Running, None, stalled);
                }
                if let Some(failed) = self.failed_collection() {
                    return (ConnectorStatus::Running, None, failed);
                }
                let lag = stats::worst(
                    self.stats
                        .0
                        .iter()
                        .filter(|(name, _)| self.collections.0.contains_key(*name))
                        .map(|(_, s)| s.lag()),
                );
                if let Some(late) = stats::lag_health(&lag, fleet.lag_warn) {
                    return (ConnectorStatus::Running, None, late);
                }
                let recent = self
                    .last_error
                    .as_ref()
                    .filter(|e| now - e.0.at < RECENT_ERROR);
                let health = match recent {
                    Some(e) => health(
                        HealthState::Yellow,
                        &e.0.code,
                        format!("Running; recovered from: {}", e.0.message),
                    ),
                    None => health(HealthState::Green, "running", "Running.".into()),
                };
                (ConnectorStatus::Running, None, health)
            }
            Some("failed") => {
                let (code, message, remediation) = match &self.last_error {
                    Some(e) => (
                        e.0.code.clone(),
                        e.0.message.clone(),
                        e.0.remediation.clone(),
                    ),
                    None => (
                        "failed".into(),
                        "The connector failed.".into(),
                        String::new(),
                    ),
                };
                (
                    ConnectorStatus::Failed,
                    Some(StatusDetail {
                        code: Some(code.clone()),
                        message: Some(message.clone()),
                        remediation: Some(remediation),
                        since: self.status_changed_at,
                    }),
                    health(HealthState::Red, &code, message),
                )
            }
            Some("stopped") => (
                ConnectorStatus::Pending,
                None,
                health(
                    HealthState::Yellow,
                    "stopping",
                    format!("Stopped on worker `{worker}`; moving to another worker."),
                ),
            ),
            _ => (
                ConnectorStatus::Pending,
                None,
                health(
                    HealthState::Yellow,
                    "starting",
                    format!("Starting on worker `{worker}`."),
                ),
            ),
        }
    }

    /// The connector as answered, its status and health as of now.
    pub fn into_out(self, fleet: &FleetConfig, keyring: &Keyring) -> ConnectorOut {
        let readable = secret_readable(keyring, &self);
        let (status, status_detail, health) = self.effective_status(fleet, Utc::now(), readable);
        let assigned_worker = match (&self.worker_name, self.assigned_at) {
            (Some(name), Some(since)) if self.assigned_worker_id.is_some() => {
                Some(AssignedWorker {
                    name: name.clone(),
                    since,
                })
            }
            _ => None,
        };
        let current = self.reported_epoch == Some(self.assignment_epoch);
        let kept: Vec<&StatsRow> = self
            .collections
            .0
            .keys()
            .filter_map(|name| self.stats.0.get(name))
            .collect();
        let lag = stats::worst(kept.iter().map(|s| s.lag()));
        let last_synced_at = stats::last_synced(kept.iter().copied(), self.collections.0.len());
        let mut totals = SyncTotals::default();
        for s in self.stats.0.values() {
            totals.add(&s.totals());
        }
        let mut throughput = stats::Throughput::default();
        for s in self.stats.0.values() {
            throughput.add(&s.throughput());
        }
        let resume_point = stats::resume_point(
            self.oplog_window.as_ref().map(|w| &w.0),
            kept.iter().copied(),
            Utc::now(),
        );
        let collection_status = self
            .collections
            .0
            .keys()
            .map(|name| {
                let reported = current
                    .then(|| self.collection_status.0.get(name).cloned())
                    .flatten()
                    .unwrap_or_default();
                let initial_sync = self.copies.0.get(name).map(|c| {
                    CopyProgress::new(
                        u64::try_from(c.copied).unwrap_or(0),
                        c.estimated_total.and_then(|n| u64::try_from(n).ok()),
                        c.rate,
                        c.idle_secs,
                        c.started_at,
                        c.updated_at,
                    )
                });
                let stats = self.stats.0.get(name).cloned().unwrap_or_default();
                let status = CollectionStatus {
                    phase: reported.phase,
                    code: reported.code,
                    initial_sync,
                    lag: stats.lag(),
                    last_synced_at: stats.last_synced_at,
                    totals: stats.totals(),
                    throughput: stats.throughput(),
                };
                (name.clone(), status)
            })
            .collect();
        ConnectorOut {
            id: self.connector_id,
            app_id: self.app_id,
            name: self.name,
            description: self.description,
            connection_string: self.connection_redacted,
            database: self.database_name,
            collections: self.collections.0,
            auto_configure: self.auto_configure,
            on_history_lost: OnHistoryLost::parse(&self.on_history_lost).unwrap_or_default(),
            desired_state: parse_desired(&self.desired_state),
            status,
            status_detail,
            health,
            assigned_worker,
            collection_status,
            lag,
            last_synced_at,
            totals,
            throughput,
            resume_point,
            // Counters belong to one run: shown for the current one only.
            counters: if current {
                self.counters.0
            } else {
                BTreeMap::new()
            },
            last_error: self.last_error.map(|e| e.0),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

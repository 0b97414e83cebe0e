//! Lag, last sync and totals as users see them in a connector's GET, worked out from the stored
//! per-collection stats (see [`crate::fleet::stats`]), and the health rule on lag.

use super::model::{Health, HealthState};
use chrono::{DateTime, Utc};
use edgebridge_domain::fleet::SyncTotals;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One collection's stored stats (`connector_collection_stats`, as JSON).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StatsRow {
    pub copied: i64,
    pub applied: i64,
    pub written_back: i64,
    pub skipped: i64,
    pub unsynced: i64,
    pub errors: i64,
    pub lag_in_ms: Option<i64>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub pending_out: i64,
    pub lag_out_ms: Option<i64>,
    pub in_per_sec: Option<f64>,
    pub out_per_sec: Option<f64>,
    /// Seconds since the stats were last updated (by a report).
    pub age_secs: f64,
}

/// How far behind the connector (or a collection) is, each way.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lag {
    /// MongoDB -> edge, in milliseconds: now minus the cluster time of the last change applied
    /// to the edge; 0 when caught up. `null` until the change stream has run (during the first
    /// copy). Grows by itself while the worker is silent and it was behind.
    pub mongo_to_edge_ms: Option<u64>,
    /// The cluster time of the last MongoDB change applied to the edge.
    pub last_event_at: Option<DateTime<Utc>>,
    /// Edge -> MongoDB, in milliseconds: the age of the oldest edge change not yet written to
    /// MongoDB (also while the write-back waits for the first copies); 0 when none waits.
    /// `null` before the connector's first report.
    pub edge_to_mongo_ms: Option<u64>,
    /// Edge changes not yet written to MongoDB (counted among the next 20,000 changes of the
    /// app's edge store after the write-back's position).
    pub pending_writes: Option<u64>,
}

/// Documents per second each way, between the last two reports of the connector's worker.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Throughput {
    /// Documents copied and changes applied to the edge per second.
    pub mongo_to_edge_per_sec: f64,
    /// Edge changes written to MongoDB per second.
    pub edge_to_mongo_per_sec: f64,
}

impl Throughput {
    pub fn add(&mut self, other: &Throughput) {
        self.mongo_to_edge_per_sec += other.mongo_to_edge_per_sec;
        self.edge_to_mongo_per_sec += other.edge_to_mongo_per_sec;
    }
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl StatsRow {
    /// The rate measured at the last report; 0 when that report is older than a minute (a
    /// worker that stopped reporting moves nothing).
    pub fn throughput(&self) -> Throughput {
        if self.age_secs > 60.0 {
            return Throughput::default();
        }
        Throughput {
            mongo_to_edge_per_sec: self.in_per_sec.unwrap_or(0.0),
            edge_to_mongo_per_sec: self.out_per_sec.unwrap_or(0.0),
        }
    }

    pub fn totals(&self) -> SyncTotals {
        SyncTotals {
            copied: unsigned(self.copied),
            applied: unsigned(self.applied),
            written_back: unsigned(self.written_back),
            skipped: unsigned(self.skipped),
            unsynced: unsigned(self.unsynced),
            errors: unsigned(self.errors),
        }
    }

    /// The lag as of now: a lag measured while behind grows with the time since it was
    /// measured (nothing says it caught up since); a caught-up one stays 0.
    pub fn lag(&self) -> Lag {
        let since_ms = (self.age_secs.max(0.0) * 1000.0) as i64;
        let grown = |lag: i64| unsigned(if lag > 0 { lag + since_ms } else { lag });
        Lag {
            mongo_to_edge_ms: self.lag_in_ms.map(grown),
            last_event_at: self.last_event_at,
            edge_to_mongo_ms: self.lag_out_ms.map(|l| {
                if self.pending_out > 0 {
                    grown(l.max(1))
                } else {
                    0
                }
            }),
            pending_writes: self.lag_out_ms.map(|_| unsigned(self.pending_out)),
        }
    }
}

/// The connector's lag: the worst of its collections each way.
pub fn worst(lags: impl IntoIterator<Item = Lag>) -> Lag {
    let mut out = Lag::default();
    for l in lags {
        out.mongo_to_edge_ms = max_opt(out.mongo_to_edge_ms, l.mongo_to_edge_ms);
        out.edge_to_mongo_ms = max_opt(out.edge_to_mongo_ms, l.edge_to_mongo_ms);
        out.last_event_at = max_opt(out.last_event_at, l.last_event_at);
        out.pending_writes = match (out.pending_writes, l.pending_writes) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
    out
}

fn max_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The connector is in sync up to the oldest of its collections' last syncs.
pub fn last_synced<'a>(
    rows: impl IntoIterator<Item = &'a StatsRow>,
    collections: usize,
) -> Option<DateTime<Utc>> {
    let times: Vec<DateTime<Utc>> = rows.into_iter().filter_map(|r| r.last_synced_at).collect();
    if times.len() < collections {
        // A collection never synced yet: the connector as a whole is not.
        return None;
    }
    times.into_iter().min()
}

/// Health of a running connector lagging past `warn` either way (yellow; five times, red).
pub fn lag_health(lag: &Lag, warn: std::time::Duration) -> Option<Health> {
    let warn_ms = u64::try_from(warn.as_millis()).unwrap_or(u64::MAX);
    let (way, ms) = [
        ("MongoDB to the edge", lag.mongo_to_edge_ms),
        ("the edge to MongoDB", lag.edge_to_mongo_ms),
    ]
    .into_iter()
    .filter_map(|(w, l)| Some((w, l?)))
    .max_by_key(|(_, l)| *l)?;
    if ms < warn_ms {
        return None;
    }
    let state = if ms >= warn_ms.saturating_mul(5) {
        HealthState::Red
    } else {
        HealthState::Yellow
    };
    Some(Health {
        state,
        code: "lag_high".into(),
        reason: format!(
            "Running, but changes from {way} arrive {}s late (the limit is {}s). See the metrics for throughput and the events for errors or retries; a large backlog clears by itself if the rate allows it.",
            ms / 1000,
            warn.as_secs()
        ),
    })
}

/// How long the connector could stop and still resume its change streams: the cluster's oplog
/// window against the oldest of its collections' resume points.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResumePoint {
    /// Whether the oplog window is known (the connector's database user may read
    /// `local.oplog.rs`, and a worker measured it).
    pub known: bool,
    /// How far back the oplog reaches, in seconds, when last measured.
    pub oplog_window_secs: Option<i64>,
    /// Seconds until the oldest resume point leaves the oplog if nothing moves it on (a
    /// connector that runs moves it on all the time); below 0 it is gone: the stream cannot
    /// resume and the collection needs a resync. `null` while the oplog does not roll over
    /// (nothing leaves it yet: `reason` says so).
    pub seconds_left: Option<i64>,
    /// When the window was measured.
    pub measured_at: Option<DateTime<Utc>>,
    /// Why it is unknown.
    pub reason: Option<String>,
}

/// The resume point's safety margin now, from the last measured window and the collections'
/// stats (their resume point is about their last applied change or their last catch-up).
pub fn resume_point<'a>(
    window: Option<&edgebridge_domain::fleet::OplogWindow>,
    rows: impl IntoIterator<Item = &'a StatsRow>,
    now: DateTime<Utc>,
) -> ResumePoint {
    let Some(window) = window else {
        return ResumePoint {
            reason: Some(
                "not measured yet: a running connector's worker measures it at each health check"
                    .into(),
            ),
            ..Default::default()
        };
    };
    let Some(start) = window.start else {
        return ResumePoint {
            measured_at: Some(window.measured_at),
            reason: window.unknown_because.clone(),
            ..Default::default()
        };
    };
    let span = (window.measured_at - start).num_seconds();
    if !window.rolling {
        return ResumePoint {
            known: true,
            oplog_window_secs: Some(span),
            measured_at: Some(window.measured_at),
            reason: Some("the oplog has not rolled over since it was first measured (it is not full, or nothing writes): no entry, no resume point, leaves it yet".into()),
            ..Default::default()
        };
    }
    let oldest = rows
        .into_iter()
        .filter_map(|r| match (r.last_event_at, r.last_synced_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        })
        .min();
    ResumePoint {
        known: true,
        oplog_window_secs: Some(span),
        seconds_left: oldest.map(|t| span - (now - t).num_seconds()),
        measured_at: Some(window.measured_at),
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(lag_in: Option<i64>, pending: i64, lag_out: Option<i64>, age: f64) -> StatsRow {
        StatsRow {
            lag_in_ms: lag_in,
            pending_out: pending,
            lag_out_ms: lag_out,
            age_secs: age,
            ..Default::default()
        }
    }

    #[test]
    fn the_resume_point_margin_is_the_window_less_the_oldest_resume_points_age() {
        use edgebridge_domain::fleet::OplogWindow;
        let now = Utc::now();
        let window = OplogWindow {
            measured_at: now - chrono::TimeDelta::seconds(10),
            start: Some(now - chrono::TimeDelta::seconds(3_610)),
            unknown_because: None,
            rolling: true,
        };
        let synced = |ago: i64| StatsRow {
            last_synced_at: Some(now - chrono::TimeDelta::seconds(ago)),
            ..Default::default()
        };
        let rows = [synced(100), synced(1_000)];
        let point = resume_point(Some(&window), rows.iter(), now);
        assert!(point.known);
        assert_eq!(point.oplog_window_secs, Some(3_600));
        assert_eq!(point.seconds_left, Some(2_600));
        let unknown = OplogWindow {
            start: None,
            unknown_because: Some("no privilege".into()),
            ..window
        };
        let point = resume_point(Some(&unknown), rows.iter(), now);
        assert!(!point.known);
        assert_eq!(point.reason.as_deref(), Some("no privilege"));
        let filling = OplogWindow {
            rolling: false,
            ..window.clone()
        };
        let point = resume_point(Some(&filling), rows.iter(), now);
        assert!(point.known);
        assert_eq!(
            point.seconds_left, None,
            "nothing leaves an oplog that does not roll"
        );
        assert!(!resume_point(None, rows.iter(), now).known);
    }

    #[test]
    fn a_lag_measured_behind_grows_and_a_caught_up_one_stays_zero() {
        let behind = row(Some(2_000), 3, Some(500), 1.5).lag();
        assert_eq!(behind.mongo_to_edge_ms, Some(3_500));
        assert_eq!(behind.edge_to_mongo_ms, Some(2_000));
        assert_eq!(behind.pending_writes, Some(3));
        let caught_up = row(Some(0), 0, Some(0), 60.0).lag();
        assert_eq!(caught_up.mongo_to_edge_ms, Some(0));
        assert_eq!(caught_up.edge_to_mongo_ms, Some(0));
        let unknown = row(None, 0, None, 1.0).lag();
        assert_eq!(unknown.mongo_to_edge_ms, None);
        assert_eq!(unknown.pending_writes, None);
    }

    #[test]
    fn the_worst_collection_decides_and_health_follows_the_limit() {
        let lag = worst([
            row(Some(1_000), 1, Some(100), 0.0).lag(),
            row(Some(400_000), 2, Some(0), 0.0).lag(),
        ]);
        assert_eq!(lag.mongo_to_edge_ms, Some(400_000));
        assert_eq!(lag.pending_writes, Some(3));
        let warn = std::time::Duration::from_secs(300);
        assert_eq!(lag_health(&lag, warn).unwrap().state, HealthState::Yellow);
        let red = worst([row(Some(1_600_000), 0, None, 0.0).lag()]);
        assert_eq!(lag_health(&red, warn).unwrap().state, HealthState::Red);
        assert!(lag_health(&worst([row(Some(10), 0, None, 0.0).lag()]), warn).is_none());
    }
}

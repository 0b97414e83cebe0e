//! The scheduler's counters: ticks (by outcome), connectors moved, and workers whose lease
//! expired (declared dead). Counted by the process that ticks: only the leader ticks, so summed
//! over the scheduler processes they count the fleet's.

use super::MetricsRegistry;
use crate::scheduler::TickReport;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TickLabels {
    /// `ok` or `failed`.
    outcome: &'static str,
}

/// A scheduler's counters; clones count into the same series. Part of its
/// [`crate::scheduler::SchedulerConfig`]; the binary registers them.
#[derive(Clone, Debug, Default)]
pub struct SchedulerMetrics {
    ticks: Family<TickLabels, Counter>,
    moves: Counter,
    lease_expiries: Counter,
    waiting: Gauge,
}

impl SchedulerMetrics {
    /// Adds the scheduler's series to the process's registry (once per process).
    pub fn register(&self, registry: &MetricsRegistry) {
        registry.register(|r| {
            r.register(
                "edgebridge_scheduler_ticks",
                "Scheduler ticks run by this process, by outcome (ok, failed); only the leader ticks",
                self.ticks.clone(),
            );
            r.register(
                "edgebridge_scheduler_moves",
                "Connector assignments the scheduler changed (to a worker, to another, or taken away)",
                self.moves.clone(),
            );
            r.register(
                "edgebridge_scheduler_lease_expiries",
                "Workers declared dead because their lease ran out",
                self.lease_expiries.clone(),
            );
            r.register(
                "edgebridge_scheduler_waiting_connectors",
                "Running connectors no worker had room for at the last tick",
                self.waiting.clone(),
            );
        });
    }

    /// One tick that ran.
    pub fn record(&self, report: &TickReport) {
        self.ticks
            .get_or_create(&TickLabels { outcome: "ok" })
            .inc();
        self.moves.inc_by(report.moves as u64);
        self.lease_expiries.inc_by(report.dead.len() as u64);
        self.waiting
            .set(i64::try_from(report.waiting).unwrap_or(i64::MAX));
    }

    /// One tick that failed (Postgres).
    pub fn failed(&self) {
        self.ticks
            .get_or_create(&TickLabels { outcome: "failed" })
            .inc();
    }
}

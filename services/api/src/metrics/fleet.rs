//! Series read at scrape time: the Postgres pool, and the fleet as Postgres holds it (workers by
//! state, connectors by status, assignments per worker), with the per-connector series of
//! [`super::connectors`]. Every query is bounded: grouped counts over a handful of states, one
//! row per active worker, a capped number of connector rows, all within one read-only
//! transaction under a statement timeout.

use super::connectors::ConnectorSeries;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::gauge::ConstGauge;
use sqlx::{Executor, PgPool, Postgres, Transaction};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The longest a scrape waits for Postgres; then it answers without the fleet (and says so in
/// `edgebridge_fleet_read_success`).
const READ_BUDGET: Duration = Duration::from_secs(5);
/// Active workers listed one by one (more are left out).
const MAX_WORKERS: i64 = 1_000;

const WORKER_STATES: [&str; 4] = ["live", "draining", "dead", "gone"];
const CONNECTOR_STATUSES: [&str; 4] = ["pending", "running", "failed", "paused"];
const DESIRED_STATES: [&str; 2] = ["running", "paused"];

/// Postgres, read at each scrape.
#[derive(Debug, Clone)]
pub struct FleetSource {
    pool: PgPool,
    per_connector: bool,
}

/// What one scrape read.
#[derive(Debug, Default)]
pub struct FleetSnapshot {
    read_ok: bool,
    read_seconds: f64,
    workers: BTreeMap<String, i64>,
    connectors: BTreeMap<(String, String), i64>,
    /// Active workers: id, name, state, connectors assigned.
    assignments: Vec<(Uuid, String, String, i64)>,
    /// Connectors meant to run that no worker holds.
    unassigned: i64,
    per_connector: Option<ConnectorSeries>,
}

impl FleetSource {
    pub fn new(pool: PgPool, per_connector: bool) -> Self {
        Self {
            pool,
            per_connector,
        }
    }

    /// The fleet now; on a Postgres error or past the budget, an empty snapshot that says so.
    pub async fn read(&self) -> FleetSnapshot {
        let started = Instant::now();
        let result = tokio::time::timeout(READ_BUDGET, self.query()).await;
        let mut snapshot = match result {
            Ok(Ok(snapshot)) => snapshot,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "metrics: reading the fleet from Postgres failed");
                FleetSnapshot::default()
            }
            Err(_) => {
                tracing::warn!(
                    budget_secs = READ_BUDGET.as_secs(),
                    "metrics: reading the fleet from Postgres timed out"
                );
                FleetSnapshot::default()
            }
        };
        snapshot.read_seconds = started.elapsed().as_secs_f64();
        snapshot
    }

    async fn query(&self) -> sqlx::Result<FleetSnapshot> {
        let mut tx = crate::db::begin(&self.pool).await?;
        (&mut *tx)
            .execute("set transaction read only; set local statement_timeout = 5000")
            .await?;
        let workers: Vec<(String, i64)> =
            sqlx::query_as("select state, count(*)::bigint from workers group by state")
                .fetch_all(&mut *tx)
                .await?;
        let connectors: Vec<(String, String, i64)> = sqlx::query_as(
            "select status, desired_state, count(*)::bigint from connectors
             group by status, desired_state",
        )
        .fetch_all(&mut *tx)
        .await?;
        let assignments: Vec<(Uuid, String, String, i64)> = sqlx::query_as(
            "select w.worker_id, w.name, w.state, count(c.connector_id)::bigint
             from workers w left join connectors c on c.assigned_worker_id = w.worker_id
             where w.state in ('live', 'draining')
             group by w.worker_id order by w.worker_id limit $1",
        )
        .bind(MAX_WORKERS)
        .fetch_all(&mut *tx)
        .await?;
        let (unassigned,): (i64,) = sqlx::query_as(
            "select count(*)::bigint from connectors
             where desired_state = 'running' and assigned_worker_id is null",
        )
        .fetch_one(&mut *tx)
        .await?;
        let per_connector = if self.per_connector {
            Some(ConnectorSeries::read(&mut tx).await?)
        } else {
            None
        };
        commit_read(tx).await;
        Ok(FleetSnapshot {
            read_ok: true,
            read_seconds: 0.0,
            workers: workers.into_iter().collect(),
            connectors: connectors
                .into_iter()
                .map(|(status, desired, n)| ((status, desired), n))
                .collect(),
            assignments,
            unassigned,
            per_connector,
        })
    }
}

/// Ends a read-only transaction (a failure changes nothing that was read).
async fn commit_read(tx: Transaction<'static, Postgres>) {
    if let Err(e) = tx.commit().await {
        tracing::debug!(error = %e, "metrics: ending the read transaction failed");
    }
}

/// Encodes one gauge family: `series` yields label sets and values. A family without series is
/// left out whole (no `# HELP` and `# TYPE` lines alone).
pub(super) fn gauges<V, L>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, V)>,
) -> std::fmt::Result
where
    V: prometheus_client::encoding::EncodeGaugeValue,
    L: prometheus_client::encoding::EncodeLabelSet,
{
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for FleetSnapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let none: [(&str, &str); 0] = [];
        gauges(
            &mut encoder,
            "edgebridge_fleet_read_success",
            "1 when this scrape read the fleet from Postgres, 0 when it failed or timed out (the fleet and connector series are then missing)",
            [(none, i64::from(self.read_ok))],
        )?;
        gauges(
            &mut encoder,
            "edgebridge_fleet_read_duration_seconds",
            "Time this scrape took to read the fleet from Postgres",
            [(none, self.read_seconds)],
        )?;
        if !self.read_ok {
            return Ok(());
        }
        gauges(
            &mut encoder,
            "edgebridge_workers",
            "Workers by state (live, draining, dead, gone)",
            WORKER_STATES.map(|state| {
                let n = self.workers.get(state).copied().unwrap_or(0);
                ([("state", state)], n)
            }),
        )?;
        let statuses = CONNECTOR_STATUSES.iter().flat_map(|status| {
            DESIRED_STATES.iter().map(move |desired| {
                let key = ((*status).to_owned(), (*desired).to_owned());
                let n = self.connectors.get(&key).copied().unwrap_or(0);
                ([("status", *status), ("desired_state", *desired)], n)
            })
        });
        gauges(
            &mut encoder,
            "edgebridge_connectors",
            "Connectors by reported status (pending, running, failed, paused) and desired state (running, paused)",
            statuses,
        )?;
        gauges(
            &mut encoder,
            "edgebridge_connectors_unassigned",
            "Connectors meant to run that no worker holds (waiting for capacity, or for the scheduler)",
            [(none, self.unassigned)],
        )?;
        let ids: Vec<String> = self
            .assignments
            .iter()
            .map(|(id, ..)| id.to_string())
            .collect();
        gauges(
            &mut encoder,
            "edgebridge_worker_assignments",
            "Connectors assigned to each live or draining worker",
            self.assignments
                .iter()
                .zip(&ids)
                .map(|((_, name, state, n), id)| {
                    (
                        [
                            ("worker_id", id.as_str()),
                            ("worker", name.as_str()),
                            ("state", state.as_str()),
                        ],
                        *n,
                    )
                }),
        )?;
        if let Some(series) = &self.per_connector {
            series.encode(&mut encoder)?;
        }
        Ok(())
    }
}

/// The Postgres pool's connections at scrape time.
#[derive(Debug)]
pub struct PoolCollector(pub PgPool);

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let size = i64::from(self.0.size());
        let idle = i64::try_from(self.0.num_idle()).unwrap_or(i64::MAX);
        let none: [(&str, &str); 0] = [];
        gauges(
            &mut encoder,
            "edgebridge_db_pool_connections",
            "Postgres connections of this process's pool: idle, and in use (size minus idle)",
            [
                ([("state", "idle")], idle),
                ([("state", "in_use")], (size - idle).max(0)),
            ],
        )?;
        gauges(
            &mut encoder,
            "edgebridge_db_pool_size",
            "Postgres connections this process's pool holds now",
            [(none, size)],
        )?;
        gauges(
            &mut encoder,
            "edgebridge_db_pool_max_connections",
            "The most Postgres connections this process's pool may open (EDGEBRIDGE_DB_MAX_CONNECTIONS)",
            [(none, i64::from(self.0.options().get_max_connections()))],
        )
    }
}

//! The scheduler role: one leader at a time (a Postgres advisory lock held on its own
//! connection), ticking. Each tick, in one transaction: workers silent for longer than the lease
//! TTL become dead; the pure plan ([`edgebridge_domain::schedule::plan`]) decides the moves; each
//! move is written with the connector's new epoch. Several schedulers may run: the others wait
//! for the lock and take over within a tick of the leader's connection going away.

use std::time::Duration;

pub use edgebridge_domain::schedule::Tuning;
use edgebridge_domain::schedule::{self, Connector, Worker, WorkerState};
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The advisory lock key of the scheduler leader ("edgebridge scheduler").
const LEADER_LOCK: i64 = 0x6562_7363_6865_6431;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// A worker silent for longer is dead, and its connectors move.
    pub lease_ttl: Duration,
    /// Time between ticks.
    pub tick: Duration,
    pub tuning: Tuning,
    /// Ticks, moves and lease expiries, for `/metrics`.
    pub metrics: crate::metrics::SchedulerMetrics,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            lease_ttl: Duration::from_secs(10),
            tick: Duration::from_secs(1),
            tuning: Tuning::default(),
            metrics: Default::default(),
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Workers declared dead this tick.
    pub dead: Vec<Uuid>,
    pub moves: usize,
    /// Running connectors with no worker that has room.
    pub waiting: usize,
}

#[derive(sqlx::FromRow)]
struct WorkerRow {
    worker_id: Uuid,
    state: String,
    capacity: i32,
}

#[derive(sqlx::FromRow)]
struct ConnectorRow {
    connector_id: Uuid,
    running: bool,
    collections: i32,
    assigned_worker_id: Option<Uuid>,
    assignment_epoch: i64,
}

fn worker_state(s: &str) -> WorkerState {
    match s {
        "live" => WorkerState::Live,
        "draining" => WorkerState::Draining,
        _ => WorkerState::Dead,
    }
}

/// One tick. Safe to call from several processes at once: ticks serialize on a transaction-level
/// advisory lock, so two plans never interleave.
pub async fn tick(pool: &PgPool, config: &SchedulerConfig) -> anyhow::Result<TickReport> {
    let mut tx = crate::db::begin(pool).await?;
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(LEADER_LOCK + 1)
        .execute(&mut *tx)
        .await?;
    let ttl_ms = i64::try_from(config.lease_ttl.as_millis()).unwrap_or(i64::MAX);
    // The lease end the api wrote at the last heartbeat (from its TTL); rows without one
    // (written by hand) fall back to this scheduler's TTL.
    let dead: Vec<(Uuid,)> = sqlx::query_as(
        "update workers set state = 'dead', state_changed_at = now()
         where state in ('live', 'draining')
           and coalesce(lease_expires_at,
                        last_heartbeat_at + make_interval(secs => $1::double precision / 1000)) < now()
         returning worker_id",
    )
    .bind(ttl_ms)
    .fetch_all(&mut *tx)
    .await?;
    let workers: Vec<WorkerRow> = sqlx::query_as(
        "select worker_id, state, capacity from workers where state in ('live', 'draining', 'dead')",
    )
    .fetch_all(&mut *tx)
    .await?;
    let connectors: Vec<ConnectorRow> = sqlx::query_as(
        "select connector_id, desired_state = 'running' as running,
                (select count(*) from json_object_keys(collections))::int as collections,
                assigned_worker_id, assignment_epoch
         from connectors order by connector_id",
    )
    .fetch_all(&mut *tx)
    .await?;

    let workers: Vec<Worker> = workers
        .iter()
        .map(|w| Worker {
            id: w.worker_id.as_u128(),
            state: worker_state(&w.state),
            capacity: u32::try_from(w.capacity).unwrap_or(0),
        })
        .collect();
    let connectors: Vec<Connector> = connectors
        .iter()
        .map(|c| Connector {
            id: c.connector_id.as_u128(),
            running: c.running,
            weight: schedule::weight(usize::try_from(c.collections).unwrap_or(0)),
            assigned: c.assigned_worker_id.map(|w| w.as_u128()),
            epoch: c.assignment_epoch,
        })
        .collect();
    let plan = schedule::plan(&workers, &connectors, config.tuning);
    // No row locks on connectors (API writes must not wait for a tick): a move is written only
    // if the epoch is still the one planned from, and a connector paused or deleted meanwhile is
    // put right by the next tick.
    for m in &plan.moves {
        let moved = sqlx::query(
            "update connectors set assigned_worker_id = $2, assignment_epoch = $3,
                 assigned_at = case when $2::uuid is null then null else now() end
             where connector_id = $1 and assignment_epoch = $3 - 1
               -- a worker that deregistered or was replaced since the plan was read gets nothing
               and ($2::uuid is null
                    or exists (select 1 from workers where worker_id = $2 and state = 'live'
                               for share))",
        )
        .bind(Uuid::from_u128(m.connector))
        .bind(m.to.map(Uuid::from_u128))
        .bind(m.epoch)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() > 0 {
            moved_event(&mut tx, m).await?;
        }
    }
    tx.commit().await?;
    let report = TickReport {
        dead: dead.into_iter().map(|(id,)| id).collect(),
        moves: plan.moves.len(),
        waiting: plan.waiting.len(),
    };
    config.metrics.record(&report);
    if !report.dead.is_empty() || report.moves > 0 {
        tracing::info!(dead = ?report.dead, moves = report.moves, waiting = report.waiting, "scheduler tick");
    }
    Ok(report)
}

/// The lifecycle event of a move: to which worker (by name), or unassigned.
async fn moved_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    m: &schedule::Move,
) -> anyhow::Result<()> {
    use crate::fleet::event_store::{Lifecycle, record};
    let connector_id = Uuid::from_u128(m.connector);
    let event = match m.to.map(Uuid::from_u128) {
        Some(worker_id) => {
            let (name,): (String,) =
                sqlx::query_as("select name from workers where worker_id = $1")
                    .bind(worker_id)
                    .fetch_one(&mut **tx)
                    .await?;
            let (code, what) = if m.from.is_some() {
                ("moved", "Moved to")
            } else {
                ("assigned", "Assigned to")
            };
            Lifecycle::info(
                code,
                format!(
                    "{what} worker `{name}` (epoch {}, {:?}).",
                    m.epoch, m.reason
                ),
                serde_json::json!({"worker": name, "workerId": worker_id, "epoch": m.epoch}),
            )
        }
        None => Lifecycle::info(
            "unassigned",
            format!(
                "Taken off its worker (epoch {}): paused, or its worker left.",
                m.epoch
            ),
            serde_json::json!({"epoch": m.epoch}),
        ),
    };
    record(&mut **tx, connector_id, event)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(())
}

/// Tries to become the leader. The lock lives as long as the returned connection, which is taken
/// out of the pool: dropping it closes it, and the lock goes with it (a pooled connection would
/// keep the lock after a crash of the task that held it).
pub async fn try_lead(pool: &PgPool) -> anyhow::Result<Option<PgConnection>> {
    let mut conn = pool.acquire().await?.detach();
    let (got,): (bool,) = sqlx::query_as("select pg_try_advisory_lock($1)")
        .bind(LEADER_LOCK)
        .fetch_one(&mut conn)
        .await?;
    if got { Ok(Some(conn)) } else { Ok(None) }
}

/// The scheduler role: wait for leadership, then tick until `shutdown` (or until the leader's
/// connection fails, then start over).
pub async fn run(pool: PgPool, config: SchedulerConfig, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(config.tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut leader: Option<PgConnection> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        if leader.is_none() {
            match try_lead(&pool).await {
                Ok(Some(conn)) => {
                    tracing::info!("this scheduler leads");
                    leader = Some(conn);
                }
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "could not try for scheduler leadership");
                    continue;
                }
            }
        }
        // The lock is only as good as its connection: check it before acting on it.
        let alive = match leader.as_mut() {
            Some(conn) => sqlx::query("select 1").execute(&mut *conn).await.is_ok(),
            None => false,
        };
        if !alive {
            tracing::warn!("lost the scheduler leader connection; trying again");
            leader = None;
            continue;
        }
        if let Err(e) = tick(&pool, &config).await {
            config.metrics.failed();
            tracing::warn!(error = %e, "scheduler tick failed");
        }
    }
    if let Some(conn) = leader {
        // Closing the connection releases the lock at once.
        let _ = conn.close().await;
    }
}

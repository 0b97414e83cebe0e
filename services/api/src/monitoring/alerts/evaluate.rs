//! One evaluation cycle: every running connector's measures against its effective rules (its
//! own, else its app's, else the built-in ones), in one statement; the transitions of its
//! alerts written, each with an event and a webhook notification, in one transaction that holds
//! the evaluator's advisory lock (another replica's cycle skips meanwhile).

use super::AlertKind;
use super::transitions::{State, Transition};
use crate::config::FleetConfig;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// The advisory lock of the alert evaluator ("edgebridge alerts").
const EVALUATOR_LOCK: i64 = 0x6562_616c_6572_7473;

/// What one cycle did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CycleReport {
    /// False when another evaluator held the lock (nothing done).
    pub ran: bool,
    /// (connector, kind) pairs evaluated.
    pub evaluated: usize,
    pub pending: usize,
    pub fired: usize,
    pub resolved: usize,
}

#[derive(sqlx::FromRow)]
struct Measure {
    connector_id: Uuid,
    app_id: Uuid,
    org_id: Uuid,
    name: String,
    kind: String,
    enabled: bool,
    threshold: Option<f64>,
    for_secs: i32,
    window_secs: Option<i32>,
    value: Option<f64>,
    breached: bool,
    /// Still beyond the threshold by the hysteresis margin (an open alert stays open).
    held: bool,
    /// (connector, kind) pairs measured, the rows left out included.
    evaluated: i64,
}

#[derive(sqlx::FromRow)]
struct Open {
    alert_id: Uuid,
    connector_id: Uuid,
    kind: String,
    state: String,
    started_at: DateTime<Utc>,
    org_id: Uuid,
    app_id: Uuid,
    name: String,
}

/// The built-in rules as a `values` list.
fn defaults_sql(fleet: &FleetConfig) -> String {
    let stall = fleet.stream_stall.as_secs_f64();
    let rows: Vec<String> = AlertKind::ALL
        .iter()
        .map(|k| {
            let (threshold, for_secs, window) = k.default_rule(stall);
            format!(
                "('{}', {}::float8, {}, {}::int)",
                k.as_str(),
                threshold.map_or("null".into(), |t| t.to_string()),
                for_secs,
                window.map_or("null".into(), |w| w.to_string())
            )
        })
        .collect();
    rows.join(", ")
}

async fn measure(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    fleet: &FleetConfig,
) -> sqlx::Result<Vec<Measure>> {
    sqlx::query_as(&measure_sql(fleet))
        .bind(fleet.lease_ttl.as_secs_f64())
        .fetch_all(&mut **tx)
        .await
}

/// The statement measuring every running connector against its effective rules (`$1`: the
/// lease TTL in seconds). Public for the benchmark's `EXPLAIN`.
pub fn measure_sql(fleet: &FleetConfig) -> String {
    format!(
        "with k(kind, threshold, for_secs, window_secs) as (values {defaults}),
         c as materialized (
             select c.connector_id, c.app_id, c.org_id, c.name, c.status, c.reported_at,
                    -- ran, and no longer runs although nobody paused it: not a move or restart
                    -- under way (a minute at most), nor a failure (`connector_failed`)
                    c.desired_state = 'running' and c.reported_at is not null
                        and ((c.status not in ('running', 'failed', 'paused')
                              and c.status_changed_at < now() - interval '1 minute')
                             or (c.status = 'running' and (c.assigned_worker_id is null
                                 or now() - c.report_due_at > make_interval(secs => $1))))
                        as stopped,
                    c.desired_state = 'running' as running,
                    st.lag_secs,
                    (select max((e.value->>'silentMs')::float8) / 1000.0
                     from jsonb_each(c.collection_status) e
                     where e.value->>'phase' in ('initial_sync', 'streaming')) as silent_secs,
                    -- only once the oplog rolls over: before, nothing leaves it
                    case when (c.oplog_window->>'rolling')::boolean then
                        extract(epoch from (c.oplog_window->>'measuredAt')::timestamptz
                            - (c.oplog_window->>'start')::timestamptz)::float8
                        - extract(epoch from now() - st.resume_point)::float8
                    end as resume_left_secs
             from connectors c
             left join lateral (
                 select max(greatest(
                            case when s.lag_in_ms > 0
                                 then s.lag_in_ms + extract(epoch from now() - s.updated_at) * 1000
                                 else s.lag_in_ms end,
                            case when s.pending_out > 0
                                 then s.lag_out_ms + extract(epoch from now() - s.updated_at) * 1000
                                 else 0 end)) / 1000.0 as lag_secs,
                        min(greatest(s.last_event_at, s.last_synced_at)) as resume_point
                 from connector_collection_stats s
                 where s.connector_id = c.connector_id and c.collections::jsonb ? s.collection) st
                 on true
             -- paused ones for their resume points only (they age while paused)
             where c.desired_state in ('running', 'paused')),
         r as (
             select c.*, k.kind,
                    coalesce(rc.enabled, ra.enabled, true) as enabled,
                    coalesce(case when rc.rule_id is not null then rc.threshold
                                  when ra.rule_id is not null then ra.threshold end, k.threshold) as threshold,
                    coalesce(rc.for_secs, ra.for_secs, k.for_secs) as for_secs,
                    coalesce(case when rc.rule_id is not null then rc.window_secs
                                  when ra.rule_id is not null then ra.window_secs end, k.window_secs) as window_secs
             from c cross join k
             -- a paused connector's resume point still ages; nothing else is watched
             join lateral (select c.running or k.kind = 'resume_point_at_risk' as watched) wk
                 on wk.watched
             left join alert_rules rc on rc.connector_id = c.connector_id and rc.kind = k.kind
             left join alert_rules ra on ra.app_id = c.app_id and ra.connector_id is null and ra.kind = k.kind),
         w as (
             select r.*, m.errors, m.done, m.unsynced
             from r left join lateral (
                 select sum(errors)::float8 as errors,
                        sum(copied + applied + written_back)::float8 as done,
                        sum(unsynced)::float8 as unsynced
                 from connector_metrics
                 where connector_id = r.connector_id and step_secs = 60
                   and r.window_secs is not null
                   and bucket > now() - make_interval(secs => r.window_secs)) m on true),
         v as (
             select connector_id, app_id, org_id, name, kind, enabled, threshold, for_secs,
                    window_secs,
                    case kind
                        when 'lag' then lag_secs
                        when 'error_rate' then case when coalesce(errors, 0) > 0
                            then 100.0 * errors / (coalesce(done, 0) + errors) else 0 end
                        when 'connector_failed' then case when status = 'failed' then 1 else 0 end
                        when 'stopped_unexpectedly' then case when stopped then 1 else 0 end
                        when 'stream_stalled' then silent_secs
                        when 'unsynced_increasing' then coalesce(unsynced, 0)
                        when 'resume_point_at_risk' then resume_left_secs
                    end as value,
                    coalesce(case kind
                        when 'lag' then lag_secs > threshold
                        when 'error_rate' then coalesce(errors, 0) > 0
                            and 100.0 * errors / (coalesce(done, 0) + errors) > threshold
                        when 'connector_failed' then status = 'failed'
                        when 'stopped_unexpectedly' then stopped
                        when 'stream_stalled' then silent_secs > threshold
                        when 'unsynced_increasing' then coalesce(unsynced, 0) > threshold
                        when 'resume_point_at_risk' then resume_left_secs < threshold
                    end, false) as breached,
                    -- An open alert stays until the value is clearly back (10 % past the
                    -- threshold), so a value hovering at it does not open one every cycle.
                    coalesce(case kind
                        when 'lag' then lag_secs > threshold * 0.9
                        when 'error_rate' then coalesce(errors, 0) > 0
                            and 100.0 * errors / (coalesce(done, 0) + errors) > threshold * 0.9
                        when 'connector_failed' then status = 'failed'
                        when 'stopped_unexpectedly' then stopped
                        when 'stream_stalled' then silent_secs > threshold * 0.9
                        when 'unsynced_increasing' then coalesce(unsynced, 0) > threshold * 0.9
                        when 'resume_point_at_risk' then resume_left_secs < threshold * 1.1
                    end, false) as held,
                    count(*) over () as evaluated
             from w)
         -- Only what may change: a breach, or an alert that is open.
         select * from v
         where (enabled and (breached or held))
            or exists (select 1 from alerts a where a.connector_id = v.connector_id
                         and a.kind = v.kind and a.state <> 'resolved')",
        defaults = defaults_sql(fleet)
    )
}

fn describe(kind: AlertKind, name: &str, value: Option<f64>, threshold: Option<f64>) -> String {
    let v = value.unwrap_or(0.0);
    let t = threshold.unwrap_or(0.0);
    match kind {
        AlertKind::Lag => format!("Connector `{name}` lags {v:.0}s (the rule's limit is {t:.0}s)."),
        AlertKind::ErrorRate => {
            format!("Connector `{name}`: {v:.1}% of its work failed (the limit is {t:.1}%).")
        }
        AlertKind::ConnectorFailed => {
            format!("Connector `{name}` failed; see its status and events for what to do.")
        }
        AlertKind::StoppedUnexpectedly => format!(
            "Connector `{name}` stopped running although nobody paused it (its worker went silent, or it waits for one)."
        ),
        AlertKind::StreamStalled => format!(
            "A collection of connector `{name}` has had no answer from MongoDB for {v:.0}s (the limit is {t:.0}s)."
        ),
        AlertKind::UnsyncedIncreasing => format!(
            "MongoDB refused {v:.0} edge document(s) of connector `{name}` lately (the limit is {t:.0}); see its unsynced documents."
        ),
        AlertKind::ResumePointAtRisk if v < 0.0 => format!(
            "The oldest resume point of connector `{name}` left the oplog {:.0}s ago: its stream cannot resume; resync the collection.",
            -v
        ),
        AlertKind::ResumePointAtRisk => format!(
            "The oldest resume point of connector `{name}` leaves the oplog in {v:.0}s unless the connector moves it on (the limit is {t:.0}s): get it running and caught up, or enlarge the oplog."
        ),
    }
}

/// Runs one cycle. Skips when another evaluator holds the lock.
pub async fn cycle(pool: &PgPool, fleet: &FleetConfig) -> anyhow::Result<CycleReport> {
    let mut tx = crate::db::begin(pool).await?;
    let (locked,): (bool,) = sqlx::query_as("select pg_try_advisory_xact_lock($1)")
        .bind(EVALUATOR_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(CycleReport::default());
    }
    // One statement over every connector: planned, not compiled (JIT would cost more than it
    // saves, every cycle).
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    let measures = measure(&mut tx, fleet).await?;
    let open: Vec<Open> = sqlx::query_as(
        "select a.alert_id, a.connector_id, a.kind, a.state, a.started_at, a.org_id, a.app_id,
                c.name
         from alerts a join connectors c on c.connector_id = a.connector_id
         where a.state <> 'resolved' for update of a",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut open: HashMap<(Uuid, String), Open> = open
        .into_iter()
        .map(|o| ((o.connector_id, o.kind.clone()), o))
        .collect();
    let now = Utc::now();
    let evaluated = match measures.first() {
        Some(m) => m.evaluated,
        None => {
            let (running, paused): (i64, i64) = sqlx::query_as(
                "select count(*) filter (where desired_state = 'running'),
                        count(*) filter (where desired_state = 'paused')
                 from connectors",
            )
            .fetch_one(&mut *tx)
            .await?;
            running * AlertKind::ALL.len() as i64 + paused
        }
    };
    let mut report = CycleReport {
        ran: true,
        evaluated: usize::try_from(evaluated).unwrap_or(0),
        ..Default::default()
    };
    let mut moves = Vec::new();
    for m in measures {
        let Some(kind) = AlertKind::parse(&m.kind) else {
            continue;
        };
        let current = open.remove(&(m.connector_id, m.kind.clone()));
        let breached = m.enabled
            && match &current {
                Some(_) => m.held,
                None => m.breached,
            };
        let due = |since: DateTime<Utc>| (now - since).num_seconds() >= i64::from(m.for_secs);
        let next = match (&current, breached) {
            (None, true) if m.for_secs <= 0 => State::Firing,
            (None, true) => State::Pending,
            (Some(a), true) if a.state == "pending" && due(a.started_at) => State::Firing,
            (Some(_), false) => State::Resolved,
            _ => continue,
        };
        let described = describe(kind, &m.name, m.value, m.threshold);
        moves.push(Transition {
            alert_id: current.as_ref().map_or_else(Uuid::now_v7, |a| a.alert_id),
            new: current.is_none(),
            state: next,
            message: match next {
                State::Resolved => format!("Resolved: {described}"),
                _ => described,
            },
            org_id: m.org_id,
            app_id: m.app_id,
            connector_id: m.connector_id,
            name: m.name,
            kind,
            value: m.value,
            threshold: m.threshold,
            for_secs: m.for_secs,
            window_secs: m.window_secs,
        });
    }
    // Open alerts no longer watched (the connector was paused): resolved.
    for (_, a) in open {
        let Some(kind) = AlertKind::parse(&a.kind) else {
            continue;
        };
        moves.push(Transition {
            alert_id: a.alert_id,
            new: false,
            state: State::Resolved,
            message: format!(
                "Resolved: connector `{}` is no longer running (paused).",
                a.name
            ),
            org_id: a.org_id,
            app_id: a.app_id,
            connector_id: a.connector_id,
            name: a.name,
            kind,
            value: None,
            threshold: None,
            for_secs: 0,
            window_secs: None,
        });
    }
    for t in &moves {
        match t.state {
            State::Pending => report.pending += 1,
            State::Firing => report.fired += 1,
            State::Resolved => report.resolved += 1,
        }
    }
    super::transitions::write(&mut tx, &moves).await?;
    tx.commit().await?;
    Ok(report)
}

/// Evaluates every `every` until cancelled; also compacts the metrics history hourly.
pub async fn run(
    pool: PgPool,
    fleet: FleetConfig,
    every: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
) {
    let mut last_compaction: Option<tokio::time::Instant> = None;
    loop {
        match cycle(&pool, &fleet).await {
            Ok(r) if r.fired + r.resolved + r.pending > 0 => {
                tracing::info!(
                    evaluated = r.evaluated,
                    pending = r.pending,
                    fired = r.fired,
                    resolved = r.resolved,
                    "alerts evaluated"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "alert evaluation failed; retrying next cycle"),
        }
        if last_compaction.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(3600)) {
            last_compaction = Some(tokio::time::Instant::now());
            if let Err(e) = crate::monitoring::history::compact(&pool, &fleet).await {
                tracing::warn!(error = %e, "metrics history compaction failed");
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

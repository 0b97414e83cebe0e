//! A connector's metrics history: one-minute buckets for the recent past (hourly beyond), read
//! at any step that is a multiple of a minute, gaps included (counts 0, lags `null`).

use super::visible;
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most points one answer holds.
pub const MAX_POINTS: i64 = 1_500;
/// The longest step (31 days) and range (400 days) asked for.
pub const MAX_STEP_SECS: i64 = 31 * 86_400;
pub const MAX_SPAN_DAYS: i64 = 400;
/// The advisory lock of the history's compaction ("edgebridge metrics").
const COMPACTION_LOCK: i64 = 0x6562_6d65_7472_6963;
/// Minute buckets rolled up per transaction.
const COMPACTION_BATCH: i64 = 20_000;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MetricsParams {
    /// Start (RFC 3339); default: `to` minus one hour.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339); default: now.
    pub to: Option<DateTime<Utc>>,
    /// Seconds per point, a multiple of 60; default: the smallest that gives at most 360
    /// points. At most 1,500 points per answer.
    #[param(minimum = 60, example = 300)]
    pub step: Option<i64>,
}

/// One point: what happened within `[at, at + step)`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsPoint {
    pub at: DateTime<Utc>,
    /// Highest MongoDB -> edge lag reported within the step (ms); `null`: none reported.
    pub lag_mongo_to_edge_ms: Option<i64>,
    /// Highest edge -> MongoDB lag measured within the step (ms).
    pub lag_edge_to_mongo_ms: Option<i64>,
    /// Most edge changes waiting for the write-back within the step.
    pub pending_writes: Option<i64>,
    /// MongoDB -> edge throughput: documents copied and changes applied per second.
    pub mongo_to_edge_per_sec: f64,
    /// Edge -> MongoDB throughput: documents written per second.
    pub edge_to_mongo_per_sec: f64,
    pub copied: i64,
    pub applied: i64,
    pub written_back: i64,
    /// Pipeline and write-back failures.
    pub errors: i64,
    /// Edge documents MongoDB refused (recorded as unsynced).
    pub unsynced: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSeries {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub step_secs: i64,
    /// Oldest first, one per step (aligned to multiples of the step since the Unix epoch).
    pub points: Vec<MetricsPoint>,
    /// One-minute buckets are kept this many days; older ones are hourly.
    pub minute_retention_days: u64,
}

#[derive(sqlx::FromRow)]
struct Row {
    at: DateTime<Utc>,
    copied: i64,
    applied: i64,
    written_back: i64,
    errors: i64,
    unsynced: i64,
    lag_in_ms: Option<i64>,
    lag_out_ms: Option<i64>,
    pending_out: Option<i64>,
}

fn bad(path: &'static str, message: String) -> ApiError {
    ApiError::bad_field("invalid_query_parameter", path, message)
}

/// The range and step asked for, checked.
fn window(
    params: &MetricsParams,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>, i64)> {
    let to = params.to.unwrap_or(now);
    let from = params.from.unwrap_or(to - TimeDelta::hours(1));
    if from >= to {
        return Err(bad("/from", "`from` must be before `to`".into()));
    }
    let span = (to - from).num_seconds();
    if span > MAX_SPAN_DAYS * 86_400 {
        return Err(bad(
            "/from",
            format!("at most {MAX_SPAN_DAYS} days between `from` and `to`"),
        ));
    }
    let step = match params.step {
        Some(s) if !(60..=MAX_STEP_SECS).contains(&s) || s % 60 != 0 => {
            return Err(bad(
                "/step",
                format!("`step` must be a multiple of 60 seconds, at most {MAX_STEP_SECS}"),
            ));
        }
        Some(s) => s,
        None => (((span + 359) / 360 + 59) / 60).max(1) * 60,
    };
    if span / step > MAX_POINTS {
        return Err(bad(
            "/step",
            format!("at most {MAX_POINTS} points: make `step` larger or the range shorter"),
        ));
    }
    Ok((from, to, step))
}

/// A connector's metrics over time
///
/// Lag both ways, throughput both ways, errors and unsynced documents, per step (a multiple of a
/// minute). Minutes are kept for a configurable time (7 days by default), hours beyond it.
#[utoipa::path(get, path = "/v1/apps/{appId}/connectors/{connectorId}/metrics", operation_id = "getConnectorMetrics", tag = "connectors",
    params(("appId" = Uuid, Path, description = "The app's id"), ("connectorId" = Uuid, Path, description = "The connector's id"), MetricsParams),
    responses(
        (status = 200, description = "The series, oldest point first", body = MetricsSeries),
        (status = 400, description = "A bad range or step", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connector", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn connector_metrics(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(params): ApiQuery<MetricsParams>,
) -> Result<Json<MetricsSeries>> {
    visible(&state, &auth, app_id, connector_id).await?;
    let (from, to, step) = window(&params, Utc::now())?;
    let rows: Vec<Row> = sqlx::query_as(
        "with slots as (
             select generate_series(
                 date_bin(make_interval(secs => $4), $2, timestamptz 'epoch'),
                 $3 - interval '1 microsecond',
                 make_interval(secs => $4)) as at),
         data as (
             select date_bin(make_interval(secs => $4), bucket, timestamptz 'epoch') as at,
                    sum(copied)::int8 as copied, sum(applied)::int8 as applied,
                    sum(written_back)::int8 as written_back, sum(errors)::int8 as errors,
                    sum(unsynced)::int8 as unsynced, max(lag_in_ms) as lag_in_ms,
                    max(lag_out_ms) as lag_out_ms, max(pending_out) as pending_out
             from connector_metrics
             where connector_id = $1 and bucket >= date_bin(make_interval(secs => $4), $2, timestamptz 'epoch')
               and bucket < $3
             group by 1)
         select s.at, coalesce(d.copied, 0) as copied, coalesce(d.applied, 0) as applied,
                coalesce(d.written_back, 0) as written_back, coalesce(d.errors, 0) as errors,
                coalesce(d.unsynced, 0) as unsynced, d.lag_in_ms, d.lag_out_ms, d.pending_out
         from slots s left join data d on d.at = s.at
         order by s.at",
    )
    .bind(connector_id)
    .bind(from)
    .bind(to)
    .bind(step as f64)
    .fetch_all(&state.pool)
    .await?;
    let per_sec = |n: i64| n as f64 / step as f64;
    let points = rows
        .into_iter()
        .map(|r| MetricsPoint {
            at: r.at,
            lag_mongo_to_edge_ms: r.lag_in_ms,
            lag_edge_to_mongo_ms: r.lag_out_ms,
            pending_writes: r.pending_out,
            mongo_to_edge_per_sec: per_sec(r.copied + r.applied),
            edge_to_mongo_per_sec: per_sec(r.written_back),
            copied: r.copied,
            applied: r.applied,
            written_back: r.written_back,
            errors: r.errors,
            unsynced: r.unsynced,
        })
        .collect();
    Ok(Json(MetricsSeries {
        from,
        to,
        step_secs: step,
        points,
        minute_retention_days: state.fleet.metrics_keep.as_secs() / 86_400,
    }))
}

/// Rolls minutes older than the retention into hours, and deletes hours older than theirs, in
/// bounded transactions, one replica at a time (the others skip). Returns the rows handled.
pub async fn compact(
    pool: &sqlx::PgPool,
    fleet: &crate::config::FleetConfig,
) -> anyhow::Result<u64> {
    let minutes = fleet.metrics_keep.as_secs_f64();
    let hours = fleet.metrics_hourly_keep.as_secs_f64();
    let mut total = 0;
    loop {
        let mut tx = crate::db::begin(pool).await?;
        let (locked,): (bool,) = sqlx::query_as("select pg_try_advisory_xact_lock($1)")
            .bind(COMPACTION_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(total);
        }
        let rolled = sqlx::query(
            "with old as (
                 delete from connector_metrics where (connector_id, step_secs, bucket) in (
                     select connector_id, step_secs, bucket from connector_metrics
                     where step_secs = 60 and bucket < now() - make_interval(secs => $1)
                     limit $2)
                 returning *)
             insert into connector_metrics as m (connector_id, step_secs, bucket, copied, applied,
                 written_back, errors, unsynced, lag_in_ms, lag_out_ms, pending_out)
             select connector_id, 3600, date_bin('1 hour', bucket, timestamptz 'epoch'), sum(copied),
                    sum(applied), sum(written_back), sum(errors), sum(unsynced), max(lag_in_ms),
                    max(lag_out_ms), max(pending_out)
             from old group by 1, 2, 3
             on conflict (connector_id, step_secs, bucket) do update set
                 copied = m.copied + excluded.copied, applied = m.applied + excluded.applied,
                 written_back = m.written_back + excluded.written_back,
                 errors = m.errors + excluded.errors, unsynced = m.unsynced + excluded.unsynced,
                 lag_in_ms = greatest(m.lag_in_ms, excluded.lag_in_ms),
                 lag_out_ms = greatest(m.lag_out_ms, excluded.lag_out_ms),
                 pending_out = greatest(m.pending_out, excluded.pending_out)",
        )
        .bind(minutes)
        .bind(COMPACTION_BATCH)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let expired = sqlx::query(
            "delete from connector_metrics where (connector_id, step_secs, bucket) in (
                 select connector_id, step_secs, bucket from connector_metrics
                 where step_secs = 3600 and bucket < now() - make_interval(secs => $1)
                 limit $2)",
        )
        .bind(hours)
        .bind(COMPACTION_BATCH)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        total += rolled + expired;
        if rolled == 0 && expired == 0 {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_defaults_to_an_hour_and_checks_the_step() {
        let now = Utc::now();
        let (from, to, step) = window(&MetricsParams::default(), now).unwrap();
        assert_eq!((to - from).num_seconds(), 3600);
        assert_eq!(step, 60);
        let week = MetricsParams {
            from: Some(now - TimeDelta::days(7)),
            to: Some(now),
            step: None,
        };
        let (_, _, step) = window(&week, now).unwrap();
        assert_eq!(step % 60, 0);
        assert!(7 * 86_400 / step <= 360);
        let odd = MetricsParams {
            step: Some(90),
            ..Default::default()
        };
        assert!(window(&odd, now).is_err());
        let dense = MetricsParams {
            from: Some(now - TimeDelta::days(30)),
            to: Some(now),
            step: Some(60),
        };
        assert!(window(&dense, now).is_err());
        let backwards = MetricsParams {
            from: Some(now),
            to: Some(now - TimeDelta::hours(1)),
            step: None,
        };
        assert!(window(&backwards, now).is_err());
    }
}

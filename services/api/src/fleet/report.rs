//! `POST /internal/v1/workers/{worker_id}/connectors/{connector_id}/report`: a worker's report of
//! a connector it runs. Taken only from the connector's current owner at its epoch, once per
//! sequence number; in the same transaction the events are stored, the collections' totals and
//! lag updated and the minute's metrics bucket filled ([`super::stats`]). The answer tells the
//! worker whether the connector is in debug mode.

use super::auth::WorkerAuth;
use super::events;
use super::internal::stale;
use crate::error::{ApiError, Result};
use crate::http::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use edgebridge_domain::Violation;
use edgebridge_domain::fleet::{
    ConnectorReport, LifecycleState, MAX_EVENTS_PER_REPORT, MAX_REPORTED_COLLECTIONS,
    MAX_TRACE_STEPS_PER_REPORT, ReportAnswer,
};
use sqlx::types::Json as SqlJson;
use uuid::Uuid;

fn validate_report(report: &ConnectorReport) -> Result<()> {
    let mut errors = Vec::new();
    if report.events.len() > MAX_EVENTS_PER_REPORT {
        errors.push(Violation {
            path: "/events".into(),
            message: format!("at most {MAX_EVENTS_PER_REPORT} events per report"),
        });
    }
    if report.collections.len() > MAX_REPORTED_COLLECTIONS {
        errors.push(Violation {
            path: "/collections".into(),
            message: format!("at most {MAX_REPORTED_COLLECTIONS} collections"),
        });
    }
    if report.deltas.len() > MAX_REPORTED_COLLECTIONS {
        errors.push(Violation {
            path: "/deltas".into(),
            message: format!("at most {MAX_REPORTED_COLLECTIONS} collections"),
        });
    }
    if report.traces.len() > MAX_TRACE_STEPS_PER_REPORT {
        errors.push(Violation {
            path: "/traces".into(),
            message: format!("at most {MAX_TRACE_STEPS_PER_REPORT} steps per report"),
        });
    }
    if report.counters.len() > 100 {
        errors.push(Violation {
            path: "/counters".into(),
            message: "at most 100 counters".into(),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Takes a report from the connector's current owner; anything else gets 409 and writes nothing.
pub async fn report(
    State(state): State<AppState>,
    auth: WorkerAuth,
    ApiPath((worker_id, connector_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(mut report): ApiJson<ConnectorReport>,
) -> Result<Json<ReportAnswer>> {
    auth.require_self(worker_id)?;
    validate_report(&report)?;
    let status = match report.state {
        LifecycleState::Running => "running",
        LifecycleState::Failed => "failed",
        LifecycleState::Starting | LifecycleState::Stopped => "pending",
    };
    let failure = (report.state == LifecycleState::Failed)
        .then_some(report.last_error.as_ref())
        .flatten();
    let mut tx = crate::db::begin(&state.pool).await?;
    let taken: Option<(Uuid, Option<DateTime<Utc>>)> = sqlx::query_as(
        "update connectors c set reported_epoch = $3, reported_at = now(), reported_state = $4,
             reported_seq = $12,
             report_due_at = case when $13 > 0
                 then now() + make_interval(secs => $13::double precision / 1000) end,
             collection_status = $5, counters = $6, last_error = coalesce($7, c.last_error),
             status_changed_at = case when c.status is distinct from $8 then now() else c.status_changed_at end,
             status = case when c.desired_state = 'paused' then 'paused' else $8 end,
             status_code = $9, status_message = $10, status_remediation = $11,
             oplog_window = coalesce($14, c.oplog_window)
         from workers w
         where c.connector_id = $1 and c.assigned_worker_id = $2 and c.assignment_epoch = $3
           and w.worker_id = $2 and w.state in ('live', 'draining')
           -- a retried report already taken changes nothing (and stores no events twice)
           and (c.reported_epoch is distinct from $3 or c.reported_seq < $12)
         returning c.app_id, c.debug_until",
    )
    .bind(connector_id)
    .bind(worker_id)
    .bind(report.epoch)
    .bind(report.state.as_str())
    .bind(SqlJson(&report.collections))
    .bind(SqlJson(&report.counters))
    .bind(report.last_error.as_ref().map(SqlJson))
    .bind(status)
    .bind(failure.map(|e| e.code.as_str()))
    .bind(failure.map(|e| e.message.as_str()))
    .bind(failure.map(|e| e.remediation.as_str()))
    .bind(i64::try_from(report.seq).unwrap_or(i64::MAX))
    .bind(i64::try_from(report.next_report_within_ms).unwrap_or(i64::MAX))
    .bind(report.oplog.as_ref().map(SqlJson))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((app_id, debug_until)) = taken else {
        // Either fenced, or a retry of a report already taken: tell them apart.
        let owner: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(
            "select c.debug_until from connectors c join workers w on w.worker_id = c.assigned_worker_id
             where c.connector_id = $1 and c.assigned_worker_id = $2 and c.assignment_epoch = $3
               and w.state in ('live', 'draining')",
        )
        .bind(connector_id)
        .bind(worker_id)
        .bind(report.epoch)
        .fetch_optional(&mut *tx)
        .await?;
        return match owner {
            Some((debug_until,)) => Ok(Json(answer(debug_until))),
            None => Err(stale(connector_id, report.epoch)),
        };
    };
    if report.events_dropped > 0 {
        sqlx::query(
            "update connectors set events_dropped = events_dropped + $2 where connector_id = $1",
        )
        .bind(connector_id)
        .bind(i64::try_from(report.events_dropped).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
    }
    let events = std::mem::take(&mut report.events);
    events::store(
        &mut tx,
        &state.fleet.events,
        connector_id,
        report.epoch,
        events,
    )
    .await?;
    super::stats::record(&mut tx, app_id, connector_id, &report).await?;
    super::traces::store(
        &mut tx,
        connector_id,
        &report.traces,
        report.traces_dropped,
        state.fleet.trace_keep_per_connector,
        report.seq % 10 == 0,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(answer(debug_until)))
}

fn answer(debug_until: Option<DateTime<Utc>>) -> ReportAnswer {
    ReportAnswer {
        debug_until: debug_until.filter(|t| *t > Utc::now()),
    }
}

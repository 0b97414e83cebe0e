//! The delivery log as users read it: deliveries of a webhook, newest first, each with its most
//! recent attempts.

use super::model::{AttemptOut, DeliveryOut, DeliveryState};
use super::signature::message_header_id;
use crate::error::Result;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use uuid::Uuid;

/// Attempts shown per delivery.
pub const ATTEMPTS_SHOWN: i64 = 50;

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    delivery_id: Uuid,
    webhook_id: Uuid,
    message_id: Uuid,
    event_type: String,
    body: String,
    state: String,
    attempts: i32,
    next_attempt_at: DateTime<Utc>,
    last_status_code: Option<i32>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: Uuid,
    attempt: i32,
    attempted_at: DateTime<Utc>,
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i32,
    response_body: Option<String>,
}

const COLUMNS: &str = "d.delivery_id, d.webhook_id, d.message_id, m.event_type, m.body, d.state,
    d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.finished_at";

/// Which deliveries of a webhook a page holds.
pub struct DeliveryQuery {
    pub org_id: Uuid,
    pub app_id: Uuid,
    pub webhook_id: Uuid,
    /// Older than this delivery (the cursor).
    pub before: Option<Uuid>,
    pub state: Option<DeliveryState>,
    /// Rows to read (a page and one more, to know whether another page follows).
    pub limit: i64,
}

fn state_text(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Pending => "pending",
        DeliveryState::Succeeded => "succeeded",
        DeliveryState::Failed => "failed",
    }
}

/// Deliveries newest first, with their attempts.
pub async fn list(pool: &PgPool, query: &DeliveryQuery) -> Result<Vec<DeliveryOut>> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from webhook_deliveries d
         join webhook_messages m on m.message_id = d.message_id
         where d.org_id = $1 and d.app_id = $2 and d.webhook_id = $3
           and ($4::uuid is null or d.delivery_id < $4)
           and ($5::text is null or d.state = $5)
         order by d.delivery_id desc limit $6"
    ))
    .bind(query.org_id)
    .bind(query.app_id)
    .bind(query.webhook_id)
    .bind(query.before)
    .bind(query.state.map(state_text))
    .bind(query.limit)
    .fetch_all(pool)
    .await?;
    with_attempts(pool, rows).await
}

/// One delivery of the organization's app, with its attempts.
pub async fn get(
    pool: &PgPool,
    org_id: Uuid,
    app_id: Uuid,
    webhook_id: Uuid,
    delivery_id: Uuid,
) -> Result<Option<DeliveryOut>> {
    let row: Option<DeliveryRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from webhook_deliveries d
         join webhook_messages m on m.message_id = d.message_id
         where d.org_id = $1 and d.app_id = $2 and d.webhook_id = $3 and d.delivery_id = $4"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(webhook_id)
    .bind(delivery_id)
    .fetch_optional(pool)
    .await?;
    Ok(with_attempts(pool, row.into_iter().collect()).await?.pop())
}

async fn with_attempts(pool: &PgPool, rows: Vec<DeliveryRow>) -> Result<Vec<DeliveryOut>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.delivery_id).collect();
    let attempts: Vec<AttemptRow> = sqlx::query_as(
        "select delivery_id, attempt, attempted_at, status_code, error, duration_ms, response_body
         from (select a.*, row_number() over (partition by delivery_id order by attempt desc) as n
               from webhook_attempts a where a.delivery_id = any($1)) ranked
         where n <= $2 order by delivery_id, attempt desc",
    )
    .bind(&ids)
    .bind(ATTEMPTS_SHOWN)
    .fetch_all(pool)
    .await?;
    let mut by_delivery: HashMap<Uuid, Vec<AttemptOut>> = HashMap::new();
    for a in attempts {
        by_delivery
            .entry(a.delivery_id)
            .or_default()
            .push(AttemptOut {
                attempt: a.attempt,
                at: a.attempted_at,
                status_code: a.status_code,
                error: a.error,
                duration_ms: a.duration_ms,
                response_body: a.response_body,
            });
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let state = DeliveryState::parse(&r.state);
            DeliveryOut {
                id: r.delivery_id,
                webhook_id: r.webhook_id,
                message_id: message_header_id(r.message_id),
                event_type: r.event_type,
                state,
                attempt_count: r.attempts,
                next_attempt_at: (state == DeliveryState::Pending).then_some(r.next_attempt_at),
                last_status_code: r.last_status_code,
                last_error: r.last_error,
                created_at: r.created_at,
                finished_at: r.finished_at,
                payload: serde_json::from_str(&r.body).unwrap_or(serde_json::Value::String(r.body)),
                attempts: by_delivery.remove(&r.delivery_id).unwrap_or_default(),
            }
        })
        .collect())
}

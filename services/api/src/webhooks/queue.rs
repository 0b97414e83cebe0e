//! The delivery queue in Postgres: messages enqueued with the transaction that made the event,
//! deliveries claimed with `for update skip locked` under a lease (so any number of dispatchers
//! can run and each delivery goes once at a time), outcomes fenced by the attempt number, and
//! old messages pruned.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sqlx::{PgExecutor, PgPool, Postgres, Transaction};
use std::time::Duration;
use uuid::Uuid;

/// Largest message body (the event's JSON).
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Longest dedupe key and event type.
pub const MAX_DEDUPE_KEY_LEN: usize = 256;
pub const MAX_EVENT_TYPE_LEN: usize = 100;
/// Messages deleted per statement when pruning.
const PRUNE_BATCH: i64 = 1_000;

/// The body every attempt of a message sends (and signs).
fn message_body(event_type: &str, at: DateTime<Utc>, data: Value) -> anyhow::Result<String> {
    let body = serde_json::to_string(&json!({
        "type": event_type,
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    }))?;
    anyhow::ensure!(
        body.len() <= MAX_BODY_BYTES,
        "a webhook message is {} bytes, more than {MAX_BODY_BYTES}",
        body.len()
    );
    Ok(body)
}

fn check_names(event_type: &str, dedupe_key: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !event_type.is_empty() && event_type.len() <= MAX_EVENT_TYPE_LEN,
        "a webhook event type must have 1 to {MAX_EVENT_TYPE_LEN} bytes"
    );
    anyhow::ensure!(
        !dedupe_key.is_empty() && dedupe_key.len() <= MAX_DEDUPE_KEY_LEN,
        "a webhook dedupe key must have 1 to {MAX_DEDUPE_KEY_LEN} bytes"
    );
    Ok(())
}

/// Inserts the message unless the app already has one with `dedupe_key`; its organization when
/// it was inserted.
async fn insert_message(
    tx: &mut Transaction<'_, Postgres>,
    message_id: Uuid,
    app_id: Uuid,
    event_type: &str,
    dedupe_key: &str,
    body: &str,
) -> sqlx::Result<Option<Uuid>> {
    let inserted: Option<(Uuid,)> = sqlx::query_as(
        "insert into webhook_messages (message_id, org_id, app_id, event_type, dedupe_key, body)
         select $1, org_id, app_id, $3, $4, $5 from apps where app_id = $2
         on conflict (app_id, dedupe_key) do nothing
         returning org_id",
    )
    .bind(message_id)
    .bind(app_id)
    .bind(event_type)
    .bind(dedupe_key)
    .bind(body)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(inserted.map(|(org,)| org))
}

/// One delivery of `message_id` per webhook in `webhook_ids`; how many were made.
async fn insert_deliveries(
    tx: &mut Transaction<'_, Postgres>,
    message_id: Uuid,
    webhook_ids: &[Uuid],
) -> sqlx::Result<usize> {
    let delivery_ids: Vec<Uuid> = webhook_ids.iter().map(|_| Uuid::now_v7()).collect();
    let result = sqlx::query(
        "insert into webhook_deliveries (delivery_id, org_id, app_id, webhook_id, message_id)
         select t.delivery_id, w.org_id, w.app_id, w.webhook_id, $1
         from unnest($2::uuid[], $3::uuid[]) as t(webhook_id, delivery_id)
         join webhooks w on w.webhook_id = t.webhook_id
         on conflict (webhook_id, message_id) do nothing",
    )
    .bind(message_id)
    .bind(webhook_ids)
    .bind(&delivery_ids)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() as usize)
}

/// Queues an event for every enabled webhook of the app subscribed to `event_type`, inside the
/// caller's transaction (the event and its notification commit together). A `dedupe_key` the
/// app already used adds nothing, also across restarts. Returns the deliveries created.
pub async fn enqueue(
    tx: &mut Transaction<'_, Postgres>,
    app_id: Uuid,
    event_type: &str,
    data: Value,
    dedupe_key: &str,
) -> anyhow::Result<usize> {
    check_names(event_type, dedupe_key)?;
    let message_id = Uuid::now_v7();
    let body = message_body(event_type, Utc::now(), data)?;
    if insert_message(tx, message_id, app_id, event_type, dedupe_key, &body)
        .await?
        .is_none()
    {
        return Ok(0);
    }
    let webhooks: Vec<Uuid> = sqlx::query_scalar(
        "select webhook_id from webhooks
         where app_id = $1 and enabled and (event_types is null or $2 = any(event_types))
         order by webhook_id",
    )
    .bind(app_id)
    .bind(event_type)
    .fetch_all(&mut **tx)
    .await?;
    if webhooks.is_empty() {
        return Ok(0);
    }
    Ok(insert_deliveries(tx, message_id, &webhooks).await?)
}

/// Queues a message for one webhook of the organization's app only (a test event), whatever
/// its subscription; the delivery's id.
pub async fn enqueue_to(
    pool: &PgPool,
    org_id: Uuid,
    app_id: Uuid,
    webhook_id: Uuid,
    event_type: &str,
    data: Value,
) -> anyhow::Result<Uuid> {
    let message_id = Uuid::now_v7();
    let body = message_body(event_type, Utc::now(), data)?;
    let mut tx = crate::db::begin(pool).await?;
    let owned: Option<Uuid> = sqlx::query_scalar(
        "select webhook_id from webhooks where webhook_id = $1 and app_id = $2 and org_id = $3",
    )
    .bind(webhook_id)
    .bind(app_id)
    .bind(org_id)
    .fetch_optional(&mut *tx)
    .await?;
    anyhow::ensure!(
        owned.is_some(),
        "webhook {webhook_id} is not in app {app_id} of organization {org_id}"
    );
    let dedupe_key = format!("{event_type}:{message_id}");
    insert_message(&mut tx, message_id, app_id, event_type, &dedupe_key, &body)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the app of webhook {webhook_id} is gone"))?;
    insert_deliveries(&mut tx, message_id, &[webhook_id]).await?;
    let delivery_id: Uuid = sqlx::query_scalar(
        "select delivery_id from webhook_deliveries where message_id = $1 and webhook_id = $2",
    )
    .bind(message_id)
    .bind(webhook_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(delivery_id)
}

/// A delivery claimed for one attempt, with what sending it needs.
#[derive(sqlx::FromRow)]
pub struct Claimed {
    pub delivery_id: Uuid,
    pub org_id: Uuid,
    pub app_id: Uuid,
    pub webhook_id: Uuid,
    pub message_id: Uuid,
    /// This attempt's number (fences the outcome).
    pub attempt: i32,
    pub url: String,
    pub enabled: bool,
    pub secret_ciphertext: Vec<u8>,
    pub body: String,
}

const CLAIMED_COLUMNS: &str = "c.delivery_id, c.org_id, c.app_id, c.webhook_id, c.message_id,
    c.attempts as attempt, w.url, w.enabled, w.secret_ciphertext, m.body";

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Claims up to `limit` due deliveries, oldest due first and at most one per app (none of the
/// apps in `excluded`, which have as many attempts running as they may): each gets its attempt
/// number and a lease (`next_attempt_at` pushed `lease` ahead).
pub async fn claim_due(
    pool: &PgPool,
    limit: usize,
    excluded: &[Uuid],
    lease: Duration,
) -> sqlx::Result<Vec<Claimed>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    sqlx::query_as(&format!(
        "with due as (
             select delivery_id, app_id, next_attempt_at from webhook_deliveries
             where state = 'pending' and next_attempt_at <= now() and app_id <> all($2)
             order by next_attempt_at
             limit $1 * 8
             for update skip locked
         ), picked as (
             select delivery_id from (
                 select delivery_id, next_attempt_at,
                        row_number() over (partition by app_id order by next_attempt_at) as n
                 from due
             ) ranked
             where n = 1 order by next_attempt_at limit $1
         ), c as (
             update webhook_deliveries d
             set attempts = d.attempts + 1,
                 next_attempt_at = now() + $3::float8 * interval '1 millisecond'
             from picked where d.delivery_id = picked.delivery_id
             returning d.*
         )
         select {CLAIMED_COLUMNS} from c
         join webhooks w on w.webhook_id = c.webhook_id
         join webhook_messages m on m.message_id = c.message_id"
    ))
    .bind(limit)
    .bind(excluded)
    .bind(millis(lease))
    .fetch_all(pool)
    .await
}

/// Claims one pending delivery of the organization now, due or not (a test event, a manual
/// retry); `None` when it is not pending or another sender has it.
pub async fn claim_one(
    pool: &PgPool,
    org_id: Uuid,
    delivery_id: Uuid,
    lease: Duration,
) -> sqlx::Result<Option<Claimed>> {
    sqlx::query_as(&format!(
        "with picked as (
             select delivery_id from webhook_deliveries
             where org_id = $1 and delivery_id = $2 and state = 'pending'
             for update skip locked
         ), c as (
             update webhook_deliveries d
             set attempts = d.attempts + 1,
                 next_attempt_at = now() + $3::float8 * interval '1 millisecond'
             from picked where d.delivery_id = picked.delivery_id
             returning d.*
         )
         select {CLAIMED_COLUMNS} from c
         join webhooks w on w.webhook_id = c.webhook_id
         join webhook_messages m on m.message_id = c.message_id"
    ))
    .bind(org_id)
    .bind(delivery_id)
    .bind(millis(lease))
    .fetch_optional(pool)
    .await
}

/// What one attempt found.
pub struct Outcome {
    pub at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
    pub response_body: Option<String>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Records an attempt and moves the delivery on: succeeded on a 2xx; otherwise due again after
/// `retry_delay` (never later than `give_up_after` past its `retry_from`), or failed once that
/// has passed. `false` when the delivery was not this attempt's any more (fenced: nothing
/// written).
pub async fn record(
    db: impl PgExecutor<'_>,
    claimed: &Claimed,
    outcome: &Outcome,
    retry_delay: Duration,
    give_up_after: Duration,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "with deadline as (
             select delivery_id, retry_from + $5::float8 * interval '1 millisecond' as at,
                    now() >= retry_from + $5::float8 * interval '1 millisecond' as passed
             from webhook_deliveries where delivery_id = $1
         ), updated as (
             update webhook_deliveries d set
                 state = case when $3 then 'succeeded' when deadline.passed then 'failed'
                              else 'pending' end,
                 next_attempt_at = case when $3 or deadline.passed then d.next_attempt_at
                     else least(now() + $4::float8 * interval '1 millisecond', deadline.at) end,
                 finished_at = case when $3 or deadline.passed then now() end,
                 last_status_code = $6, last_error = $7
             from deadline
             where d.delivery_id = deadline.delivery_id and d.attempts = $2 and d.state = 'pending'
             returning d.delivery_id
         )
         insert into webhook_attempts
             (delivery_id, attempt, attempted_at, status_code, error, duration_ms, response_body)
         select delivery_id, $2, $8, $6, $7, $9, $10 from updated",
    )
    .bind(claimed.delivery_id)
    .bind(claimed.attempt)
    .bind(outcome.succeeded())
    .bind(millis(retry_delay))
    .bind(millis(give_up_after))
    .bind(outcome.status_code)
    .bind(outcome.error.as_deref())
    .bind(outcome.at)
    .bind(outcome.duration_ms)
    .bind(outcome.response_body.as_deref())
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Fails a claimed delivery without an attempt: its webhook was disabled.
pub async fn fail_disabled(db: impl PgExecutor<'_>, claimed: &Claimed) -> sqlx::Result<()> {
    sqlx::query(
        "update webhook_deliveries set state = 'failed', attempts = attempts - 1,
             finished_at = now(), last_error = 'the webhook is disabled'
         where delivery_id = $1 and attempts = $2 and state = 'pending'",
    )
    .bind(claimed.delivery_id)
    .bind(claimed.attempt)
    .execute(db)
    .await?;
    Ok(())
}

/// Makes a finished delivery pending again, due now, with a new retry window; `false` when it
/// is still pending (or not found).
pub async fn reopen(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    delivery_id: Uuid,
) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "update webhook_deliveries set state = 'pending', next_attempt_at = now(),
             retry_from = now(), finished_at = null
         where org_id = $1 and delivery_id = $2 and state <> 'pending'",
    )
    .bind(org_id)
    .bind(delivery_id)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Deletes messages (with their deliveries and attempts) older than `retention` that have
/// nothing pending, in bounded batches; how many.
pub async fn prune(pool: &PgPool, retention: Duration) -> sqlx::Result<u64> {
    let mut total = 0;
    // Bounded per call: the next run continues.
    for _ in 0..20 {
        let deleted = sqlx::query(
            "with old as (
                 select m.message_id from webhook_messages m
                 where m.created_at < now() - $1::float8 * interval '1 millisecond'
                   and not exists (select 1 from webhook_deliveries d
                                   where d.message_id = m.message_id and d.state = 'pending')
                 order by m.created_at limit $2
                 for update skip locked
             )
             delete from webhook_messages where message_id in (select message_id from old)",
        )
        .bind(millis(retention))
        .bind(PRUNE_BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        total += deleted;
        if deleted < PRUNE_BATCH as u64 {
            break;
        }
    }
    Ok(total)
}

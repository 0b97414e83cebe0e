//! Webhook persistence. Every function is scoped by organization and app; the secret is stored
//! only encrypted, and read only by the senders and key rotation.

use super::model::WebhookOut;
use crate::error::{ApiError, Result, violated_constraint};
use crate::http::extract::PageRequest;
use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, Postgres, Transaction};
use uuid::Uuid;

/// Webhooks one app may have (each event makes one delivery per webhook).
pub const MAX_WEBHOOKS_PER_APP: i64 = 20;

#[derive(Debug, sqlx::FromRow)]
pub struct WebhookRow {
    pub webhook_id: Uuid,
    pub org_id: Uuid,
    pub app_id: Uuid,
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub event_types: Option<Vec<String>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookRow {
    pub fn to_out(&self) -> WebhookOut {
        WebhookOut {
            id: self.webhook_id,
            app_id: self.app_id,
            url: self.url.clone(),
            description: self.description.clone(),
            enabled: self.enabled,
            event_types: self.event_types.clone(),
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLUMNS: &str = "webhook_id, org_id, app_id, url, description, enabled, event_types, version,
    created_at, updated_at";

/// The settings a create or an update writes.
pub struct WebhookFields<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub enabled: bool,
    pub event_types: Option<&'a [String]>,
}

/// An encrypted secret being written.
pub struct SealedKey {
    pub ciphertext: Vec<u8>,
    pub key_id: String,
}

fn limit_reached() -> ApiError {
    ApiError::conflict(
        "webhook_limit_reached",
        format!(
            "This app has {MAX_WEBHOOKS_PER_APP} webhooks, the most it may have; delete one first (DELETE /v1/apps/{{appId}}/webhooks/{{webhookId}})."
        ),
    )
}

/// Inserts a webhook unless the app already has the most it may have (409).
pub async fn insert(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    webhook_id: Uuid,
    fields: &WebhookFields<'_>,
    secret: &SealedKey,
) -> Result<WebhookRow> {
    let row: Option<WebhookRow> = sqlx::query_as(&format!(
        "insert into webhooks (webhook_id, org_id, app_id, url, description, enabled, event_types,
             secret_ciphertext, secret_key_id)
         select $1, $2, $3, $4, $5, $6, $7, $8, $9
         where (select count(*) from webhooks where app_id = $3) < $10
         returning {COLUMNS}"
    ))
    .bind(webhook_id)
    .bind(org_id)
    .bind(app_id)
    .bind(fields.url)
    .bind(fields.description)
    .bind(fields.enabled)
    .bind(fields.event_types)
    .bind(&secret.ciphertext)
    .bind(&secret.key_id)
    .bind(MAX_WEBHOOKS_PER_APP)
    .fetch_optional(db)
    .await
    .map_err(|e| match violated_constraint(&e) {
        Some("webhooks_app_id_fkey") => ApiError::NotFound("app"),
        _ => e.into(),
    })?;
    row.ok_or_else(limit_reached)
}

pub async fn get(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    webhook_id: Uuid,
) -> Result<Option<WebhookRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from webhooks where org_id = $1 and app_id = $2 and webhook_id = $3"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(webhook_id)
    .fetch_optional(db)
    .await?)
}

/// The webhook, or 404.
pub async fn require(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    webhook_id: Uuid,
) -> Result<WebhookRow> {
    get(db, org_id, app_id, webhook_id)
        .await?
        .ok_or(ApiError::NotFound("webhook"))
}

/// Reads and locks the row for the rest of the transaction.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    org_id: Uuid,
    app_id: Uuid,
    webhook_id: Uuid,
) -> Result<WebhookRow> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from webhooks
         where org_id = $1 and app_id = $2 and webhook_id = $3 for update"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(webhook_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(ApiError::NotFound("webhook"))
}

pub async fn list(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    page: &PageRequest,
) -> Result<Vec<WebhookRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from webhooks
         where org_id = $1 and app_id = $2 and ($3::uuid is null or webhook_id > $3)
         order by webhook_id limit $4"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(page.after)
    .bind(page.limit + 1)
    .fetch_all(db)
    .await?)
}

/// Replaces the settings, bumping the version.
pub async fn update(
    tx: &mut Transaction<'_, Postgres>,
    current: &WebhookRow,
    fields: &WebhookFields<'_>,
) -> Result<WebhookRow> {
    Ok(sqlx::query_as(&format!(
        "update webhooks set url = $3, description = $4, enabled = $5, event_types = $6,
             version = version + 1, updated_at = now()
         where org_id = $1 and webhook_id = $2 returning {COLUMNS}"
    ))
    .bind(current.org_id)
    .bind(current.webhook_id)
    .bind(fields.url)
    .bind(fields.description)
    .bind(fields.enabled)
    .bind(fields.event_types)
    .fetch_one(&mut **tx)
    .await?)
}

/// Replaces the secret, bumping the version; `None` when the webhook does not exist.
pub async fn set_secret(
    db: impl PgExecutor<'_>,
    org_id: Uuid,
    app_id: Uuid,
    webhook_id: Uuid,
    secret: &SealedKey,
) -> Result<Option<WebhookRow>> {
    Ok(sqlx::query_as(&format!(
        "update webhooks set secret_ciphertext = $4, secret_key_id = $5, version = version + 1,
             updated_at = now()
         where org_id = $1 and app_id = $2 and webhook_id = $3 returning {COLUMNS}"
    ))
    .bind(org_id)
    .bind(app_id)
    .bind(webhook_id)
    .bind(&secret.ciphertext)
    .bind(&secret.key_id)
    .fetch_optional(db)
    .await?)
}

/// Deletes the webhook (its deliveries go with it), only at one of `expected_versions` when
/// given. `Ok(None)` = not found, `Ok(Some(false))` = version mismatch.
pub async fn delete(
    db: &sqlx::PgPool,
    org_id: Uuid,
    app_id: Uuid,
    webhook_id: Uuid,
    expected_versions: Option<Vec<i64>>,
) -> Result<Option<bool>> {
    let result = sqlx::query(
        "delete from webhooks where org_id = $1 and app_id = $2 and webhook_id = $3
           and ($4::bigint[] is null or version = any($4))",
    )
    .bind(org_id)
    .bind(app_id)
    .bind(webhook_id)
    .bind(expected_versions)
    .execute(db)
    .await?;
    if result.rows_affected() == 1 {
        return Ok(Some(true));
    }
    Ok(get(db, org_id, app_id, webhook_id).await?.map(|_| false))
}

/// One webhook's secret for re-encryption.
#[derive(Debug, sqlx::FromRow)]
pub struct SecretRow {
    pub webhook_id: Uuid,
    pub org_id: Uuid,
    pub secret_ciphertext: Vec<u8>,
}

/// Webhooks whose secret is not under `active_key_id`, after `after`, in id order.
pub async fn secrets_not_under(
    db: impl PgExecutor<'_>,
    active_key_id: &str,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<SecretRow>> {
    Ok(sqlx::query_as(
        "select webhook_id, org_id, secret_ciphertext from webhooks
         where secret_key_id <> $1 and ($2::uuid is null or webhook_id > $2)
         order by webhook_id limit $3",
    )
    .bind(active_key_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// Swaps the ciphertext only if it is still the one that was read (no lost concurrent update).
pub async fn replace_secret(
    db: impl PgExecutor<'_>,
    row: &SecretRow,
    secret: &SealedKey,
) -> Result<bool> {
    let result = sqlx::query(
        "update webhooks set secret_ciphertext = $3, secret_key_id = $4
         where webhook_id = $1 and secret_ciphertext = $2",
    )
    .bind(row.webhook_id)
    .bind(&row.secret_ciphertext)
    .bind(&secret.ciphertext)
    .bind(&secret.key_id)
    .execute(db)
    .await?;
    Ok(result.rows_affected() == 1)
}

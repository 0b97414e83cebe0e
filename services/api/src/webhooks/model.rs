//! Webhook DTOs: `WebhookIn` (create), `WebhookPatch` (merge patch), `WebhookOut` (never with the
//! secret), `WebhookCreated` (the one answer with it), deliveries and their attempts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Event types a webhook may subscribe to. `webhook.test` goes to the webhook it is sent to
/// whatever its subscription.
pub const EVENT_TYPES: &[&str] = &["alert.pending", "alert.firing", "alert.resolved"];
/// The type of the test event.
pub const TEST_EVENT: &str = "webhook.test";

/// A webhook as sent on create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://hooks.example.com/edgebridge",
    "description": "on-call alerts",
    "eventTypes": ["alert.firing", "alert.resolved"]
}))]
pub struct WebhookIn {
    /// `https://` (or `http://`) URL, at most 2048 characters, without a user name or password.
    /// Its host must resolve to addresses this deployment may reach (public ones, unless the
    /// operator allows private ones).
    pub url: String,
    /// At most 1024 characters.
    pub description: Option<String>,
    /// Default true. A disabled webhook gets no new events (test events excepted).
    pub enabled: Option<bool>,
    /// The event types to deliver (`alert.pending`, `alert.firing`, `alert.resolved`); left out
    /// or `null`: every type.
    pub event_types: Option<Vec<String>>,
    /// `whsec_` + base64 of 24 to 64 random bytes; left out, one is generated. Returned once, in
    /// this answer.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: Option<String>,
}

/// `Some(None)` for an explicit `null`, `None` (by `default`) for a member left out.
fn explicit_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A JSON merge patch of a webhook: members left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// `null` delivers every type again.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Option<Option<Vec<String>>>,
}

/// A webhook. Its secret is shown only when created or rotated.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookOut {
    pub id: Uuid,
    pub app_id: Uuid,
    #[schema(example = "https://hooks.example.com/edgebridge")]
    pub url: String,
    pub description: String,
    pub enabled: bool,
    /// The event types delivered; `null`: every type.
    #[schema(example = json!(["alert.firing", "alert.resolved"]))]
    pub event_types: Option<Vec<String>>,
    /// The version the `ETag` header carries.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A webhook with its signing secret: keep the secret now, it is not shown again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: WebhookOut,
    /// The signing secret (`whsec_...`). Shown only in this answer.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// A page of webhooks, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPage {
    pub items: Vec<WebhookOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet: an attempt is due at `nextAttemptAt`.
    Pending,
    /// An attempt got a 2xx answer.
    Succeeded,
    /// Retries ran out (24 hours by default), or the webhook was disabled.
    Failed,
}

impl DeliveryState {
    pub fn parse(s: &str) -> Self {
        match s {
            "succeeded" => DeliveryState::Succeeded,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptOut {
    /// 1 for the first attempt.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The HTTP status the endpoint answered; `null` when there was no answer (see `error`).
    #[schema(example = 500)]
    pub status_code: Option<i32>,
    /// Why the attempt failed without an answer (timeout, refused connection, address not
    /// allowed), or what was wrong with the answer.
    pub error: Option<String>,
    pub duration_ms: i32,
    /// The start of the answer's body (at most 1 KiB).
    pub response_body: Option<String>,
}

/// One message to one webhook, with its attempts (newest first).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOut {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The `webhook-id` header: the same on every attempt, for receivers to drop duplicates.
    #[schema(example = "msg_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b")]
    pub message_id: String,
    #[schema(example = "alert.firing")]
    pub event_type: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempt_count: i32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The message as sent (`type`, `timestamp`, `data`).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The most recent attempts, newest first (at most 50).
    pub attempts: Vec<AttemptOut>,
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    pub items: Vec<DeliveryOut>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

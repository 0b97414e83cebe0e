//! A webhook's deliveries: send a test event now, read the delivery log, retry a delivery now.

use super::log::{self, DeliveryQuery};
use super::model::{DeliveryOut, DeliveryPage, DeliveryState, TEST_EVENT};
use super::{queue, repo};
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiPath, ApiQuery, PageParams, encode_cursor};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use uuid::Uuid;

/// Sends the attempt of a pending delivery now (the caller waits for it, bounded by the
/// webhook request timeout) and answers the delivery with its log.
async fn send_now(
    state: &AppState,
    auth: &AuthContext,
    app_id: Uuid,
    webhook_id: Uuid,
    delivery_id: Uuid,
) -> Result<Json<DeliveryOut>> {
    let _slot = state.webhooks.try_slot().ok_or_else(|| {
        ApiError::other(
            StatusCode::TOO_MANY_REQUESTS,
            "webhook_sends_busy",
            "Too many webhook sends are running in this api process right now; retry in a few seconds.",
        )
    })?;
    if let Some(claimed) = queue::claim_one(
        &state.pool,
        auth.org_id,
        delivery_id,
        state.webhooks.lease(),
    )
    .await?
    {
        state
            .webhooks
            .attempt(&state.pool, &state.keyring, &claimed)
            .await?;
    }
    log::get(&state.pool, auth.org_id, app_id, webhook_id, delivery_id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("delivery"))
}

/// Send a test event
///
/// Queues a `webhook.test` message for this webhook (whatever its `eventTypes`, also when it is
/// disabled) and makes its first attempt now; answers the delivery with that attempt's result.
/// A failed attempt is retried on the usual schedule.
#[utoipa::path(post, path = "/v1/apps/{appId}/webhooks/{webhookId}/test", operation_id = "testWebhook", tag = "webhooks",
    params(("appId" = Uuid, Path, description = "The app's id"), ("webhookId" = Uuid, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The delivery after its first attempt (`state` succeeded, or pending with the attempt's status code or error)", body = DeliveryOut),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many webhook sends are running (`webhook_sends_busy`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn test_webhook(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, webhook_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<DeliveryOut>> {
    auth.check_app(app_id)?;
    repo::require(&state.pool, auth.org_id, app_id, webhook_id).await?;
    auth.require_write()?;
    let data = json!({
        "appId": app_id,
        "webhookId": webhook_id,
        "message": "A test event sent with POST /v1/apps/{appId}/webhooks/{webhookId}/test.",
    });
    let delivery_id = queue::enqueue_to(
        &state.pool,
        auth.org_id,
        app_id,
        webhook_id,
        TEST_EVENT,
        data,
    )
    .await?;
    tracing::info!(%webhook_id, %delivery_id, "webhook test event queued");
    send_now(&state, &auth, app_id, webhook_id, delivery_id).await
}

/// Which deliveries to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only deliveries in this state.
    #[param(inline)]
    pub state: Option<DeliveryState>,
}

/// List a webhook's deliveries
///
/// The delivery log, newest first: each message sent to the webhook, its state, and its
/// attempts (newest first) with their status codes, errors, times and the start of each answer.
#[utoipa::path(get, path = "/v1/apps/{appId}/webhooks/{webhookId}/deliveries", operation_id = "listWebhookDeliveries", tag = "webhooks",
    params(("appId" = Uuid, Path, description = "The app's id"), ("webhookId" = Uuid, Path, description = "The webhook's id"), DeliveryParams),
    responses(
        (status = 200, description = "A page of deliveries, newest first", body = DeliveryPage),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_webhook_deliveries(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, webhook_id)): ApiPath<(Uuid, Uuid)>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> Result<Json<DeliveryPage>> {
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .resolve()?;
    auth.check_app(app_id)?;
    repo::require(&state.pool, auth.org_id, app_id, webhook_id).await?;
    let query = DeliveryQuery {
        org_id: auth.org_id,
        app_id,
        webhook_id,
        before: page.after,
        state: params.state,
        limit: page.limit + 1,
    };
    let mut items = log::list(&state.pool, &query).await?;
    let limit = page.limit as usize;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|d| encode_cursor(d.id))
    } else {
        None
    };
    Ok(Json(DeliveryPage { items, next_cursor }))
}

/// Get a delivery
#[utoipa::path(get, path = "/v1/apps/{appId}/webhooks/{webhookId}/deliveries/{deliveryId}", operation_id = "getWebhookDelivery", tag = "webhooks",
    params(("appId" = Uuid, Path, description = "The app's id"), ("webhookId" = Uuid, Path, description = "The webhook's id"),
        ("deliveryId" = Uuid, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "The delivery with its attempts", body = DeliveryOut),
        (status = 404, description = "No such delivery", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_webhook_delivery(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, webhook_id, delivery_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<Json<DeliveryOut>> {
    auth.check_app(app_id)?;
    log::get(&state.pool, auth.org_id, app_id, webhook_id, delivery_id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("delivery"))
}

/// Retry a delivery
///
/// Sends a finished delivery (failed, or succeeded) again now, with the same `webhook-id` and
/// body; if that attempt fails it is retried on the usual schedule, for another 24 hours.
#[utoipa::path(post, path = "/v1/apps/{appId}/webhooks/{webhookId}/deliveries/{deliveryId}/retry", operation_id = "retryWebhookDelivery", tag = "webhooks",
    params(("appId" = Uuid, Path, description = "The app's id"), ("webhookId" = Uuid, Path, description = "The webhook's id"),
        ("deliveryId" = Uuid, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "The delivery after the new attempt", body = DeliveryOut),
        (status = 404, description = "No such delivery", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The delivery is still pending: it is retried on its schedule (`delivery_pending`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many webhook sends are running (`webhook_sends_busy`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry_webhook_delivery(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, webhook_id, delivery_id)): ApiPath<(Uuid, Uuid, Uuid)>,
) -> Result<Json<DeliveryOut>> {
    auth.check_app(app_id)?;
    let current = log::get(&state.pool, auth.org_id, app_id, webhook_id, delivery_id)
        .await?
        .ok_or(ApiError::NotFound("delivery"))?;
    auth.require_write()?;
    if !queue::reopen(&state.pool, auth.org_id, delivery_id).await? {
        let due = current
            .next_attempt_at
            .map(|at| format!(" (next attempt at {})", at.to_rfc3339()))
            .unwrap_or_default();
        return Err(ApiError::conflict(
            "delivery_pending",
            format!("The delivery is still pending{due}; it is retried on its schedule."),
        ));
    }
    tracing::info!(%webhook_id, %delivery_id, "webhook delivery retried");
    send_now(&state, &auth, app_id, webhook_id, delivery_id).await
}

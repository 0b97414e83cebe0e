//! Webhook handlers: create (the one answer with the secret), read, list, merge patch, delete,
//! and rotating the secret. ETag/If-Match as for connectors.

use super::keys;
use super::model::{EVENT_TYPES, WebhookCreated, WebhookIn, WebhookOut, WebhookPage, WebhookPatch};
use super::repo::{self, WebhookFields, WebhookRow};
use super::signature::SigningKey;
use super::target;
use crate::apps;
use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{
    ApiJson, ApiPath, ApiQuery, PageParams, check_if_match, etag, if_match_versions, paginate,
};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use edgebridge_domain::Violation;
use reqwest::Url;
use secrecy::ExposeSecret;
use uuid::Uuid;

const MAX_DESCRIPTION: usize = 1024;

/// 404 unless the app exists in the caller's organization and scope.
pub(super) async fn require_app(state: &AppState, auth: &AuthContext, app_id: Uuid) -> Result<()> {
    auth.check_app(app_id)?;
    apps::repo::require(&state.pool, auth.org_id, app_id).await
}

/// The webhook as a visibility check (404 when the caller cannot see it).
pub(super) async fn webhook_visible(
    state: &AppState,
    auth: &AuthContext,
    app_id: Uuid,
    webhook_id: Uuid,
) -> Result<()> {
    repo::require(&state.pool, auth.org_id, app_id, webhook_id)
        .await
        .map(|_| ())
}

fn with_etag(status: StatusCode, row: WebhookRow, body: impl serde::Serialize) -> Response {
    let location = format!("/v1/apps/{}/webhooks/{}", row.app_id, row.webhook_id);
    let mut response = (status, [(header::ETAG, etag(row.version))], Json(body)).into_response();
    if status == StatusCode::CREATED
        && let Ok(value) = location.parse()
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn violation(path: impl Into<String>, message: impl Into<String>) -> Violation {
    Violation {
        path: path.into(),
        message: message.into(),
    }
}

/// What a create or a patch asks for, checked: every problem is reported at once.
struct Checked {
    url: Option<Url>,
    key: Option<SigningKey>,
}

async fn check(
    state: &AppState,
    url: Option<&str>,
    description: Option<&str>,
    event_types: Option<&[String]>,
    secret: Option<&str>,
) -> Result<Checked> {
    let mut errors = Vec::new();
    let mut checked = Checked {
        url: None,
        key: None,
    };
    if let Some(raw) = url {
        match target::parse_url(raw) {
            Err(why) => errors.push(violation("/url", why)),
            Ok(parsed) => match target::check_url(&parsed, state.webhooks.policy()).await {
                Err(why) => errors.push(violation("/url", why)),
                Ok(()) => checked.url = Some(parsed),
            },
        }
    }
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        errors.push(violation(
            "/description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if let Some(types) = event_types {
        if types.is_empty() {
            errors.push(violation(
                "/eventTypes",
                "must list at least one event type, or be null (or left out) for every type",
            ));
        }
        for (i, event_type) in types.iter().enumerate() {
            if !EVENT_TYPES.contains(&event_type.as_str()) {
                errors.push(violation(
                    format!("/eventTypes/{i}"),
                    format!("`{event_type}` is not an event type; use one of {EVENT_TYPES:?}"),
                ));
            } else if types[..i].contains(event_type) {
                errors.push(violation(format!("/eventTypes/{i}"), "is listed twice"));
            }
        }
    }
    if let Some(secret) = secret {
        match SigningKey::parse(secret) {
            Ok(key) => checked.key = Some(key),
            Err(why) => errors.push(violation("/secret", why)),
        }
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// List webhooks
///
/// The app's webhooks, oldest first. Secrets are never listed.
#[utoipa::path(get, path = "/v1/apps/{appId}/webhooks", operation_id = "listWebhooks", tag = "webhooks",
    params(("appId" = Uuid, Path, description = "The app's id"), PageParams),
    responses(
        (status = 200, description = "A page of webhooks", body = WebhookPage),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<WebhookPage>> {
    let page = params.resolve()?;
    require_app(&state, &auth, app_id).await?;
    let rows = repo::list(&state.pool, auth.org_id, app_id, &page).await?;
    let (rows, next_cursor) = paginate(rows, &page, |r| r.webhook_id);
    let items = rows.iter().map(WebhookRow::to_out).collect();
    Ok(Json(WebhookPage { items, next_cursor }))
}

/// Create a webhook
///
/// Alert transitions of the app's connectors are POSTed to `url`, signed with the webhook's
/// secret the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
/// The answer holds the secret (`whsec_...`): it is shown only here. The URL's host must
/// resolve to addresses this deployment may reach (checked again at every attempt). An app has
/// at most 20 webhooks.
#[utoipa::path(post, path = "/v1/apps/{appId}/webhooks", operation_id = "createWebhook", tag = "webhooks",
    params(("appId" = Uuid, Path, description = "The app's id")),
    request_body = WebhookIn,
    responses(
        (status = 201, description = "The webhook, with its secret (shown only now)", body = WebhookCreated,
            headers(("ETag" = String, description = "The webhook's version"), ("Location" = String, description = "URL of the webhook"))),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The app has the most webhooks it may have (`webhook_limit_reached`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values; `errors` lists each with its path (a URL whose address is not allowed, a secret of the wrong form...)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_webhook(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<WebhookIn>,
) -> Result<Response> {
    require_app(&state, &auth, app_id).await?;
    auth.require_write()?;
    let checked = check(
        &state,
        Some(&body.url),
        body.description.as_deref(),
        body.event_types.as_deref(),
        body.secret.as_deref(),
    )
    .await?;
    let url = checked
        .url
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("checked webhook lacks its URL")))?;
    let key = checked.key.unwrap_or_else(SigningKey::generate);
    let webhook_id = Uuid::now_v7();
    let sealed = keys::seal(&state.keyring, auth.org_id, webhook_id, &key);
    let fields = WebhookFields {
        url: url.as_str(),
        description: body.description.as_deref().unwrap_or_default(),
        enabled: body.enabled.unwrap_or(true),
        event_types: body.event_types.as_deref(),
    };
    let row = repo::insert(
        &state.pool,
        auth.org_id,
        app_id,
        webhook_id,
        &fields,
        &sealed,
    )
    .await?;
    tracing::info!(%webhook_id, %app_id, "webhook created");
    let created = WebhookCreated {
        webhook: row.to_out(),
        secret: key.to_secret_string().expose_secret().to_owned(),
    };
    Ok(with_etag(StatusCode::CREATED, row, created))
}

/// Get a webhook
#[utoipa::path(get, path = "/v1/apps/{appId}/webhooks/{webhookId}", operation_id = "getWebhook", tag = "webhooks",
    params(("appId" = Uuid, Path, description = "The app's id"), ("webhookId" = Uuid, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook (without its secret)", body = WebhookOut,
            headers(("ETag" = String, description = "The webhook's version, for If-Match"))),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_webhook(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, webhook_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response> {
    auth.check_app(app_id)?;
    let row = repo::require(&state.pool, auth.org_id, app_id, webhook_id).await?;
    let out = row.to_out();
    Ok(with_etag(StatusCode::OK, row, out))
}

/// Update a webhook (JSON merge patch)
///
/// Changes the URL, description, `enabled` or `eventTypes` (`null`: every type). Members left
/// out stay. A disabled webhook gets no new events, and its pending deliveries fail when they
/// come due. The secret changes only with `rotate-secret`.
#[utoipa::path(patch, path = "/v1/apps/{appId}/webhooks/{webhookId}", operation_id = "updateWebhook", tag = "webhooks",
    params(("appId" = Uuid, Path, description = "The app's id"), ("webhookId" = Uuid, Path, description = "The webhook's id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The ETag you read; 412 if the webhook changed since")),
    request_body(content = WebhookPatch, content_type = "application/merge-patch+json",
        description = "A JSON merge patch (also accepted as application/json)"),
    responses(
        (status = 200, description = "The updated webhook", body = WebhookOut,
            headers(("ETag" = String, description = "The new version"))),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The webhook changed since you read it", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values; `errors` lists each with its path", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_webhook(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, webhook_id)): ApiPath<(Uuid, Uuid)>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> Result<Response> {
    auth.check_app(app_id)?;
    auth.require_write_on(webhook_visible(&state, &auth, app_id, webhook_id))
        .await?;
    // Resolving the host happens before the row is locked.
    let event_types = patch.event_types.as_ref().map(Option::as_deref);
    let checked = check(
        &state,
        patch.url.as_deref(),
        patch.description.as_deref(),
        event_types.flatten(),
        None,
    )
    .await?;
    let mut tx = crate::db::begin(&state.pool).await?;
    let current = repo::lock(&mut tx, auth.org_id, app_id, webhook_id).await?;
    check_if_match(&headers, current.version)?;
    let fields = WebhookFields {
        url: checked
            .url
            .as_ref()
            .map_or(current.url.as_str(), Url::as_str),
        description: patch.description.as_deref().unwrap_or(&current.description),
        enabled: patch.enabled.unwrap_or(current.enabled),
        event_types: event_types.unwrap_or(current.event_types.as_deref()),
    };
    let row = repo::update(&mut tx, &current, &fields).await?;
    tx.commit().await?;
    tracing::info!(%webhook_id, version = row.version, "webhook updated");
    let out = row.to_out();
    Ok(with_etag(StatusCode::OK, row, out))
}

/// Delete a webhook
///
/// Removes the webhook with its deliveries and their log.
#[utoipa::path(delete, path = "/v1/apps/{appId}/webhooks/{webhookId}", operation_id = "deleteWebhook", tag = "webhooks",
    params(("appId" = Uuid, Path, description = "The app's id"), ("webhookId" = Uuid, Path, description = "The webhook's id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "The ETag you read; 412 if the webhook changed since")),
    responses(
        (status = 204, description = "The webhook was deleted"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The webhook changed since you read it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, webhook_id)): ApiPath<(Uuid, Uuid)>,
    headers: HeaderMap,
) -> Result<StatusCode> {
    auth.check_app(app_id)?;
    auth.require_write_on(webhook_visible(&state, &auth, app_id, webhook_id))
        .await?;
    let expected = if_match_versions(&headers)?;
    match repo::delete(&state.pool, auth.org_id, app_id, webhook_id, expected).await? {
        Some(true) => {
            tracing::info!(%webhook_id, "webhook deleted");
            Ok(StatusCode::NO_CONTENT)
        }
        Some(false) => Err(ApiError::PreconditionFailed),
        None => Err(ApiError::NotFound("webhook")),
    }
}

/// Rotate a webhook's secret
///
/// Replaces the secret with a new random one, answered once, here. Attempts from now on (also
/// retries of earlier messages) are signed with the new secret.
#[utoipa::path(post, path = "/v1/apps/{appId}/webhooks/{webhookId}/rotate-secret", operation_id = "rotateWebhookSecret", tag = "webhooks",
    params(("appId" = Uuid, Path, description = "The app's id"), ("webhookId" = Uuid, Path, description = "The webhook's id")),
    responses(
        (status = 200, description = "The webhook with its new secret (shown only now)", body = WebhookCreated,
            headers(("ETag" = String, description = "The new version"))),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate_webhook_secret(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath((app_id, webhook_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Response> {
    auth.check_app(app_id)?;
    auth.require_write_on(webhook_visible(&state, &auth, app_id, webhook_id))
        .await?;
    let key = SigningKey::generate();
    let sealed = keys::seal(&state.keyring, auth.org_id, webhook_id, &key);
    let row = repo::set_secret(&state.pool, auth.org_id, app_id, webhook_id, &sealed)
        .await?
        .ok_or(ApiError::NotFound("webhook"))?;
    tracing::info!(%webhook_id, "webhook secret rotated");
    let body = WebhookCreated {
        webhook: row.to_out(),
        secret: key.to_secret_string().expose_secret().to_owned(),
    };
    Ok(with_etag(StatusCode::OK, row, body))
}

//! `/v1/apps`: the apps of an organization.

pub mod model;
pub mod repo;

use crate::auth::AuthContext;
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, PageParams, paginate};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use edgebridge_domain::Violation;
use edgebridge_domain::names::check_resource_name;
use model::{AppIn, AppOut, AppPage, AppPatch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, create_app))
        .routes(routes!(get_app, update_app, delete_app))
}

const MAX_DESCRIPTION: usize = 1024;

fn check_fields(name: Option<&str>, description: Option<&str>) -> Result<()> {
    let mut errors = Vec::new();
    if let Some(Err(message)) = name.map(check_resource_name) {
        errors.push(Violation {
            path: "/name".into(),
            message,
        });
    }
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        errors.push(Violation {
            path: "/description".into(),
            message: format!("must be at most {MAX_DESCRIPTION} characters"),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// List apps
///
/// The apps of your organization (only its own app for a key limited to one app), oldest first.
#[utoipa::path(get, path = "/v1/apps", operation_id = "listApps", tag = "apps",
    params(PageParams),
    responses((status = 200, description = "A page of apps", body = AppPage)))]
async fn list_apps(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<AppPage>> {
    let page = params.resolve()?;
    let rows = repo::list(&state.pool, auth.org_id, auth.app_scope, &page).await?;
    let (items, next_cursor) = paginate(rows, &page, |a| a.id);
    Ok(Json(AppPage { items, next_cursor }))
}

/// Create an app
#[utoipa::path(post, path = "/v1/apps", operation_id = "createApp", tag = "apps",
    request_body = AppIn,
    responses(
        (status = 201, description = "The app was created", body = AppOut,
            headers(("Location" = String, description = "URL of the new app"))),
        (status = 409, description = "An app with this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or description", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_app(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiJson(body): ApiJson<AppIn>,
) -> Result<impl IntoResponse> {
    auth.require_write()?;
    if auth.app_scope.is_some() {
        return Err(ApiError::forbidden(
            "A key limited to one app cannot create apps. Use a key of the whole organization.",
        ));
    }
    check_fields(Some(&body.name), body.description.as_deref())?;
    let app = repo::insert(
        &state.pool,
        auth.org_id,
        &body.name,
        body.description.as_deref().unwrap_or(""),
    )
    .await?;
    let location = format!("/v1/apps/{}", app.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(app),
    ))
}

/// Get an app
#[utoipa::path(get, path = "/v1/apps/{appId}", operation_id = "getApp", tag = "apps",
    params(("appId" = Uuid, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The app", body = AppOut),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_app(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
) -> Result<Json<AppOut>> {
    auth.check_app(app_id)?;
    repo::get(&state.pool, auth.org_id, app_id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("app"))
}

/// Update an app
///
/// Changes the name and/or description; members left out stay as they are.
#[utoipa::path(patch, path = "/v1/apps/{appId}", operation_id = "updateApp", tag = "apps",
    params(("appId" = Uuid, Path, description = "The app's id")),
    request_body(content = AppPatch, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated app", body = AppOut),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An app with this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or description", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_app(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AppPatch>,
) -> Result<Json<AppOut>> {
    auth.check_app(app_id)?;
    auth.require_write_on(repo::require(&state.pool, auth.org_id, app_id))
        .await?;
    check_fields(body.name.as_deref(), body.description.as_deref())?;
    repo::update(
        &state.pool,
        auth.org_id,
        app_id,
        body.name.as_deref(),
        body.description.as_deref(),
    )
    .await?
    .map(Json)
    .ok_or(ApiError::NotFound("app"))
}

/// Delete an app
///
/// Refused while the app has connectors (409 `app_has_connectors`) or live API keys limited to
/// it (409 `app_has_api_keys`): delete or revoke them first.
#[utoipa::path(delete, path = "/v1/apps/{appId}", operation_id = "deleteApp", tag = "apps",
    params(("appId" = Uuid, Path, description = "The app's id")),
    responses(
        (status = 204, description = "The app was deleted"),
        (status = 404, description = "No such app", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The app still has connectors or live API keys", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_app(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(app_id): ApiPath<Uuid>,
) -> Result<StatusCode> {
    auth.check_app(app_id)?;
    auth.require_write_on(repo::require(&state.pool, auth.org_id, app_id))
        .await?;
    repo::delete(&state.pool, auth.org_id, app_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

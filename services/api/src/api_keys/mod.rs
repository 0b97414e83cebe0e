//! `/v1/api-keys`: keys of an organization, managed by owners and admins.

pub mod model;
pub mod repo;

use crate::apps;
use crate::auth::{AuthContext, Role, api_key};
use crate::error::{ApiError, Problem, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, PageParams, paginate};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use edgebridge_domain::Violation;
use model::{ApiKeyCreated, ApiKeyIn, ApiKeyPage, ApiKeyRevocation};
use secrecy::ExposeSecret;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
}

/// List API keys
///
/// The organization's live keys (for a key limited to one app: that app's keys). Needs `admin`.
#[utoipa::path(get, path = "/v1/api-keys", operation_id = "listApiKeys", tag = "apiKeys",
    params(PageParams),
    responses((status = 200, description = "A page of API keys", body = ApiKeyPage)))]
async fn list_api_keys(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<ApiKeyPage>> {
    auth.require(Role::Admin)?;
    let page = params.resolve()?;
    let rows = repo::list(&state.pool, auth.org_id, auth.app_scope, &page).await?;
    let (items, next_cursor) = paginate(rows, &page, |k| k.id);
    Ok(Json(ApiKeyPage { items, next_cursor }))
}

/// Create an API key
///
/// The answer holds the key itself, shown this once. Needs `admin`; the new key's role may not
/// exceed yours, a key limited to one app can only create keys for that app, and the new key
/// expires no later than yours.
#[utoipa::path(post, path = "/v1/api-keys", operation_id = "createApiKey", tag = "apiKeys",
    request_body = ApiKeyIn,
    responses(
        (status = 201, description = "The key; `key` is shown only now", body = ApiKeyCreated),
        (status = 422, description = "Invalid name, role, app or expiry", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_api_key(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiJson(body): ApiJson<ApiKeyIn>,
) -> Result<impl IntoResponse> {
    auth.require(Role::Admin)?;
    let mut errors = Vec::new();
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(Violation {
            path: "/name".into(),
            message: "must be 1 to 100 characters".into(),
        });
    }
    if body.role > auth.role {
        errors.push(Violation {
            path: "/role".into(),
            message: format!(
                "must not exceed your own role `{}`; ask an owner for a more powerful key",
                auth.role
            ),
        });
    }
    let app_id = match (auth.app_scope, body.app_id) {
        (Some(scope), Some(requested)) if scope != requested => {
            errors.push(Violation {
                path: "/appId".into(),
                message:
                    "your key is limited to another app; you can only create keys for your app"
                        .into(),
            });
            None
        }
        (Some(scope), _) => Some(scope),
        (None, requested) => requested,
    };
    // The app row stays locked (shared) until the key is saved, so it cannot vanish meanwhile;
    // so does the creating key's, so a revocation cannot miss the new key.
    let mut tx = crate::db::begin(&state.pool).await?;
    repo::lock_live_creator(&mut tx, auth.org_id, auth.key_id).await?;
    if let Some(app_id) = app_id
        && apps::repo::lock_shared(&mut tx, auth.org_id, app_id)
            .await
            .is_err()
    {
        errors.push(Violation {
            path: "/appId".into(),
            message: "no app with this id in your organization".into(),
        });
    }
    // A key never outlives the key that created it.
    let expires_at = match (body.expires_at, auth.expires_at) {
        (None, limit) => limit,
        (Some(at), Some(limit)) if at > limit => {
            errors.push(Violation {
                path: "/expiresAt".into(),
                message: format!(
                    "must not be later than your own key's expiry ({limit}); leave it out to use that"
                ),
            });
            None
        }
        (Some(at), _) => Some(at),
    };
    if expires_at.is_some_and(|at| at <= Utc::now()) {
        errors.push(Violation {
            path: "/expiresAt".into(),
            message: "must be in the future".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }

    let new = api_key::generate();
    let out = repo::insert(
        &mut *tx,
        repo::NewKeyRow {
            org_id: auth.org_id,
            app_id,
            name,
            role: body.role,
            prefix: &new.prefix,
            secret_hash: &new.hash,
            created_by: Some(auth.key_id),
            expires_at,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(key_id = %out.id, role = %out.role, "api key created");
    let location = format!("/v1/api-keys/{}", out.id);
    let created = ApiKeyCreated {
        api_key: out,
        key: new.key.expose_secret().to_owned(),
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    ))
}

/// Revoke an API key
///
/// Takes effect at once, also for access tokens obtained with the key. The keys it created stop
/// working with it, and the keys they created, and so on (a leaked key cannot leave keys behind
/// that outlive it); only your own key and the keys created under it are spared. The answer
/// lists every key revoked. Needs `admin`; only an owner may revoke an owner key.
#[utoipa::path(delete, path = "/v1/api-keys/{keyId}", operation_id = "revokeApiKey", tag = "apiKeys",
    params(("keyId" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The keys revoked: this one and those it created", body = ApiKeyRevocation),
        (status = 404, description = "No such live key", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_api_key(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiPath(key_id): ApiPath<Uuid>,
) -> Result<Json<ApiKeyRevocation>> {
    let key = repo::get_live(&state.pool, auth.org_id, key_id)
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    if auth.app_scope.is_some() && key.app_id != auth.app_scope {
        return Err(ApiError::NotFound("API key"));
    }
    auth.require(Role::Admin)?;
    if key.role > auth.role {
        return Err(ApiError::forbidden(format!(
            "Only an `{}` may revoke this key.",
            key.role
        )));
    }
    // Keys a key created never have a higher role, nor another app (see create_api_key).
    let mut tx = crate::db::begin(&state.pool).await?;
    let revoked = repo::revoke_with_created(&mut tx, auth.org_id, key_id, auth.key_id).await?;
    if revoked.first() != Some(&key_id) {
        // Revoked by someone else meanwhile: theirs did the cascade.
        return Err(ApiError::NotFound("API key"));
    }
    // Cached lookups of the revoked keys must not outlive the revocation here: cleared once the
    // commit returns, or when this request is dropped while it runs (the commit may still land).
    struct ClearOnDrop<'a>(&'a AppState);
    impl Drop for ClearOnDrop<'_> {
        fn drop(&mut self) {
            self.0.key_cache.clear();
        }
    }
    let clear = ClearOnDrop(&state);
    tx.commit().await?;
    drop(clear);
    tracing::info!(key_id = %key_id, revoked = revoked.len(), "api key revoked with the keys it created");
    Ok(Json(ApiKeyRevocation {
        revoked_count: revoked.len(),
        revoked_key_ids: revoked,
    }))
}

/// Creates an organization with its first owner key (used by `edgebridge org create` and the
/// development bootstrap). Returns the org id, the key id and the key.
pub async fn create_organization(
    pool: &sqlx::PgPool,
    name: &str,
) -> Result<(Uuid, Uuid, secrecy::SecretString)> {
    let mut tx = crate::db::begin(pool).await?;
    let org_id = Uuid::now_v7();
    sqlx::query("insert into organizations (org_id, name) values ($1, $2)")
        .bind(org_id)
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if crate::error::violated_constraint(&e) == Some("organizations_name_key") {
                ApiError::conflict(
                    "organization_name_taken",
                    format!("An organization named `{name}` already exists."),
                )
            } else {
                e.into()
            }
        })?;
    let new = api_key::generate();
    let key = repo::insert(
        &mut *tx,
        repo::NewKeyRow {
            org_id,
            app_id: None,
            name: "initial owner key",
            role: Role::Owner,
            prefix: &new.prefix,
            secret_hash: &new.hash,
            created_by: None,
            expires_at: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((org_id, key.id, new.key))
}

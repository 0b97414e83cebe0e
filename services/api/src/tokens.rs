//! `POST /v1/auth/token`: exchange an API key for a short-lived access token (JWT).

use crate::auth::{AuthContext, AuthMethod, jwt};
use crate::error::{ApiError, Problem, Result};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_token))
}

/// An access token: send it as `Authorization: Bearer <accessToken>` until it expires.
/// (No `Debug`: the token must not reach logs.)
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessToken {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    pub expires_at: DateTime<Utc>,
}

/// Exchange an API key for an access token
///
/// Authenticate with the API key itself (`Authorization: Bearer ebk_...`). The token carries the
/// key's organization, role and app scope, and stops working when the key is revoked.
#[utoipa::path(post, path = "/v1/auth/token", operation_id = "createAccessToken", tag = "auth",
    responses(
        (status = 200, description = "A new access token", body = AccessToken),
        (status = 400, description = "An access token cannot be exchanged for another", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_token(
    State(state): State<AppState>,
    auth: AuthContext,
) -> Result<Json<AccessToken>> {
    if auth.method != AuthMethod::ApiKey {
        return Err(ApiError::bad_request(
            "api_key_required",
            "Access tokens are exchanged for API keys only: authenticate this request with your API key.",
        ));
    }
    let claims = jwt::new_claims(
        auth.key_id,
        auth.org_id,
        auth.role,
        auth.app_scope,
        state.token_ttl,
    );
    let access_token = state.jwt.issue(&claims)?;
    let expires_at = DateTime::from_timestamp(claims.exp as i64, 0).unwrap_or_else(Utc::now);
    Ok(Json(AccessToken {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.token_ttl.as_secs(),
        expires_at,
    }))
}

//! Who may call the fleet routes: workers (the operator's worker token to register, then their own
//! short-lived JWT) and operators (`EDGEBRIDGE_OPERATOR_TOKEN`). Tenant credentials never pass
//! here, and these never pass on tenant routes (distinct audience, no API-key prefix).
//!
//! Every failure counts against the caller's address like a tenant's (`auth::failures`): these
//! credentials are all checked without the database, so a valid one passes even while its
//! address is blocked, and an invalid one is answered 429 then.

use crate::auth::context::bearer_token;
use crate::auth::failures::{Throttle, refuse};
use crate::error::{ApiError, Result};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Compares digests in constant time, so neither the length nor a prefix leaks.
fn matches(given: &str, expected: &SecretString) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.expose_secret().as_bytes());
    a.ct_eq(&b).into()
}

/// The bearer token of a request, any malformed `Authorization` header counting as a failure.
fn presented<'p>(parts: &'p Parts, throttle: Option<&Throttle<'_>>) -> Result<&'p str> {
    match bearer_token(parts) {
        Err(ApiError::InvalidCredentials) => Err(refuse(throttle)),
        other => other,
    }
}

/// Routes whose secret is not configured are closed, whatever the request sends; the answer says
/// which setting opens them.
fn not_configured(detail: &str) -> ApiError {
    ApiError::Other {
        status: StatusCode::UNAUTHORIZED,
        code: "credential_not_configured",
        detail: detail.to_owned(),
    }
}

/// Checks a shared secret, under the same per-address throttle on failures as API keys.
fn check_secret(
    parts: &Parts,
    state: &AppState,
    expected: Option<&SecretString>,
    disabled: &str,
) -> Result<()> {
    let Some(expected) = expected else {
        return Err(not_configured(disabled));
    };
    let throttle = Throttle::of(state, parts);
    let given = presented(parts, throttle.as_ref())?;
    if matches(given, expected) {
        Ok(())
    } else {
        Err(refuse(throttle.as_ref()))
    }
}

/// The operator's worker token (registration only).
pub struct WorkerToken;

impl FromRequestParts<AppState> for WorkerToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        check_secret(
            parts,
            state,
            state.fleet.worker_token.as_ref(),
            "worker registration is disabled: set EDGEBRIDGE_WORKER_TOKEN on the api and the same value on its workers",
        )?;
        Ok(WorkerToken)
    }
}

/// What operator routes answer while `EDGEBRIDGE_OPERATOR_TOKEN` is not set.
pub const OPERATOR_ROUTES_DISABLED: &str = "operator routes are disabled: set EDGEBRIDGE_OPERATOR_TOKEN on the api (a random secret, e.g. `openssl rand -base64 32`) and send it as `Authorization: Bearer <token>`";

/// A registered worker, by its JWT.
pub struct WorkerAuth {
    pub worker_id: Uuid,
}

impl WorkerAuth {
    /// A worker acts only on its own routes.
    pub fn require_self(&self, worker_id: Uuid) -> Result<()> {
        if self.worker_id == worker_id {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "This worker token belongs to another worker.".to_owned(),
            ))
        }
    }
}

impl FromRequestParts<AppState> for WorkerAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let throttle = Throttle::of(state, parts);
        let token = presented(parts, throttle.as_ref())?;
        let claims = state
            .jwt
            .verify_worker(token)
            .ok_or_else(|| refuse(throttle.as_ref()))?;
        Ok(WorkerAuth {
            worker_id: claims.sub,
        })
    }
}

/// An operator (`Authorization: Bearer <EDGEBRIDGE_OPERATOR_TOKEN>`).
pub struct OperatorAuth;

impl FromRequestParts<AppState> for OperatorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        check_secret(
            parts,
            state,
            state.fleet.operator_token.as_ref(),
            OPERATOR_ROUTES_DISABLED,
        )?;
        Ok(OperatorAuth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        let s = SecretString::from("correct horse battery staple");
        assert!(matches("correct horse battery staple", &s));
        assert!(!matches("correct horse battery stapl", &s));
        assert!(!matches("", &s));
    }
}

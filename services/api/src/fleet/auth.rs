//! Who may call the fleet routes: workers (the operator's worker token to register, then their own
//! short-lived JWT) and operators (`EDGEBRIDGE_OPERATOR_TOKEN`). Tenant credentials never pass
//! here, and these never pass on tenant routes (distinct audience, no API-key prefix).

use crate::auth::context::bearer_token;
use crate::error::{ApiError, Result};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// Compares digests in constant time, so neither the length nor a prefix leaks.
fn matches(given: &str, expected: &SecretString) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.expose_secret().as_bytes());
    a.ct_eq(&b).into()
}

/// Checks a shared secret, under the same per-address throttle on failures as API keys.
fn check_secret(
    parts: &Parts,
    state: &AppState,
    expected: Option<&SecretString>,
    what: &str,
) -> Result<()> {
    let given = bearer_token(parts)?;
    let Some(expected) = expected else {
        return Err(ApiError::Other {
            status: axum::http::StatusCode::UNAUTHORIZED,
            code: "credential_not_configured",
            detail: format!(
                "{what} is not set on this api, so these routes are closed; set it on the api and on its callers"
            ),
        });
    };
    let guard = state.auth_failures.as_ref().zip(
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
    );
    if let Some((guard, ip)) = guard
        && let Some(wait) = guard.blocked_for(ip)
    {
        return Err(ApiError::RateLimited {
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        });
    }
    if matches(given, expected) {
        return Ok(());
    }
    if let Some((guard, ip)) = guard {
        guard.record_failure(ip);
    }
    Err(ApiError::InvalidCredentials)
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
            "EDGEBRIDGE_WORKER_TOKEN",
        )?;
        Ok(WorkerToken)
    }
}

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
        let token = bearer_token(parts)?;
        let claims = state
            .jwt
            .verify_worker(token)
            .ok_or(ApiError::InvalidCredentials)?;
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
            "EDGEBRIDGE_OPERATOR_TOKEN",
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

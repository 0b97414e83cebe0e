//! Liveness, readiness and the OpenAPI document.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::time::{Duration, Instant};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness
///
/// Answers 200 while the process serves requests. Needs no credentials.
#[utoipa::path(get, path = "/healthz", operation_id = "getHealth", tag = "health", security(),
    responses((status = 200, description = "Alive", body = Liveness)))]
async fn healthz() -> Json<Liveness> {
    Json(Liveness {
        status: "ok".into(),
    })
}

/// One dependency's state.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyCheck {
    #[schema(example = "postgres")]
    pub name: String,
    /// `up` or `down`.
    #[schema(example = "up")]
    pub status: String,
    pub latency_ms: f64,
    /// Why it is down (no connection details).
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every dependency is up, else `unavailable`.
    #[schema(example = "ready")]
    pub status: String,
    pub checks: Vec<DependencyCheck>,
}

/// Readiness
///
/// Answers 200 when every dependency (Postgres) is reachable, 503 otherwise, with each
/// dependency's state. Needs no credentials.
#[utoipa::path(get, path = "/readyz", operation_id = "getReadiness", tag = "health", security(),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "A dependency is down", body = Readiness),
    ))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let started = Instant::now();
    let probe = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("select 1").execute(&state.pool),
    )
    .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let error = match probe {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: postgres check failed");
            Some("query failed".to_owned())
        }
        Err(_) => Some("timed out after 2 s".to_owned()),
    };
    let up = error.is_none();
    let body = Readiness {
        status: if up { "ready" } else { "unavailable" }.into(),
        checks: vec![DependencyCheck {
            name: "postgres".into(),
            status: if up { "up" } else { "down" }.into(),
            latency_ms,
            error,
        }],
    };
    let code = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

//! The HTTP surface: every route with its middleware (request ids, tracing, panics, timeouts,
//! body limit) and problem+json answers for unknown routes and methods.

pub mod access_log;
pub mod body_limit;
pub mod dashboard;
pub mod extract;
pub mod health;
pub mod json;
pub mod query;
pub mod serve;

use crate::error::ApiError;
use crate::openapi;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

async fn enforce_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("route")
}

async fn wrong_method() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}

fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

/// The whole application router.
pub fn router(state: AppState, request_timeout: Duration, body_limit: usize) -> Router {
    let (api, doc) = openapi::api_router();
    let api = query::reject_undocumented_parameters(api, &doc);
    let document: Arc<str> = openapi::document_json().into();
    let serve_document = move || {
        let document = document.clone();
        async move {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                document.to_string(),
            )
        }
    };
    let sync_body_limit = state.fleet.sync_body_limit;
    let http_metrics = state.metrics.http.clone();
    let internal = access_log::routine(crate::fleet::internal::router(sync_body_limit));
    api.merge(internal)
        .route("/openapi.json", get(serve_document))
        // Operators only, and not in the OpenAPI document (like the workers' routes).
        .route("/metrics", get(crate::metrics::scrape))
        .merge(dashboard::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                ]))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(access_log::AccessLog),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(middleware::from_fn_with_state(
                    request_timeout,
                    enforce_timeout,
                ))
                .layer(body_limit::layer(
                    body_limit,
                    Some("EDGEBRIDGE_BODY_LIMIT_BYTES"),
                )),
        )
        // Outermost, per route (so the matched route template is known): times whole answers.
        .layer(middleware::from_fn_with_state(
            http_metrics,
            crate::metrics::http::record,
        ))
        .with_state(state)
}

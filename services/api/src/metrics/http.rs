//! HTTP series: requests by route template, method and status, and a latency histogram by route
//! and method. The route is axum's [`MatchedPath`] (`/v1/apps/{appId}/connectors/{connectorId}`),
//! never the raw path, so ids do not multiply the series; requests no route matched share one
//! value, `unmatched`.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Instant;

/// The route label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Latency buckets in seconds: most requests take milliseconds; change-feed long polls and
/// connection tests up to the request timeout (30 s by default).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The api's HTTP series; clones count into the same ones.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
        }
    }
}

/// The method as a label: the standard ones by name, any other as `OTHER` (a client may send
/// any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

impl HttpMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "edgebridge_http_requests",
            "HTTP requests answered, by method, route template (unmatched: no route) and status",
            self.requests.clone(),
        );
        registry.register(
            "edgebridge_http_request_duration_seconds",
            "Time from a request's arrival to its response's head, by method and route template",
            self.duration.clone(),
        );
    }

    fn observe(&self, method: &'static str, route: String, status: u16, seconds: f64) {
        let labels = RouteLabels { method, route };
        self.duration.get_or_create(&labels).observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: labels.route,
                status,
            })
            .inc();
    }
}

/// The middleware: outermost on every route, so it times the whole answer (timeouts, panics
/// and refusals included).
pub async fn record(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(
        method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

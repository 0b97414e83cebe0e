//! What a worker counts for Prometheus: the supervisors it runs, the status reports it sends, and
//! every call to the api by endpoint, with its latency.
//!
//! The binary registers a worker's [`WorkerMetrics`] in the process's registry, which serves them
//! on `/metrics` (the api's `metrics` module): in the `all` role beside the api's and the
//! scheduler's. Metrics nobody registered (tests, benches) count for no one.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Latency buckets of api calls, in seconds: heartbeats and reports take milliseconds, a change
/// feed long poll up to its wait (30 s by default) and then some.
const LATENCY_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: String,
    endpoint: String,
    /// The status code answered, or `unreachable` (no answer: refused, timed out).
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    method: String,
    endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReportLabels {
    /// `sent` (the api took it) or `failed` (refused or unanswered).
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// A worker's counters; clones count into the same series.
#[derive(Clone, Debug)]
pub struct WorkerMetrics {
    supervisors: Gauge,
    reports: Family<ReportLabels, Counter>,
    calls: Family<CallLabels, Counter>,
    latency: Family<EndpointLabels, Histogram, fn() -> Histogram>,
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self {
            supervisors: Gauge::default(),
            reports: Family::default(),
            calls: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl WorkerMetrics {
    /// Adds this worker's series to `registry` (once per process).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "edgebridge_worker_supervisors",
            "Connector supervisors this worker runs",
            self.supervisors.clone(),
        );
        registry.register(
            "edgebridge_worker_reports",
            "Connector status reports sent to the api, by outcome (sent: taken; failed: refused or unanswered)",
            self.reports.clone(),
        );
        registry.register(
            "edgebridge_worker_api_requests",
            "Calls to the api's internal routes, by method, endpoint (ids as {worker_id}, {connector_id}) and outcome (status code, or unreachable)",
            self.calls.clone(),
        );
        registry.register(
            "edgebridge_worker_api_request_duration_seconds",
            "Time from sending a call to the api to its answer's head, by method and endpoint",
            self.latency.clone(),
        );
    }

    /// How many supervisors run now.
    pub fn set_supervisors(&self, running: usize) {
        self.supervisors
            .set(i64::try_from(running).unwrap_or(i64::MAX));
    }

    /// One call to the api: `status` is `None` when no answer came.
    pub fn observe_call(
        &self,
        method: &reqwest::Method,
        path: &str,
        status: Option<u16>,
        elapsed: Duration,
    ) {
        let endpoint = endpoint(path);
        let method = method.as_str().to_owned();
        let outcome = status.map_or_else(|| "unreachable".to_owned(), |s| s.to_string());
        if method == "POST" && endpoint.ends_with("/report") {
            let sent = status.is_some_and(|s| (200..300).contains(&s));
            self.reports
                .get_or_create(&ReportLabels {
                    outcome: if sent { "sent" } else { "failed" },
                })
                .inc();
        }
        let labels = EndpointLabels { method, endpoint };
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        self.calls
            .get_or_create(&CallLabels {
                method: labels.method,
                endpoint: labels.endpoint,
                outcome,
            })
            .inc();
    }
}

/// A request path with its ids replaced by what they name, as the api's route templates do
/// (`/internal/v1/workers/{worker_id}/connectors/{connector_id}/report`, its `route` label): a
/// label takes as many values as the client has routes, whatever the ids.
pub fn endpoint(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut previous = "";
    for segment in path.split('/').skip(1) {
        out.push('/');
        if uuid::Uuid::try_parse(segment).is_ok() {
            out.push_str(match previous {
                "workers" => "{worker_id}",
                "connectors" => "{connector_id}",
                _ => "{id}",
            });
        } else {
            out.push_str(segment);
        }
        previous = segment;
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use uuid::Uuid;

    #[test]
    fn endpoints_name_ids_by_what_they_are() {
        let (w, c) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(
            endpoint(&edgebridge_domain::fleet::paths::report(w, c)),
            "/internal/v1/workers/{worker_id}/connectors/{connector_id}/report"
        );
        assert_eq!(
            endpoint(&edgebridge_domain::fleet::paths::heartbeat(w)),
            "/internal/v1/workers/{worker_id}/heartbeat"
        );
        assert_eq!(
            endpoint(edgebridge_domain::fleet::paths::REGISTER),
            "/internal/v1/workers/register"
        );
        assert_eq!(endpoint(&format!("/x/{w}")), "/x/{id}");
        assert_eq!(endpoint(""), "/");
    }

    #[test]
    fn calls_count_by_endpoint_and_reports_by_outcome() {
        let metrics = WorkerMetrics::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        let path = edgebridge_domain::fleet::paths::report(Uuid::now_v7(), Uuid::now_v7());
        let other = edgebridge_domain::fleet::paths::report(Uuid::now_v7(), Uuid::now_v7());
        let post = reqwest::Method::POST;
        metrics.observe_call(&post, &path, Some(200), Duration::from_millis(3));
        metrics.observe_call(&post, &other, Some(200), Duration::from_millis(3));
        metrics.observe_call(&post, &path, Some(409), Duration::from_millis(3));
        metrics.observe_call(&post, &path, None, Duration::from_secs(10));
        metrics.set_supervisors(2);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            "edgebridge_worker_supervisors 2",
            "edgebridge_worker_reports_total{outcome=\"sent\"} 2",
            "edgebridge_worker_reports_total{outcome=\"failed\"} 2",
            "edgebridge_worker_api_requests_total{method=\"POST\",endpoint=\"/internal/v1/workers/{worker_id}/connectors/{connector_id}/report\",outcome=\"200\"} 2",
            "edgebridge_worker_api_requests_total{method=\"POST\",endpoint=\"/internal/v1/workers/{worker_id}/connectors/{connector_id}/report\",outcome=\"unreachable\"} 1",
            "edgebridge_worker_api_request_duration_seconds_count{method=\"POST\",endpoint=\"/internal/v1/workers/{worker_id}/connectors/{connector_id}/report\"} 4",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}

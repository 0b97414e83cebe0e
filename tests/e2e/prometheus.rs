//! `/metrics` as Prometheus reads it (parsed with a text-format parser): refused to tenants,
//! open to the operator token and on the metrics address; HTTP requests by route template with
//! latency buckets; the fleet and the scheduler's counters; per-connector series from the stats
//! table, and none with the switch off; a worker's own endpoint, and the `all` role's single one.

mod processes;

use crate::helpers::*;
use edgebridge_api::metrics::{MetricsListener, MetricsRegistry};
use edgebridge_api::scheduler::{self, SchedulerConfig};
use prom_text_format_parser::{Type, ValueType};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const OPERATOR: &str = "operator-secret-for-metrics";
const WORKER: &str = "worker-secret-for-metrics";

/// The api with operator and worker tokens, registering into a registry the test holds.
async fn spawn(pool: PgPool, per_connector: bool) -> (TestApp, MetricsRegistry) {
    let registry = MetricsRegistry::default();
    let shared = registry.clone();
    let app = TestApp::spawn_with(pool, move |c| {
        c.fleet.operator_token = Some(SecretString::from(OPERATOR));
        c.fleet.worker_token = Some(SecretString::from(WORKER));
        c.metrics.registry = shared;
        c.metrics.per_connector = per_connector;
    })
    .await;
    (app, registry)
}

/// One sample line: its whole name (with `_bucket`, `_sum`, `_count`), labels and value.
#[derive(Debug)]
struct Sample {
    metric: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Sample {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// A scrape as Prometheus reads it: every sample, and the type each family declares.
struct Scrape {
    samples: Vec<Sample>,
    types: BTreeMap<String, Type>,
}

/// Parses strictly: anything that is not the text format fails the test.
fn parse(text: &str) -> Scrape {
    let scrape = prom_text_format_parser::Scrape::parse(text)
        .unwrap_or_else(|e| panic!("not the Prometheus text format ({e:?}): {text}"));
    let mut parsed = Scrape {
        samples: Vec::new(),
        types: BTreeMap::new(),
    };
    for family in scrape.metrics {
        parsed.types.insert(family.name.clone(), family.kind);
        for sample in family.samples {
            let suffix = match (family.kind, sample.value.value_type) {
                (Type::Histogram, ValueType::Sample) => "_bucket",
                (_, ValueType::Sum) => "_sum",
                (_, ValueType::Count) => "_count",
                _ => "",
            };
            parsed.samples.push(Sample {
                metric: format!("{}{suffix}", family.name),
                labels: sample
                    .labels
                    .iter()
                    .map(|l| (l.key.clone(), l.value.clone()))
                    .collect(),
                value: sample.value.value.as_f64(),
            });
        }
    }
    parsed
}

/// `GET url` with `token`: 200 in the Prometheus text format, parsed.
async fn scrape_at(url: &str, token: Option<&str>) -> (Scrape, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let res = request.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    (parse(&text), text)
}

async fn scrape(app: &TestApp) -> Scrape {
    scrape_at(&app.url("/metrics"), Some(OPERATOR)).await.0
}

fn matching<'s>(
    scrape: &'s Scrape,
    metric: &'s str,
    labels: &'s [(&'s str, &'s str)],
) -> impl Iterator<Item = &'s Sample> + 's {
    scrape
        .samples
        .iter()
        .filter(move |s| s.metric == metric && labels.iter().all(|(k, v)| s.label(k) == Some(*v)))
}

/// The value of the one counter or gauge sample of `metric` with `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = matching(scrape, metric, labels).collect();
    assert_eq!(found.len(), 1, "one {metric} {labels:?}: {found:?}");
    found[0].value
}

/// The `(le, count)` buckets of the histogram `family` with `labels`, in order.
fn buckets(scrape: &Scrape, family: &str, labels: &[(&str, &str)]) -> Vec<(f64, f64)> {
    let name = format!("{family}_bucket");
    let mut buckets: Vec<(f64, f64)> = matching(scrape, &name, labels)
        .map(|s| {
            let le = s.label("le").expect("a bucket has its bound");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            (le, s.value)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

#[sqlx::test]
async fn the_api_listener_serves_metrics_to_the_operator_token_only(pool: PgPool) {
    let (app, _) = spawn(pool.clone(), true).await;
    let get = |token: Option<String>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    // A tenant's API key, a tenant's access token, nothing at all.
    let res = get(Some(app.owner_key.clone())).await.unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let token: Value = app
        .request(reqwest::Method::POST, "/v1/auth/token", &app.owner_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["accessToken"].as_str().unwrap().to_owned();
    let res = get(Some(token)).await.unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let res = get(None).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["content-type"], "application/problem+json");

    let metrics = scrape(&app).await;
    assert_eq!(value(&metrics, "edgebridge_fleet_read_success", &[]), 1.0);

    // Without an operator token configured, closed whatever is sent.
    let closed = TestApp::spawn(pool).await;
    let res = closed
        .client
        .get(closed.url("/metrics"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "credential_not_configured").await;
}

#[sqlx::test]
async fn requests_count_by_route_template_with_latency_buckets(pool: PgPool) {
    let (app, _) = spawn(pool, true).await;
    let second = app.create_app(&app.owner_key, "second").await;
    for id in [app.app_id, second, Uuid::now_v7()] {
        app.request(
            reqwest::Method::GET,
            &format!("/v1/apps/{id}"),
            &app.owner_key,
        )
        .send()
        .await
        .unwrap();
    }
    let res = app
        .client
        .get(app.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let metrics = scrape(&app).await;
    let route = [("method", "GET"), ("route", "/v1/apps/{appId}")];
    let requests = "edgebridge_http_requests_total";
    let with_status = |status| [route[0], route[1], ("status", status)];
    assert_eq!(value(&metrics, requests, &with_status("200")), 2.0);
    assert_eq!(value(&metrics, requests, &with_status("404")), 1.0);
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(value(&metrics, requests, &unmatched), 1.0);
    for s in matching(&metrics, requests, &[]) {
        let route = s.label("route").unwrap();
        assert!(
            !route.contains(&app.app_id.to_string()) && !route.contains("no/such"),
            "raw paths never become labels: {route}"
        );
    }
    let latency = "edgebridge_http_request_duration_seconds";
    assert_eq!(metrics.types[latency], Type::Histogram);
    assert_eq!(metrics.types[requests], Type::Counter);
    let buckets = buckets(&metrics, latency, &route);
    assert_eq!(buckets.len(), 15, "14 bounds and +Inf: {buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    assert_eq!(*buckets.last().unwrap(), (f64::INFINITY, 3.0));
    assert_eq!(value(&metrics, &format!("{latency}_count"), &route), 3.0);
}

#[sqlx::test]
async fn fleet_gauges_and_scheduler_counters_follow_workers_and_ticks(pool: PgPool) {
    let (app, registry) = spawn(pool, true).await;
    let scheduler = SchedulerConfig::default();
    scheduler.metrics.register(&registry);
    let res = app
        .request(
            reqwest::Method::POST,
            "/internal/v1/workers/register",
            WORKER,
        )
        .json(&json!({"name": "metrics-w1", "capacity": 10, "version": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    app.create_connector(&connector_spec("catalog")).await;
    let first = scheduler::tick(&app.pool, &scheduler).await.unwrap();
    assert_eq!(first.moves, 1);

    let metrics = scrape(&app).await;
    let workers = |m: &Scrape, state| value(m, "edgebridge_workers", &[("state", state)]);
    assert_eq!(workers(&metrics, "live"), 1.0);
    assert_eq!(workers(&metrics, "dead"), 0.0);
    let pending = [("status", "pending"), ("desired_state", "running")];
    assert_eq!(value(&metrics, "edgebridge_connectors", &pending), 1.0);
    // Every status and desired state is a series, zero or not.
    let failed_paused = [("status", "failed"), ("desired_state", "paused")];
    assert_eq!(
        value(&metrics, "edgebridge_connectors", &failed_paused),
        0.0
    );
    let w1 = [("worker", "metrics-w1"), ("state", "live")];
    assert_eq!(value(&metrics, "edgebridge_worker_assignments", &w1), 1.0);
    assert_eq!(
        value(&metrics, "edgebridge_connectors_unassigned", &[]),
        0.0
    );
    let ok = [("outcome", "ok")];
    assert_eq!(
        value(&metrics, "edgebridge_scheduler_ticks_total", &ok),
        1.0
    );
    assert_eq!(
        value(&metrics, "edgebridge_scheduler_moves_total", &[]),
        1.0
    );
    assert_eq!(
        value(&metrics, "edgebridge_scheduler_lease_expiries_total", &[]),
        0.0
    );
    assert!(value(&metrics, "edgebridge_db_pool_max_connections", &[]) > 0.0);
    assert!(
        value(
            &metrics,
            "edgebridge_db_pool_connections",
            &[("state", "in_use")]
        ) >= 1.0
    );

    // The worker goes silent: its lease expires at the next tick, and its connector waits.
    app.silence_workers(None).await;
    let second = scheduler::tick(&app.pool, &scheduler).await.unwrap();
    assert_eq!(second.dead.len(), 1);
    let metrics = scrape(&app).await;
    assert_eq!(workers(&metrics, "live"), 0.0);
    assert_eq!(workers(&metrics, "dead"), 1.0);
    assert_eq!(
        value(&metrics, "edgebridge_connectors_unassigned", &[]),
        1.0
    );
    assert_eq!(
        matching(&metrics, "edgebridge_worker_assignments", &[]).count(),
        0
    );
    assert_eq!(
        value(&metrics, "edgebridge_scheduler_ticks_total", &ok),
        2.0
    );
    assert_eq!(
        value(&metrics, "edgebridge_scheduler_moves_total", &[]),
        (first.moves + second.moves) as f64
    );
    assert_eq!(
        value(&metrics, "edgebridge_scheduler_lease_expiries_total", &[]),
        1.0
    );
}

#[sqlx::test]
async fn per_connector_series_come_from_the_stats_and_switch_off(pool: PgPool) {
    let (app, registry) = spawn(pool.clone(), true).await;
    let connector = id_of(&app.create_connector(&connector_spec("catalog")).await);
    sqlx::query(
        "insert into connector_collection_stats (connector_id, collection, copied, applied,
             written_back, skipped, unsynced, errors, lag_in_ms, last_synced_at, pending_out,
             lag_out_ms)
         values ($1, 'tasks', 120, 45, 7, 3, 2, 1, 1500, to_timestamp(1700000000), 4, 2500)",
    )
    .bind(connector)
    .execute(&app.pool)
    .await
    .unwrap();

    let metrics = scrape(&app).await;
    let (id, app_id) = (connector.to_string(), app.app_id.to_string());
    let tasks = [
        ("connector_id", id.as_str()),
        ("app_id", app_id.as_str()),
        ("collection", "tasks"),
    ];
    let with = |key, value| {
        let mut labels = tasks.to_vec();
        labels.push((key, value));
        labels
    };
    for (kind, n) in [
        ("copied", 120.0),
        ("applied", 45.0),
        ("written_back", 7.0),
        ("skipped", 3.0),
    ] {
        let labels = with("kind", kind);
        assert_eq!(
            value(&metrics, "edgebridge_connector_documents_total", &labels),
            n
        );
    }
    let lag = "edgebridge_connector_lag_seconds";
    assert_eq!(
        value(&metrics, lag, &with("direction", "mongo_to_edge")),
        1.5
    );
    assert_eq!(
        value(&metrics, lag, &with("direction", "edge_to_mongo")),
        2.5
    );
    assert_eq!(
        value(&metrics, "edgebridge_connector_errors_total", &tasks),
        1.0
    );
    assert_eq!(
        value(&metrics, "edgebridge_connector_unsynced_documents", &tasks),
        2.0
    );
    assert_eq!(
        value(&metrics, "edgebridge_connector_pending_writes", &tasks),
        4.0
    );
    assert_eq!(
        value(
            &metrics,
            "edgebridge_connector_last_synced_timestamp_seconds",
            &tasks
        ),
        1_700_000_000.0
    );
    let up = [("connector_id", id.as_str()), ("status", "pending")];
    assert_eq!(value(&metrics, "edgebridge_connector_up", &up), 0.0);
    // What the README says one connector costs: 10 series per collection, 1 per connector.
    let cost = metrics
        .samples
        .iter()
        .filter(|s| s.label("connector_id") == Some(id.as_str()))
        .count();
    assert_eq!(cost, 10 + 1);

    // The metrics address: the same series, no credentials, nothing else served.
    let stop = CancellationToken::new();
    let listener = MetricsListener::bind("127.0.0.1:0".parse().unwrap(), registry)
        .await
        .unwrap();
    let address = listener.address();
    tokio::spawn(listener.run(stop.clone()));
    let (open, _) = scrape_at(&format!("http://{address}/metrics"), None).await;
    assert_eq!(
        value(&open, "edgebridge_connector_errors_total", &tasks),
        1.0
    );
    let res = reqwest::get(format!("http://{address}/v1/apps"))
        .await
        .unwrap();
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    stop.cancel();

    // The switch off: no per-connector series, the fleet's still there.
    let (quiet, _) = spawn(pool, false).await;
    let metrics = scrape(&quiet).await;
    let per_connector: Vec<&Sample> = metrics
        .samples
        .iter()
        .filter(|s| {
            s.metric.starts_with("edgebridge_connector_") || s.label("connector_id").is_some()
        })
        .collect();
    assert!(per_connector.is_empty(), "{per_connector:?}");
    let pending = [("status", "pending"), ("desired_state", "running")];
    assert_eq!(value(&metrics, "edgebridge_connectors", &pending), 1.0);
}

//! What users watch, end to end on the simulator (through the wire front where MongoDB is
//! involved): lag both ways and totals kept across runs (`lag`), the metrics history
//! (`history`), alerts notified by signed webhooks (`alerts`), the per-document trace, debug
//! mode and lifecycle events (`trace`).

mod alerts;
mod history;
mod lag;
mod trace;

use crate::fleet::Fleet;
use crate::pipeline::{catalog_with, until_edge, until_streaming, worker_settings};
use axum::extract::State;
use bson::doc;
use edgebridge_mongo_sim::CollectionOptions;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub const DB: &str = "retail-demo";

/// `products` with `n` documents, a connector copying then streaming it, and a worker running
/// it (streaming when this returns).
pub async fn streaming_catalog(fleet: &Fleet, n: usize) -> (Uuid, edgebridge_worker::Worker) {
    streaming_catalog_via(fleet, n, None).await
}

/// [`streaming_catalog`] with the worker reaching the api at `api_url` (a proxy).
pub async fn streaming_catalog_via(
    fleet: &Fleet,
    n: usize,
    api_url: Option<&str>,
) -> (Uuid, edgebridge_worker::Worker) {
    streaming_catalog_with(fleet, n, |config| {
        if let Some(url) = api_url {
            config.api_url = url.to_owned();
        }
    })
    .await
}

/// [`streaming_catalog`] with the worker configured by `configure`.
pub async fn streaming_catalog_with(
    fleet: &Fleet,
    n: usize,
    configure: impl FnOnce(&mut edgebridge_worker::WorkerConfig),
) -> (Uuid, edgebridge_worker::Worker) {
    fleet
        .sim
        .create_collection(DB, "products", CollectionOptions::ready());
    for i in 1..=n {
        fleet
            .sim
            .insert(
                DB,
                "products",
                doc! {"_id": format!("p{i}"), "price": i as i64},
            )
            .unwrap();
    }
    let id = catalog_with(fleet, json!({"fields": ["_id"], "initialSync": true})).await;
    let mut config = worker_settings(fleet, "w1");
    configure(&mut config);
    let mut worker = edgebridge_worker::Worker::register(config).await.unwrap();
    fleet.tick().await;
    crate::fleet::step(&mut worker).await;
    until_edge(fleet, "the copy", |d| d.len() == n).await;
    until_streaming(fleet, id).await;
    (id, worker)
}

/// Polls the connector's GET until `check` holds (20 s), stepping `worker` so its lease holds.
pub async fn until_connector(
    fleet: &Fleet,
    worker: &mut edgebridge_worker::Worker,
    id: Uuid,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stepped = Instant::now();
    loop {
        let status = fleet.status(id).await;
        if check(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: {status:#}");
        if stepped.elapsed() > Duration::from_secs(2) {
            crate::fleet::step(worker).await;
            stepped = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A proxy in front of the api for a worker: it forwards every request, except that while
/// stalled it holds the workers' applies (the edge store's writes) until released, as an
/// overloaded api would; reports still go through.
#[derive(Clone)]
pub struct ApiStall {
    pub url: String,
    stalled: Arc<AtomicBool>,
}

struct Forward {
    api: String,
    client: reqwest::Client,
    stalled: Arc<AtomicBool>,
}

async fn forward(
    State(f): State<Arc<Forward>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    if uri.path().ends_with("/apply") {
        while f.stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let target = format!(
        "{}{}",
        f.api,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = f.client.request(method, target).body(body);
    for name in ["authorization", "content-type"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await.expect("the api answers the proxy");
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap_or_default();
    let mut response = axum::response::Response::new(axum::body::Body::from(bytes));
    *response.status_mut() = status;
    if let Some(value) = content_type {
        response.headers_mut().insert("content-type", value);
    }
    response
}

impl ApiStall {
    pub async fn start(fleet: &Fleet) -> Self {
        let stalled = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Forward {
            api: fleet.app.address.clone(),
            client: reqwest::Client::new(),
            stalled: stalled.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let router = axum::Router::new().fallback(forward).with_state(state);
        tokio::spawn(async move { axum::serve(listener, router).await });
        ApiStall {
            url: format!("http://127.0.0.1:{port}"),
            stalled,
        }
    }

    pub fn stall(&self, stalled: bool) {
        self.stalled.store(stalled, Ordering::SeqCst);
    }
}

pub async fn get_json(fleet: &Fleet, path: &str) -> Value {
    let res = fleet.app.get(path, &fleet.app.owner_key).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.unwrap()
}

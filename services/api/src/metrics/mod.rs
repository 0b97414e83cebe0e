//! Prometheus `/metrics` (text format 0.0.4, with the official `prometheus-client` crate).
//!
//! One [`MetricsRegistry`] per process holds what each role registered: the api's HTTP series
//! and Postgres pool, the scheduler's counters, the worker's (`edgebridge_worker::metrics`). The
//! `all` role registers all three in one registry and so serves one endpoint. Fleet and
//! per-connector series are read from Postgres at scrape time (bounded queries, see [`fleet`])
//! on the roles that serve the api.
//!
//! Not for tenants: served on the api's listener only with the operator token, and without
//! credentials on `EDGEBRIDGE_METRICS_ADDR` (an address kept off the public network), which any
//! role can open ([`MetricsListener`]). Never in the OpenAPI document.

pub mod connectors;
pub mod fleet;
pub mod http;
pub mod scheduler;

pub use scheduler::SchedulerMetrics;

use crate::error::ApiError;
use crate::fleet::auth::OperatorAuth;
use crate::state::AppState;
use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;
use sqlx::PgPool;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The registry of a process: every role registers its series here, and `/metrics` shows them
/// all. Clones share it.
#[derive(Clone, Default)]
pub struct MetricsRegistry(Arc<Shared>);

#[derive(Default)]
struct Shared {
    registry: RwLock<Registry>,
    /// Where fleet and per-connector series are read from at scrape time (the api's roles).
    fleet: RwLock<Option<fleet::FleetSource>>,
    /// One scrape reads Postgres at a time: scrapers that pile up wait instead of multiplying
    /// the queries.
    scrape: tokio::sync::Mutex<()>,
}

impl fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsRegistry")
    }
}

impl MetricsRegistry {
    /// Registers series (metrics or collectors) in the process's registry.
    pub fn register(&self, register: impl FnOnce(&mut Registry)) {
        let mut registry = self
            .0
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        register(&mut registry);
    }

    /// Reads fleet (and, unless switched off, per-connector) series from `source` at each scrape.
    pub fn read_fleet_from(&self, source: fleet::FleetSource) {
        *self.0.fleet.write().unwrap_or_else(PoisonError::into_inner) = Some(source);
    }

    /// Everything registered, and what Postgres says now, in the Prometheus text format.
    pub async fn render(&self) -> String {
        let source = self
            .0
            .fleet
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut scraped = Registry::default();
        if let Some(source) = source {
            let _one_at_a_time = self.0.scrape.lock().await;
            scraped.register_collector(Box::new(source.read().await));
        }
        let mut out = String::new();
        let registry = self
            .0
            .registry
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // Writing to a String cannot fail; an encoder error would be a bug in a collector.
        if let Err(e) = prometheus_text::encode(&mut out, &registry)
            .and_then(|()| prometheus_text::encode(&mut out, &scraped))
        {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }

    /// The answer to a scrape.
    async fn response(&self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
            )],
            self.render().await,
        )
            .into_response()
    }
}

/// The metrics settings of the api.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// The process's registry (the binary shares it with the scheduler and worker of `all`).
    pub registry: MetricsRegistry,
    /// Per-connector and per-collection series (`EDGEBRIDGE_METRICS_PER_CONNECTOR`).
    pub per_connector: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            registry: MetricsRegistry::default(),
            per_connector: true,
        }
    }
}

/// The api's metrics: HTTP series, its pool, and the fleet read at scrape time.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    pub registry: MetricsRegistry,
    pub http: http::HttpMetrics,
}

impl ApiMetrics {
    /// Registers the api's series in `config.registry`.
    pub fn new(config: &MetricsConfig, pool: &PgPool) -> Self {
        let http = http::HttpMetrics::default();
        config.registry.register(|registry| {
            http.register(registry);
            registry.register_collector(pool_collector(pool));
        });
        config
            .registry
            .read_fleet_from(fleet::FleetSource::new(pool.clone(), config.per_connector));
        Self {
            registry: config.registry.clone(),
            http,
        }
    }
}

/// The Postgres pool's connections, read at scrape time (for roles with a pool of their own,
/// like the scheduler; the api registers its pool itself).
pub fn pool_collector(pool: &PgPool) -> Box<dyn Collector> {
    Box::new(fleet::PoolCollector(pool.clone()))
}

/// `GET /metrics` on the api's listener: operators only (`Authorization: Bearer
/// <EDGEBRIDGE_OPERATOR_TOKEN>`); tenant keys and tokens are refused.
pub async fn scrape(_: OperatorAuth, State(state): State<AppState>) -> Response {
    state.metrics.registry.response().await
}

async fn serve_registry(State(registry): State<MetricsRegistry>) -> Response {
    registry.response().await
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("route")
}

/// A listener that serves only `GET /metrics`, without credentials (`EDGEBRIDGE_METRICS_ADDR`):
/// for the scraper, on an address tenants cannot reach. The worker role's only HTTP server.
pub struct MetricsListener {
    listener: TcpListener,
    address: SocketAddr,
    router: Router,
}

impl MetricsListener {
    pub async fn bind(address: SocketAddr, registry: MetricsRegistry) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding EDGEBRIDGE_METRICS_ADDR {address}"))?;
        let address = listener.local_addr()?;
        let router = Router::new()
            .route("/metrics", get(serve_registry))
            .fallback(unknown_route)
            .with_state(registry);
        Ok(Self {
            listener,
            address,
            router,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(address = %self.address, "metrics listening");
        let limits = crate::http::serve::ConnectionLimits {
            max_connections: 64,
            ..Default::default()
        };
        crate::http::serve::serve(self.listener, self.router, limits, stop).await;
    }
}

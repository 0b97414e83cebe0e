//! The api's configuration, already validated. The binary builds it from the environment.

use crate::auth::jwt::JwtKeys;
use crate::crypto::Keyring;
use crate::store::execute::StoreLimits;
use edgebridge_mongo::driver::DriverConnector;
use edgebridge_mongo::port::MongoConnector;
use edgebridge_mongo::preflight::PreflightOptions;
use secrecy::SecretString;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_RATE_LIMIT: u32 = 100;
pub const DEFAULT_AUTH_FAILURE_LIMIT: u32 = 10;
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
pub const DEFAULT_MAX_CONCURRENT_CONNECTION_TESTS: usize = 8;

#[derive(Debug)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub keyring: Keyring,
    pub jwt: JwtKeys,
    /// Requests per second per API key (burst of the same size); 0 turns limiting off.
    pub rate_limit_per_sec: u32,
    /// Failed authentications per second per client address before it is throttled; 0 = off.
    pub auth_failure_limit_per_sec: u32,
    pub token_ttl: Duration,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub store_limits: StoreLimits,
    /// Outbound target policy and time limits of connection tests.
    pub preflight: PreflightOptions,
    /// How the api reaches MongoDB (the driver; tests put the simulator here).
    pub mongo: MongoAccess,
    /// Connection tests one api process runs at once (each holds a MongoDB client); more get
    /// 429 `connection_tests_busy`.
    pub max_concurrent_connection_tests: usize,
    /// The worker fleet: credentials, lease and diagnostics limits.
    pub fleet: FleetConfig,
    /// Bounds on client connections (slow headers, idle keep-alive, how many at once).
    pub connections: crate::http::serve::ConnectionLimits,
    /// Bounds on change-feed long polls.
    pub feed: crate::store::feed::FeedLimits,
    /// How long a looked-up API key is trusted without asking the database again (a key
    /// revoked on another replica works there for up to this long); zero turns caching off.
    pub key_cache_ttl: Duration,
    /// Prometheus `/metrics`: the process's registry and whether per-connector series are in it.
    pub metrics: crate::metrics::MetricsConfig,
    /// Webhook deliveries: retry schedule, time limits, concurrency.
    pub webhooks: WebhookConfig,
}

/// How webhooks are delivered (by the dispatcher, and by the api for test events and retries).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The first retry's delay; later ones follow the Standard Webhooks schedule scaled by it
    /// (5 s: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h...), with 10 % jitter.
    pub retry_base: Duration,
    /// A delivery still failing this long after its creation (or a manual retry) is `failed`.
    pub give_up_after: Duration,
    /// Bound on one attempt (connect, request and reading the start of the answer).
    pub request_timeout: Duration,
    /// Attempts one process runs at once.
    pub concurrency: usize,
    /// Attempts one process runs at once for one app, so one slow endpoint cannot hold them all.
    pub per_app: usize,
    /// How often the dispatcher looks for due deliveries when idle.
    pub poll_interval: Duration,
    /// Messages, deliveries and attempts older than this are deleted.
    pub retention: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            retry_base: Duration::from_secs(5),
            give_up_after: Duration::from_secs(24 * 3600),
            request_timeout: Duration::from_secs(10),
            concurrency: 8,
            per_app: 2,
            poll_interval: Duration::from_secs(1),
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// How the api deals with workers and operators.
#[derive(Clone)]
pub struct FleetConfig {
    /// The secret workers register with (`EDGEBRIDGE_WORKER_TOKEN`); `None` refuses every worker.
    pub worker_token: Option<SecretString>,
    /// The bearer secret of operator routes (`EDGEBRIDGE_OPERATOR_TOKEN`); `None` disables them.
    pub operator_token: Option<SecretString>,
    /// A worker silent for longer is dead (the scheduler's setting; the api uses it to show a
    /// connector whose worker stopped reporting).
    pub lease_ttl: Duration,
    /// How often workers should heartbeat (told to them at registration).
    pub heartbeat_interval: Duration,
    /// Lifetime of worker JWTs (renewed by every heartbeat).
    pub worker_token_ttl: Duration,
    pub events: EventLimits,
    /// Largest request body of the workers' routes (sync batches).
    pub sync_body_limit: usize,
    /// A copying or streaming collection whose MongoDB scan or change stream has not answered
    /// for this long turns the connector's health yellow (`stream_stalled`); five times as long,
    /// red.
    pub stream_stall: Duration,
    /// A running connector lagging more than this (either way) shows health yellow
    /// (`lag_high`); five times as much, red.
    pub lag_warn: Duration,
    /// How long the one-minute metrics are kept (hourly buckets beyond, for `metrics_hourly_keep`).
    pub metrics_keep: Duration,
    pub metrics_hourly_keep: Duration,
    /// Trace steps kept per connector (the newest).
    pub trace_keep_per_connector: i64,
    /// Time between alert evaluations (0: this process does not evaluate).
    pub alert_interval: Duration,
}

/// Bounds on stored diagnostics events.
#[derive(Debug, Clone, Copy)]
pub struct EventLimits {
    /// Events stored per connector per minute; more are counted as dropped.
    pub per_minute: u32,
    /// Newest events kept per connector.
    pub keep_per_connector: i64,
    /// Older events are deleted.
    pub max_age: Duration,
    /// Debug events (debug mode) stored per connector per minute, and kept per connector,
    /// apart from the others (they never push those out).
    pub debug_per_minute: u32,
    pub debug_keep_per_connector: i64,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            per_minute: 60,
            keep_per_connector: 1_000,
            max_age: Duration::from_secs(7 * 24 * 3600),
            debug_per_minute: 600,
            debug_keep_per_connector: 2_000,
        }
    }
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            worker_token: None,
            operator_token: None,
            lease_ttl: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(2),
            worker_token_ttl: Duration::from_secs(300),
            events: EventLimits::default(),
            sync_body_limit: 32 * 1024 * 1024,
            stream_stall: Duration::from_secs(60),
            lag_warn: Duration::from_secs(300),
            metrics_keep: Duration::from_secs(7 * 24 * 3600),
            metrics_hourly_keep: Duration::from_secs(90 * 24 * 3600),
            trace_keep_per_connector: 20_000,
            alert_interval: Duration::from_secs(15),
        }
    }
}

impl fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetConfig")
            .field("worker_token", &self.worker_token.as_ref().map(|_| "****"))
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "****"),
            )
            .field("lease_ttl", &self.lease_ttl)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("events", &self.events)
            .finish()
    }
}

/// The [`MongoConnector`] the api uses.
#[derive(Clone)]
pub struct MongoAccess(pub Arc<dyn MongoConnector>);

impl fmt::Debug for MongoAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MongoAccess")
    }
}

impl Default for MongoAccess {
    fn default() -> Self {
        MongoAccess(Arc::new(DriverConnector))
    }
}

impl ApiConfig {
    /// A configuration with the defaults for everything but the keys.
    pub fn new(listen: SocketAddr, keyring: Keyring, jwt: JwtKeys) -> Self {
        Self {
            listen,
            keyring,
            jwt,
            rate_limit_per_sec: DEFAULT_RATE_LIMIT,
            auth_failure_limit_per_sec: DEFAULT_AUTH_FAILURE_LIMIT,
            token_ttl: DEFAULT_TOKEN_TTL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            body_limit_bytes: DEFAULT_BODY_LIMIT,
            store_limits: StoreLimits::default(),
            preflight: PreflightOptions::default(),
            mongo: MongoAccess::default(),
            max_concurrent_connection_tests: DEFAULT_MAX_CONCURRENT_CONNECTION_TESTS,
            fleet: FleetConfig::default(),
            connections: crate::http::serve::ConnectionLimits::default(),
            feed: crate::store::feed::FeedLimits::default(),
            key_cache_ttl: crate::auth::cache::KEY_CACHE_TTL,
            metrics: Default::default(),
            webhooks: WebhookConfig::default(),
        }
    }
}

//! What every handler shares.

use crate::auth::failures::AuthFailureGuard;
use crate::auth::jwt::JwtKeys;
use crate::config::ApiConfig;
use crate::crypto::Keyring;
use crate::store::execute::StoreLimits;
use crate::store::feed::ChangeSignal;
use edgebridge_edge::HlcClock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sqlx::PgPool;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub keyring: Keyring,
    pub jwt: JwtKeys,
    /// Per-API-key request limiter; `None` when limiting is off.
    pub limiter: Option<DefaultKeyedRateLimiter<Uuid>>,
    /// Per-address throttle on failed authentications; `None` when off.
    pub auth_failures: Option<AuthFailureGuard>,
    pub token_ttl: Duration,
    /// Issues the edge store's write stamps (hybrid logical clock).
    pub clock: Mutex<HlcClock>,
    pub store_limits: StoreLimits,
    /// Documents per (organization, app), cached for the quota check.
    pub doc_counts: Mutex<HashMap<(Uuid, Uuid), (Instant, i64)>>,
    /// Point reads by `_id` that share statements under load.
    pub point_reads: crate::store::point_reads::PointReads,
    /// Group commit of optimistic inserts.
    pub insert_batches: crate::store::coalesce::InsertBatcher,
    /// Wakes change-feed long polls after writes (here and in other api processes).
    pub store_notifications: ChangeSignal,
    /// API keys looked up a moment ago (see `auth::cache`).
    pub(crate) key_cache:
        crate::auth::cache::KeyCache<crate::auth::context::KeyLookup, crate::auth::context::KeyRow>,
    /// The longest a long poll waits: a little under the request timeout, so a quiet poll
    /// answers its empty page instead of timing out.
    pub feed_max_wait: Duration,
    /// Change-feed long polls open, per key and per app.
    pub long_polls: crate::store::feed::LongPolls,
    /// How connection tests reach MongoDB, and under which policy.
    pub mongo: crate::config::MongoAccess,
    pub preflight: edgebridge_mongo::preflight::PreflightOptions,
    /// Bounds the connection tests running at once.
    pub connection_tests: Arc<tokio::sync::Semaphore>,
    pub fleet: crate::config::FleetConfig,
    /// Prometheus series (`/metrics`).
    pub metrics: crate::metrics::ApiMetrics,
    /// Sends webhook test events and manual retries (the dispatcher has its own).
    pub webhooks: crate::webhooks::WebhookSender,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(pool: PgPool, config: ApiConfig, shutdown: CancellationToken) -> Self {
        let pool_for_signal = pool.clone();
        let limiter = NonZeroU32::new(config.rate_limit_per_sec)
            .map(|rate| RateLimiter::keyed(Quota::per_second(rate).allow_burst(rate)));
        let metrics = crate::metrics::ApiMetrics::new(&config.metrics, &pool);
        Self(Arc::new(Inner {
            metrics,
            pool,
            keyring: config.keyring,
            jwt: config.jwt,
            limiter,
            auth_failures: AuthFailureGuard::new(config.auth_failure_limit_per_sec),
            token_ttl: config.token_ttl,
            clock: Mutex::new(HlcClock::new()),
            store_limits: config.store_limits,
            doc_counts: Mutex::new(HashMap::new()),
            insert_batches: Default::default(),
            point_reads: Default::default(),
            store_notifications: ChangeSignal::new(pool_for_signal, shutdown),
            long_polls: crate::store::feed::LongPolls::new(config.feed),
            feed_max_wait: config
                .request_timeout
                .saturating_sub(Duration::from_secs(2))
                .max(config.request_timeout / 2),
            key_cache: crate::auth::cache::KeyCache::new(config.key_cache_ttl),
            mongo: config.mongo,
            // Cannot fail: rustls with built-in roots, no proxy, no client identity, and our
            // own resolver (the system's DNS configuration is not read here).
            webhooks: crate::webhooks::WebhookSender::new(config.preflight.policy, config.webhooks)
                .expect("the webhook HTTP client builds"),
            preflight: config.preflight,
            connection_tests: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent_connection_tests,
            )),
            fleet: config.fleet,
        }))
    }
}

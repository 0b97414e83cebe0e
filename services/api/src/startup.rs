//! `Application::build` -> `port()` -> `run_until_stopped()`: what the binary, the all-in-one mode
//! and the tests start.

use crate::config::ApiConfig;
use crate::http;
use crate::state::AppState;
use anyhow::Context;
use axum::Router;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Applies pending migrations. sqlx holds a Postgres advisory lock meanwhile, so several api
/// replicas starting together migrate once.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    address: SocketAddr,
    connections: http::serve::ConnectionLimits,
    shutdown: CancellationToken,
}

impl Application {
    /// Migrates the database, binds the listener (port 0 picks a free port) and assembles the
    /// router. `shutdown` stops the server gracefully and every background loop.
    pub async fn build(
        config: ApiConfig,
        pool: PgPool,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        migrate(&pool).await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let address = listener.local_addr()?;
        let request_timeout = config.request_timeout;
        let body_limit = config.body_limit_bytes;
        let connections = config.connections;
        let state = AppState::new(pool, config, shutdown.clone());
        spawn_limiter_cleanup(state.clone(), shutdown.clone());
        // Every api replica runs the evaluator; an advisory lock lets one cycle run at a time.
        if !state.fleet.alert_interval.is_zero() {
            tokio::spawn(crate::monitoring::alerts::evaluate::run(
                state.pool.clone(),
                state.fleet.clone(),
                state.fleet.alert_interval,
                shutdown.clone(),
            ));
        }
        crate::store::feed::spawn_listener(
            state.pool.clone(),
            state.store_notifications.clone(),
            shutdown.clone(),
        );
        let router = http::router(state, request_timeout, body_limit);
        Ok(Self {
            listener,
            router,
            address,
            connections,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let stop = self.shutdown.clone();
        self.run_until_stopped_on(stop).await
    }

    /// Like [`Application::run_until_stopped`], but the server stops on `stop` (later than the
    /// background loops when something in the process still needs the api, e.g. a draining
    /// in-process worker).
    pub async fn run_until_stopped_on(self, stop: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(address = %self.address, "api listening");
        http::serve::serve(self.listener, self.router, self.connections, stop).await;
        Ok(())
    }
}

/// Forgets rate-limit state of keys that have been quiet, so memory stays bounded, and prunes
/// old diagnostics events.
fn spawn_limiter_cleanup(state: AppState, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut minutes = 0u64;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    if let Some(limiter) = &state.limiter {
                        limiter.retain_recent();
                        limiter.shrink_to_fit();
                    }
                    if let Some(guard) = &state.auth_failures {
                        guard.cleanup();
                    }
                    // Diagnostics events past their retention, every ten minutes.
                    if minutes.is_multiple_of(10) {
                        match crate::fleet::events::prune(&state.pool, &state.fleet.events).await {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(deleted = n, "pruned old connector events"),
                            Err(e) => tracing::warn!(error = %e, "pruning connector events failed"),
                        }
                    }
                    minutes += 1;
                }
            }
        }
    });
}

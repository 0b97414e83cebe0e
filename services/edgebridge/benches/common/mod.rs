//! What the benchmarks share: a real api on a fresh database, latency reports, load loops.

#![allow(dead_code)]

pub mod port;
/// The sync bench's loads, figures and side-by-side table.
pub mod sync_runs;

/// The same allocator as the `edgebridge` binary, tuned as it is, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../../src/allocator.rs"]
pub mod allocator;

use edgebridge_api::auth::jwt::JwtKeys;
use edgebridge_api::crypto::Keyring;
use edgebridge_api::{ApiConfig, Application, api_keys};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Prints one line: count, errors, rate (of `units` per request), latency percentiles.
pub fn report(
    phase: &str,
    mut latencies: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
    units: u64,
) {
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{phase:<34} requests={:<7} errors={errors:<4} rate={:>9.0}/s  p50={:.2} ms  p90={:.2} ms  p99={:.2} ms  p99.9={:.2} ms  max={:.2} ms",
        latencies.len(),
        (latencies.len() as u64 * units) as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(percentile(&latencies, 99.9)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
}

/// A running api over a throw-away database, with an owner key and one app.
pub struct Bench {
    pub server: tokio::runtime::Runtime,
    pub client_rt: tokio::runtime::Runtime,
    pub pool: PgPool,
    pub base: String,
    pub key: String,
    pub app_id: String,
    pub client: reqwest::Client,
    db_url: String,
    shutdown: CancellationToken,
}

impl Bench {
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {})
    }

    /// Like [`Bench::start`], with changes to the api's configuration.
    pub fn start_with(configure: impl FnOnce(&mut ApiConfig)) -> anyhow::Result<Self> {
        let base_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let db_name = format!("edgebridge_bench_{}", uuid::Uuid::new_v4().simple());
        let (server_base, _) = base_url
            .rsplit_once('/')
            .expect("DATABASE_URL has a database");
        let db_url = format!("{server_base}/{db_name}");
        // The server gets its own runtime and threads, like the real binary.
        let server = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let shutdown = CancellationToken::new();
        let (pool, port) = server.block_on(async {
            sqlx::Postgres::create_database(&db_url).await?;
            let pool = PgPoolOptions::new()
                .test_before_acquire(false)
                .max_connections(40)
                .connect(&db_url)
                .await?;
            let keyring = Keyring::parse("k1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=")?;
            let jwt = JwtKeys::from_secret("bench-secret-bench-secret-bench-secret")?;
            let mut config = ApiConfig::new("127.0.0.1:0".parse()?, keyring, jwt);
            config.rate_limit_per_sec = 0;
            config.body_limit_bytes = 8 * 1024 * 1024;
            config.store_limits.max_documents_per_app = i64::MAX / 2;
            configure(&mut config);
            let app = Application::build(config, pool.clone(), shutdown.clone()).await?;
            let port = app.port();
            tokio::spawn(app.run_until_stopped());
            anyhow::Ok((pool, port))
        })?;
        let client_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .build()?;
        let (key, app_id) = client_rt.block_on(async {
            let (_, _, key) = api_keys::create_organization(&pool, "bench")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let key = key.expose_secret().to_owned();
            let app: Value = client
                .post(format!("{base}/v1/apps"))
                .bearer_auth(&key)
                .json(&json!({"name": "bench"}))
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok((key, app["id"].as_str().unwrap_or_default().to_owned()))
        })?;
        Ok(Self {
            server,
            client_rt,
            pool,
            base,
            key,
            app_id,
            client,
            db_url,
            shutdown,
        })
    }

    pub fn stop(self) {
        self.shutdown.cancel();
        let pool = self.pool.clone();
        let db_url = self.db_url.clone();
        self.server.block_on(async move {
            pool.close().await;
            let _ = sqlx::Postgres::drop_database(&db_url).await;
        });
    }
}

/// `concurrency` loops calling `request(i)` until `duration` passes; `request` answers success.
pub async fn closed_loop<F, Fut>(
    concurrency: usize,
    duration: Duration,
    request: F,
) -> (Vec<Duration>, u64, Duration)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (request, counter, errors) = (request.clone(), counter.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                if request(i).await {
                    latencies.push(t.elapsed());
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    (all, errors.load(Ordering::Relaxed), started.elapsed())
}

/// Requests at a fixed `rate` for `duration`; latencies from the scheduled time and from the
/// actual send (the first includes the generator's own timer lag: an upper bound).
pub async fn open_loop<F, Fut>(
    rate: u64,
    duration: Duration,
    request: F,
) -> (Vec<Duration>, Vec<Duration>, u64, Duration)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let request = Arc::new(request);
    let total = rate * duration.as_secs();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let fut = request(i);
        handles.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = fut.await;
            (ok, scheduled.elapsed(), sent.elapsed())
        }));
    }
    let (mut from_schedule, mut from_send, mut errors) = (Vec::new(), Vec::new(), 0);
    for h in handles {
        match h.await {
            Ok((true, s, t)) => {
                from_schedule.push(s);
                from_send.push(t);
            }
            _ => errors += 1,
        }
    }
    (from_schedule, from_send, errors, started.elapsed())
}

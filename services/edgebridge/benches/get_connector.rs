//! Benchmark: `GET /v1/apps/{app}/connectors/{id}` through the full stack (HTTP, API-key auth with
//! its Postgres lookup, the connector read, JSON), against the real Postgres.
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p edgebridge --bench get_connector`
//! Options (env): BENCH_RATE (default 1000 req/s), BENCH_SECS (default 10), BENCH_CONCURRENCY
//! (closed-loop phase, default 16).
//!
//! It prints two phases: a closed loop (how many requests/s the server sustains) and an open loop
//! at a fixed rate, whose latencies are measured from each request's *scheduled* send time, so a
//! stall is not hidden by the load generator slowing down (no coordinated omission).

use edgebridge_api::auth::jwt::JwtKeys;
use edgebridge_api::crypto::Keyring;
use edgebridge_api::{ApiConfig, Application, api_keys};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
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

fn report(phase: &str, mut latencies: Vec<Duration>, errors: u64, elapsed: Duration) {
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{phase:<28} requests={:<7} errors={errors:<4} throughput={:>8.0} req/s  p50={:.2} ms  p90={:.2} ms  p99={:.2} ms  p99.9={:.2} ms  max={:.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(percentile(&latencies, 99.9)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
}

struct Target {
    client: reqwest::Client,
    url: String,
    key: String,
}

impl Target {
    async fn get(&self) -> bool {
        match self
            .client
            .get(&self.url)
            .bearer_auth(&self.key)
            .send()
            .await
        {
            Ok(res) if res.status().is_success() => res.bytes().await.is_ok(),
            _ => false,
        }
    }
}

async fn closed_loop(target: Arc<Target>, concurrency: usize, duration: Duration) {
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let target = target.clone();
        let errors = errors.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let t = Instant::now();
                if target.get().await {
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
        all.extend(w.await.unwrap());
    }
    report(
        &format!("closed loop, {concurrency} in flight"),
        all,
        errors.load(Ordering::Relaxed),
        started.elapsed(),
    );
}

async fn open_loop(target: Arc<Target>, rate: u64, duration: Duration) {
    let total = rate * duration.as_secs();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let started = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled).await;
        let target = target.clone();
        handles.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = target.get().await;
            (ok, scheduled.elapsed(), sent.elapsed())
        }));
    }
    let mut from_schedule = Vec::with_capacity(handles.len());
    let mut from_send = Vec::with_capacity(handles.len());
    let mut errors = 0;
    for h in handles {
        let (ok, scheduled, sent) = h.await.unwrap();
        if ok {
            from_schedule.push(scheduled);
            from_send.push(sent);
        } else {
            errors += 1;
        }
    }
    let elapsed = started.elapsed();
    // From the scheduled time: includes the load generator's own timer lag (tokio timers have
    // 1 ms resolution), so it is an upper bound.
    report(
        &format!("open loop {rate}/s (scheduled)"),
        from_schedule,
        errors,
        elapsed,
    );
    // From the moment the request was actually sent: the service's latency.
    report(
        &format!("open loop {rate}/s (sent)"),
        from_send,
        errors,
        elapsed,
    );
}

fn main() -> anyhow::Result<()> {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let rate: u64 = env_or("BENCH_RATE", 1000);
    let secs: u64 = env_or("BENCH_SECS", 10);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 16);
    let db_name = format!("edgebridge_bench_{}", uuid::Uuid::new_v4().simple());
    let (server_base, _) = base.rsplit_once('/').expect("DATABASE_URL has a database");
    let db_url = format!("{server_base}/{db_name}");

    // The server gets its own runtime and threads, like the real binary.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let shutdown = CancellationToken::new();
    let (pool, port) = server_rt.block_on(async {
        sqlx::Postgres::create_database(&db_url).await?;
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect(&db_url)
            .await?;
        let keyring = Keyring::parse(&format!("k1:{}", base64_key()))?;
        let jwt = JwtKeys::from_secret("bench-secret-bench-secret-bench-secret")?;
        let mut config = ApiConfig::new("127.0.0.1:0".parse()?, keyring, jwt);
        config.rate_limit_per_sec = 0;
        let app = Application::build(config, pool.clone(), shutdown.clone()).await?;
        let port = app.port();
        tokio::spawn(app.run_until_stopped());
        anyhow::Ok((pool, port))
    })?;

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    client_rt.block_on(async {
        let (_, _, key) = api_keys::create_organization(&pool, "bench").await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let key = key.expose_secret().to_owned();
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
        let base = format!("http://127.0.0.1:{port}");
        let app: Value = client
            .post(format!("{base}/v1/apps"))
            .bearer_auth(&key)
            .json(&json!({"name": "bench"}))
            .send()
            .await?
            .json()
            .await?;
        let app_id = app["id"].as_str().unwrap().to_owned();
        let connector: Value = client
            .post(format!("{base}/v1/apps/{app_id}/connectors"))
            .bearer_auth(&key)
            .json(&json!({
                "name": "retail",
                "connectionString": "mongodb+srv://user:pass@cluster0.example.net/",
                "database": "retail-demo",
                "collections": {
                    "tasks": {"fields": ["_id"], "initialSync": true},
                    "orders": {"fields": ["orderId", "storeId"], "filter": {"deleted": false},
                               "settableCounters": ["quantity"], "dqlStrictMode": false}
                }
            }))
            .send()
            .await?
            .json()
            .await?;
        let url = format!("{base}/v1/apps/{app_id}/connectors/{}", connector["id"].as_str().unwrap());
        let target = Arc::new(Target { client, url, key });

        println!("GET one connector through the full stack (HTTP + API-key auth + Postgres), {secs} s per phase");
        // Warm up connections and caches.
        closed_loop(target.clone(), 4, Duration::from_secs(2)).await;
        closed_loop(target.clone(), concurrency, Duration::from_secs(secs)).await;
        open_loop(target.clone(), rate, Duration::from_secs(secs)).await;
        anyhow::Ok(())
    })?;

    shutdown.cancel();
    server_rt.block_on(async {
        pool.close().await;
        let _ = sqlx::Postgres::drop_database(&db_url).await;
    });
    Ok(())
}

fn base64_key() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([7u8; 32])
}

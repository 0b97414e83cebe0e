//! The roles as processes: a worker's own metrics address, and the `all` role's one endpoint.

use super::*;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_edgebridge");

/// A child process killed (by its id) if the test ends before stopping it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn start(args: &[&str], env: &[(&str, String)]) -> Self {
        let home = std::env::temp_dir().join(format!("edgebridge-e2e-metrics-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("EDGEBRIDGE_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Running(cmd.spawn().unwrap())
    }

    /// SIGTERM, then a clean exit within 20 s.
    async fn stop(mut self) {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "did not stop after SIGTERM");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(status.success(), "exit status {status}");
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Scrapes `url` until `ready` holds for what it answers (30 s at most).
async fn scrape_until(url: &str, token: Option<&str>, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = reqwest::Client::new().get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Ok(res) = request.send().await
            && res.status().is_success()
        {
            let scrape = parse(&res.text().await.unwrap());
            if ready(&scrape) {
                return scrape;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} never showed what was awaited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const HEARTBEAT: &str = "/internal/v1/workers/{worker_id}/heartbeat";

fn heartbeats(scrape: &Scrape) -> f64 {
    let labels = [("endpoint", HEARTBEAT), ("outcome", "200")];
    matching(scrape, "edgebridge_worker_api_requests_total", &labels)
        .map(|s| s.value)
        .sum()
}

#[sqlx::test]
async fn a_worker_serves_its_own_series_on_its_metrics_address(pool: PgPool) {
    let (app, _) = spawn(pool, true).await;
    let port = free_port();
    let worker = Running::start(
        &["worker"],
        &[
            ("EDGEBRIDGE_API_URL", app.address.clone()),
            ("EDGEBRIDGE_WORKER_TOKEN", WORKER.to_owned()),
            ("EDGEBRIDGE_WORKER_NAME", "metrics-worker".to_owned()),
            ("EDGEBRIDGE_WORKER_HEARTBEAT_MS", "200".to_owned()),
            ("EDGEBRIDGE_METRICS_ADDR", format!("127.0.0.1:{port}")),
        ],
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let metrics = scrape_until(&url, None, |m| heartbeats(m) >= 2.0).await;
    let register = [
        ("method", "POST"),
        ("endpoint", "/internal/v1/workers/register"),
        ("outcome", "201"),
    ];
    assert_eq!(
        value(&metrics, "edgebridge_worker_api_requests_total", &register),
        1.0
    );
    assert_eq!(value(&metrics, "edgebridge_worker_supervisors", &[]), 0.0);
    let latency = [("method", "POST"), ("endpoint", HEARTBEAT)];
    let timed = "edgebridge_worker_api_request_duration_seconds_count";
    assert!(value(&metrics, timed, &latency) >= 2.0);
    assert!(
        !metrics
            .samples
            .iter()
            .any(|s| s.metric.starts_with("edgebridge_http_")
                || s.metric.starts_with("edgebridge_fleet_")),
        "a worker serves its own series only"
    );
    worker.stop().await;
}

#[sqlx::test(migrations = false)]
async fn the_all_role_serves_every_role_on_one_endpoint(_: PgPoolOptions, opts: PgConnectOptions) {
    let (api_port, metrics_port) = (free_port(), free_port());
    let all = Running::start(
        &["all"],
        &[
            ("DATABASE_URL", database_url(&opts)),
            ("EDGEBRIDGE_ENCRYPTION_KEYS", key_entry("k1", 1)),
            ("EDGEBRIDGE_JWT_KEYS", key_entry("j1", 2)),
            ("EDGEBRIDGE_OPERATOR_TOKEN", OPERATOR.to_owned()),
            ("EDGEBRIDGE_LISTEN", format!("127.0.0.1:{api_port}")),
            (
                "EDGEBRIDGE_METRICS_ADDR",
                format!("127.0.0.1:{metrics_port}"),
            ),
            ("EDGEBRIDGE_HEARTBEAT_INTERVAL_MS", "300".to_owned()),
            ("EDGEBRIDGE_SCHEDULER_TICK_MS", "200".to_owned()),
        ],
    );
    let every_role = |m: &Scrape| {
        heartbeats(m) >= 1.0
            && matching(m, "edgebridge_scheduler_ticks_total", &[("outcome", "ok")]).count() == 1
            && matching(m, "edgebridge_http_requests_total", &[("route", HEARTBEAT)]).count() >= 1
    };
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    scrape_until(&url, None, every_role).await;
    let api = format!("http://127.0.0.1:{api_port}/metrics");
    let (metrics, text) = scrape_at(&api, Some(OPERATOR)).await;
    assert!(every_role(&metrics), "the api's listener shows the same");
    assert_eq!(
        value(&metrics, "edgebridge_workers", &[("state", "live")]),
        1.0
    );
    assert!(value(&metrics, "edgebridge_db_pool_size", &[]) >= 1.0);
    for family in [
        "edgebridge_http_requests_total",
        "edgebridge_scheduler_ticks_total",
        "edgebridge_worker_api_requests_total",
        "edgebridge_db_pool_size",
        "edgebridge_workers",
    ] {
        let declared = text
            .lines()
            .filter(|l| l.starts_with(&format!("# TYPE {family} ")))
            .count();
        assert_eq!(declared, 1, "{family} declared once in one registry");
    }
    all.stop().await;
}

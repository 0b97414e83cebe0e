//! The real binary: start-up checks, `org create`, `openapi`, `keys rotate`, graceful shutdown.

use crate::helpers::*;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_edgebridge");

fn edgebridge(database_url: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("EDGEBRIDGE_LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    cmd
}

#[sqlx::test(migrations = false)]
async fn refuses_to_start_without_keys_outside_dev_mode(_: PgPoolOptions, opts: PgConnectOptions) {
    let url = database_url(&opts);
    let out = edgebridge(&url).args(["api"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("EDGEBRIDGE_ENCRYPTION_KEYS is not set"),
        "{stderr}"
    );

    let out = edgebridge(&url)
        .args(["api"])
        .env("EDGEBRIDGE_ENCRYPTION_KEYS", "k1:dG9vc2hvcnQ=")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exactly 32 bytes"), "{stderr}");

    let out = edgebridge(&url)
        .args(["api"])
        .env("EDGEBRIDGE_ENCRYPTION_KEYS", key_entry("k1", 1))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("EDGEBRIDGE_JWT_KEYS (or EDGEBRIDGE_JWT_SECRET) is not set"),
        "{stderr}"
    );

    let out = edgebridge(&url)
        .args(["api"])
        .env("EDGEBRIDGE_ENCRYPTION_KEYS", key_entry("k1", 1))
        .env("EDGEBRIDGE_JWT_KEYS", key_entry("j1", 2))
        .env("EDGEBRIDGE_TARGET_POLICY", "anything-goes")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown target policy `anything-goes`: use public-only or allow-private"),
        "{stderr}"
    );

    let out = Command::new(BIN)
        .env_clear()
        .args(["migrate"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL is not set"));
}

#[sqlx::test(migrations = false)]
async fn org_create_prints_a_working_owner_key_then_serves_and_drains_on_sigterm(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let url = database_url(&opts);
    let out = edgebridge(&url)
        .args(["org", "create", "acme"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["apiKey"]["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ebk_"));
    assert_eq!(created["apiKey"]["role"], "owner");
    // The key never reaches the logs.
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&key));

    let again = edgebridge(&url)
        .args(["org", "create", "acme"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = edgebridge(&url)
        .args(["api"])
        .env("EDGEBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("EDGEBRIDGE_ENCRYPTION_KEYS", key_entry("k1", 1))
        .env("EDGEBRIDGE_JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let apps = loop {
        match client
            .get(format!("http://127.0.0.1:{port}/v1/apps"))
            .bearer_auth(&key)
            .send()
            .await
        {
            Ok(res) => break res,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("server did not come up: {e}"),
        }
    };
    assert_eq!(apps.status(), reqwest::StatusCode::OK);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "did not stop within 15 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status}");
    let mut logs = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).unwrap();
    assert!(logs.contains("shutdown requested"), "{logs}");
    assert!(!logs.contains(&key), "the API key appeared in the logs");
    for line in logs.lines().filter(|l| l.starts_with('{')) {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
    }
}

#[test]
fn openapi_command_prints_the_committed_document() {
    let out = Command::new(BIN).args(["openapi"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        edgebridge_api::openapi::document_json()
    );
}

#[sqlx::test(migrations = false)]
async fn keys_rotate_command_reports_json(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_connector(&connector_spec("a")).await;
    let opts = app.pool.connect_options();
    let url = database_url(&opts);
    let out = edgebridge(&url)
        .args(["keys", "rotate"])
        .env(
            "EDGEBRIDGE_ENCRYPTION_KEYS",
            format!("{},{}", key_entry("k2", 2), key_entry("k1", 1)),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rotated"], 1);
    assert_eq!(report["activeKeyId"], "k2");

    // Without the key they are under now (k2) the secrets cannot be opened: reported, non-zero
    // exit, nothing changed.
    let out = edgebridge(&url)
        .args(["keys", "rotate"])
        .env("EDGEBRIDGE_ENCRYPTION_KEYS", key_entry("k3", 3))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"].as_array().unwrap().len(), 1);
    assert_eq!(report["rotated"], 0);
    let (key_id,): (String,) = sqlx::query_as("select connection_key_id from connectors")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(key_id, "k2");

    let generated = Command::new(BIN)
        .args(["keys", "generate", "--id", "k9"])
        .output()
        .unwrap();
    let entry = String::from_utf8(generated.stdout).unwrap();
    assert!(edgebridge_api::crypto::Keyring::parse(entry.trim()).is_ok());
}

/// `edgebridge all --dev`: the api, a scheduler and a worker in one process. The worker registers
/// over loopback with the process's own token, and drains (deregisters) on SIGTERM.
#[sqlx::test(migrations = false)]
async fn all_runs_a_worker_that_registers_and_drains_on_sigterm(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let url = database_url(&opts);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let keys = std::env::temp_dir().join(format!("edgebridge-e2e-{}", uuid::Uuid::now_v7()));
    let mut child = edgebridge(&url)
        .args(["all", "--dev"])
        .env("EDGEBRIDGE_DEV_KEYS_FILE", keys.join("dev-keys"))
        .env("EDGEBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("EDGEBRIDGE_WORKER_NAME", "in-process")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live: Option<(String,)> =
            sqlx::query_as("select state from workers where name = 'in-process'")
                .fetch_optional(&pool)
                .await
                .unwrap_or(None);
        if live.as_ref().is_some_and(|(s,)| s == "live") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the in-process worker never registered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let (state,): (String,) = sqlx::query_as("select state from workers where name = 'in-process'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        state, "gone",
        "drained and deregistered before the api stopped"
    );
    let _ = std::fs::remove_dir_all(&keys);
}

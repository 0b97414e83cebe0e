//! What an operator sees when starting the real binary: `--dev` keys that survive a restart,
//! the dev banner, quiet and plain logs, and Postgres errors that say what is wrong.

use crate::helpers::*;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_edgebridge");

/// The binary with a clean environment: `home` as HOME (where `--dev` keeps its keys).
fn edgebridge(database_url: &str, home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("DATABASE_URL", database_url)
        .env("EDGEBRIDGE_LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    cmd
}

/// A fresh directory under the system's temporary directory.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "edgebridge-e2e-{name}-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Collects a child's stderr lines as they come.
fn collect_lines(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(line) => sink.lock().unwrap().push(line),
                Err(_) => break,
            }
        }
    });
    lines
}

async fn wait_until_serving(port: u16, child: &mut Child) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(res) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            && res.status().is_success()
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the server exited with {status} before serving");
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, then waits for a clean exit.
async fn stop(child: &mut Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status}");
}

/// Waits until `lines` holds a line containing `needle`.
async fn wait_for_line(lines: &Mutex<Vec<String>>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lines.lock().unwrap().iter().any(|l| l.contains(needle)) {
        assert!(Instant::now() < deadline, "no line with {needle:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `api --dev` twice over the same database: the second run opens the connection string the
/// first saved and accepts the access token the first issued, because the generated keys were
/// kept in a private file (HOME/.local/share/edgebridge/dev-keys by default), which the banner
/// names. Without `--dev` the file is not read.
#[sqlx::test(migrations = false)]
async fn dev_mode_keeps_its_generated_keys_across_restarts(
    _: PgPoolOptions,
    opts: PgConnectOptions,
) {
    let url = database_url(&opts);
    let home = scratch_dir("dev-keys");
    let keys_file = home.join(".local/share/edgebridge/dev-keys");
    let port = free_port();
    let mongo_port = free_port();
    let start = || {
        edgebridge(&url, &home)
            .args(["api", "--dev"])
            .env("EDGEBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("EDGEBRIDGE_MONGODB_CONNECT_TIMEOUT_SECS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut first = start();
    let banner = collect_lines(first.stderr.take().unwrap());
    let mut key = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut key)
        .unwrap();
    let key = key.trim().to_owned();
    assert!(key.starts_with("ebk_"), "the owner key on stdout: {key:?}");
    wait_until_serving(port, &mut first).await;
    let client = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{port}");
    let apps: Value = client
        .get(format!("{api}/v1/apps"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = apps["items"][0]["id"].as_str().unwrap().to_owned();
    let mut spec = connector_spec("kept");
    spec["connectionString"] = json!(format!(
        "mongodb://appuser:{PASSWORD}@127.0.0.1:{mongo_port}/?directConnection=true"
    ));
    let created = client
        .post(format!("{api}/v1/apps/{app_id}/connectors"))
        .bearer_auth(&key)
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let connector_id = id_of(&created.json().await.unwrap());
    let token: Value = client
        .post(format!("{api}/v1/auth/token"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["accessToken"].as_str().unwrap().to_owned();
    stop(&mut first).await;

    let banner = banner.lock().unwrap().join("\n");
    assert!(
        banner.contains(&format!("Dev keys:   {}", keys_file.display())),
        "the banner names the keys file: {banner}"
    );
    assert!(
        banner.contains("EDGEBRIDGE_OPERATOR_TOKEN"),
        "the banner says how to turn operator routes on: {banner}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&keys_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the keys file is private: {mode:o}");
    }
    assert!(!banner.contains(PASSWORD));

    let mut second = start();
    let _logs = collect_lines(second.stderr.take().unwrap());
    wait_until_serving(port, &mut second).await;
    let tested = client
        .post(format!(
            "{api}/v1/apps/{app_id}/connectors/{connector_id}/test"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let status = tested.status();
    let report = tested.text().await.unwrap();
    assert_eq!(
        status,
        reqwest::StatusCode::OK,
        "the saved connection string opens after a restart: {report}"
    );
    // The test ran against the saved string: nothing listens at its port.
    assert!(
        report.contains(&format!("connection refused at 127.0.0.1:{mongo_port}")),
        "{report}"
    );
    assert!(!report.contains(PASSWORD));
    let with_token = client
        .get(format!("{api}/v1/apps"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_token.status(),
        reqwest::StatusCode::OK,
        "an access token from before the restart still verifies"
    );
    stop(&mut second).await;

    // Without --dev the file is not read: the keys must come from the environment.
    let out = edgebridge(&url, &home).args(["api"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("EDGEBRIDGE_ENCRYPTION_KEYS is not set"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

/// `all --dev` with text logs into a pipe: no colour codes, the worker's heartbeats only at
/// DEBUG, and no Postgres notice from the migrations' bookkeeping on a database already
/// migrated.
#[sqlx::test(migrations = false)]
async fn text_logs_into_a_pipe_are_plain_and_quiet(_: PgPoolOptions, opts: PgConnectOptions) {
    let url = database_url(&opts);
    let home = scratch_dir("logs");
    let migrated = edgebridge(&url, &home).args(["migrate"]).output().unwrap();
    assert!(migrated.status.success());
    let port = free_port();
    let mut child = edgebridge(&url, &home)
        .args(["all", "--dev"])
        .env("EDGEBRIDGE_LOG_FORMAT", "text")
        // Heartbeat lines show at DEBUG: asked for here, to see at which level they come.
        .env("RUST_LOG", "info,tower_http=debug")
        .env("EDGEBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("EDGEBRIDGE_HEARTBEAT_INTERVAL_MS", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = collect_lines(child.stderr.take().unwrap());
    wait_until_serving(port, &mut child).await;
    let heartbeats = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("/heartbeat") && l.contains("finished processing request"))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while heartbeats(&lines.lock().unwrap()) < 3 {
        assert!(Instant::now() < deadline, "the worker did not heartbeat");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(&mut child).await;
    wait_for_line(&lines, "stopped").await;

    let lines = lines.lock().unwrap().clone();
    let all = lines.join("\n");
    assert!(!all.contains('\x1b'), "colour codes in a pipe: {all}");
    for line in lines.iter().filter(|l| l.contains("/heartbeat")) {
        assert!(
            line.contains(" DEBUG ") && !line.contains(" INFO "),
            "a heartbeat logged above DEBUG: {line}"
        );
    }
    assert!(
        !all.contains("already exists, skipping") && !all.contains("postgres::notice"),
        "a Postgres notice at start: {all}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

/// The Postgres server the tests use, to derive broken URLs from.
fn test_server() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
    PgConnectOptions::from_str(&url).unwrap()
}

/// `edgebridge migrate` against `url`; its stderr, after a failed exit.
fn migrate_fails(url: &str) -> String {
    let home = std::env::temp_dir();
    let out = edgebridge(url, &home)
        .args(["migrate"])
        .env("EDGEBRIDGE_DB_CONNECT_TIMEOUT_SECS", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_closed_postgres_port_is_named_as_refused() {
    let port = free_port();
    let stderr = migrate_fails(&format!(
        "postgres://app:hunter22@127.0.0.1:{port}/edgebridge"
    ));
    assert!(
        stderr.contains(&format!(
            "cannot connect to Postgres at 127.0.0.1:{port}: connection refused"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Start Postgres"), "{stderr}");
    assert!(!stderr.contains("pool timed out"), "{stderr}");
    assert!(!stderr.contains("hunter22"), "{stderr}");
}

#[test]
fn a_missing_database_is_named_with_how_to_create_it() {
    let server = test_server();
    let (host, port) = (server.get_host(), server.get_port());
    let url = format!(
        "postgres://{}@{host}:{port}/edgebridge_missing_db",
        server.get_username()
    );
    let stderr = migrate_fails(&url);
    assert!(
        stderr.contains(&format!(
            "Postgres at {host}:{port} has no database `edgebridge_missing_db`"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("createdb edgebridge_missing_db"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_user_is_an_authentication_failure() {
    let server = test_server();
    let (host, port) = (server.get_host(), server.get_port());
    let stderr = migrate_fails(&format!(
        "postgres://no_such_role_e2e:pw@{host}:{port}/postgres"
    ));
    assert!(
        stderr.contains(&format!(
            "Postgres at {host}:{port} refused user `no_such_role_e2e`: authentication failed"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

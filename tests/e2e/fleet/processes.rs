//! The real binaries as processes: a killed worker process and a terminated one.

use super::{OPERATOR_TOKEN, WORKER_TOKEN};
use crate::helpers::{PASSWORD, id_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;

/// The real binaries on loopback: `api`, `scheduler` and two `worker`s (the driver, pointed at
/// a closed local port, so each supervisor reports `cluster_unreachable`: what matters here is
/// who reports). SIGKILL one worker: its connectors are reported by the other within the lease
/// and a tick. SIGTERM the other: it drains and deregisters, releasing them at once.
#[sqlx::test(migrations = false)]
async fn killing_a_worker_process_moves_its_connectors_to_the_other(
    _: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    let url = crate::helpers::database_url(&connect);
    let pool = PgPool::connect_with(connect).await.unwrap();
    edgebridge_api::migrate(&pool).await.unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let binary = |role: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgebridge"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .env("EDGEBRIDGE_LOG_FORMAT", "json")
            .env("EDGEBRIDGE_LEASE_TTL_SECS", "2")
            .env("EDGEBRIDGE_HEARTBEAT_INTERVAL_MS", "300")
            .env("EDGEBRIDGE_WORKER_TOKEN", WORKER_TOKEN)
            .arg(role)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let mut api = binary("api")
        .env("EDGEBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "EDGEBRIDGE_ENCRYPTION_KEYS",
            crate::helpers::key_entry("k1", 1),
        )
        .env("EDGEBRIDGE_JWT_KEYS", crate::helpers::key_entry("j1", 9))
        .env("EDGEBRIDGE_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("EDGEBRIDGE_RATE_LIMIT", "0")
        .spawn()
        .unwrap();
    let mut scheduler = binary("scheduler")
        .env("EDGEBRIDGE_SCHEDULER_TICK_MS", "100")
        .spawn()
        .unwrap();
    let worker = |name: &str| -> Child {
        binary("worker")
            .env("EDGEBRIDGE_API_URL", &base)
            .env("EDGEBRIDGE_WORKER_NAME", name)
            .env("EDGEBRIDGE_TARGET_POLICY", "allow-private")
            .env("EDGEBRIDGE_MONGODB_CONNECT_TIMEOUT_SECS", "1")
            .spawn()
            .unwrap()
    };

    let (_, _, key) = edgebridge_api::api_keys::create_organization(&pool, "acme")
        .await
        .unwrap();
    let key = secrecy::ExposeSecret::expose_secret(&key).to_owned();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let app: Value = loop {
        match client
            .post(format!("{base}/v1/apps"))
            .bearer_auth(&key)
            .json(&json!({"name": "retail"}))
            .send()
            .await
        {
            Ok(res) => break res.json().await.unwrap(),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the api did not come up: {e}"),
        }
    };
    let connectors = format!("{base}/v1/apps/{}/connectors", app["id"].as_str().unwrap());
    let mut ids = Vec::new();
    for i in 0..4 {
        let res = client
            .post(&connectors)
            .bearer_auth(&key)
            .json(&json!({
                "name": format!("c{i}"),
                "connectionString": format!("mongodb://appuser:{PASSWORD}@127.0.0.1:1/"),
                "database": "retail-demo",
                // One collection each: an edge collection has one connector per app.
                "collections": {format!("orders-{i}"): {"fields": ["_id"]}},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        ids.push(id_of(&res.json().await.unwrap()));
    }
    let mut wa = worker("wa");
    let mut wb = worker("wb");

    // Who reports each connector at its current epoch (and that it is not `pending`).
    let reporters = || async {
        let mut by = BTreeMap::new();
        for id in &ids {
            let status: Value = client
                .get(format!("{connectors}/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if status["status"] == "failed" {
                assert_eq!(
                    status["statusDetail"]["code"], "cluster_unreachable",
                    "{status}"
                );
                *by.entry(
                    status["assignedWorker"]["name"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
                .or_insert(0) += 1;
            }
        }
        by
    };
    let wait_for = |want: BTreeMap<String, usize>, what: &'static str| {
        let reporters = &reporters;
        async move {
            let started = Instant::now();
            loop {
                let now = reporters().await;
                if now == want {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{what}: {now:?} after 30 s"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // Both workers run some: 2 and 2 (the scheduler spreads by free capacity).
    wait_for(
        BTreeMap::from([("wa".to_owned(), 2), ("wb".to_owned(), 2)]),
        "spread over both workers",
    )
    .await;
    wa.kill().unwrap();
    wa.wait().unwrap();
    let moved = wait_for(
        BTreeMap::from([("wb".to_owned(), 4)]),
        "everything on the surviving worker",
    )
    .await;
    // Lease 2 s + a tick + a heartbeat + a failed connect (1 s), with slack for a busy machine.
    assert!(moved < Duration::from_secs(15), "{moved:?}");
    let workers: Value = client
        .get(format!("{base}/v1/admin/workers"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state_of = |name: &str| {
        workers["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .map(|w| w["state"].clone())
    };
    assert_eq!(state_of("wa"), Some(json!("dead")), "{workers}");
    assert_eq!(state_of("wb"), Some(json!("live")));

    // SIGTERM: the worker drains and deregisters; its connectors are released at once.
    let pid = wb.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = wb.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let (gone,): (String,) = sqlx::query_as("select state from workers where name = 'wb'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(gone, "gone");
    let (assigned,): (i64,) =
        sqlx::query_as("select count(*) from connectors where assigned_worker_id is not null")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(assigned, 0);
    for child in [&mut scheduler, &mut api] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

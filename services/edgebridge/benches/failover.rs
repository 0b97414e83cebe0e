//! Time from a worker's death to its connectors running on another worker: the real api over a
//! throw-away database, the scheduler's loop and two workers looping on their heartbeats (real
//! timers, no shortcuts), supervisors checking a simulated cluster. Worker A crashes (no
//! deregistration, its supervisors vanish); the clock runs until every connector A had is
//! reported `running` by B at its new epoch.
//!
//! `cargo bench -p edgebridge --bench failover` (DATABASE_URL names a Postgres server);
//! `FAILOVER_CONNECTORS` (default 100) sets how many connectors A carries.

mod common;

use common::{Bench, env_or};
use edgebridge_api::config::MongoAccess;
use edgebridge_api::mongo::preflight::PreflightOptions;
use edgebridge_api::scheduler::{self, SchedulerConfig};
use edgebridge_mongo_sim::{CollectionOptions, SimUser, Simulator};
use edgebridge_worker::supervisor::SupervisorSettings;
use edgebridge_worker::{Worker, WorkerConfig};
use secrecy::SecretString;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TOKEN: &str = "bench-worker-token-0123456789";

struct Timing {
    lease: Duration,
    heartbeat: Duration,
    tick: Duration,
}

fn cluster() -> Simulator {
    let sim = Simulator::new(5);
    sim.add_host("cluster0.example.net", &["52.10.20.30".parse().unwrap()]);
    sim.add_user(SimUser::read_write_admin("app", "pw", "shop"));
    sim.create_collection("shop", "orders", CollectionOptions::ready());
    sim
}

/// Steps a worker every heartbeat until `kill` (then crashes it: no word to the api).
async fn drive(mut worker: Worker, kill: CancellationToken) {
    loop {
        tokio::select! {
            _ = kill.cancelled() => break,
            _ = tokio::time::sleep(worker.heartbeat_interval()) => {}
        }
        let _ = worker.step().await;
    }
    worker.crash();
}

async fn count(pool: &sqlx::PgPool, sql: &str, worker: Uuid) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(worker)
        .fetch_one(pool)
        .await
        .unwrap();
    n
}

fn run(timing: Timing, connectors: usize) -> anyhow::Result<()> {
    let sim = cluster();
    let connector = sim.connector();
    let bench = Bench::start_with(|c| {
        c.mongo = MongoAccess(Arc::new(connector));
        c.fleet.worker_token = Some(SecretString::from(TOKEN));
        c.fleet.lease_ttl = timing.lease;
        c.fleet.heartbeat_interval = timing.heartbeat;
    })?;
    let rt = &bench.server;
    let result = rt.block_on(async {
        let base = bench.base.clone();
        let worker_config = |name: &str| WorkerConfig {
            api_url: base.clone(),
            worker_token: SecretString::from(TOKEN),
            name: name.to_owned(),
            capacity: 100_000,
            version: "bench".into(),
            heartbeat_interval: None,
            request_timeout: Duration::from_secs(10),
            mongo: Arc::new(sim.connector()),
            preflight: PreflightOptions::default(),
            supervisor: SupervisorSettings {
                health_interval: Duration::from_secs(3600),
                ..Default::default()
            },
        };
        let shutdown = CancellationToken::new();
        let config = SchedulerConfig {
            lease_ttl: timing.lease,
            tick: timing.tick,
            ..Default::default()
        };
        // Two workers share the connectors; A will die.
        let a = Worker::register(worker_config("a")).await?;
        let a_id = a.id().unwrap();
        let kill_a = CancellationToken::new();
        let a_task = tokio::spawn(drive(a, kill_a.clone()));
        let b = Worker::register(worker_config("b")).await?;
        let b_id = b.id().unwrap();
        let kill_b = CancellationToken::new();
        let b_task = tokio::spawn(drive(b, kill_b.clone()));
        for i in 0..connectors {
            // One collection per connector: an edge collection has one connector per app.
            let collection = format!("orders-{i}");
            sim.create_collection("shop", &collection, CollectionOptions::ready());
            let res = bench
                .client
                .post(format!("{base}/v1/apps/{}/connectors", bench.app_id))
                .bearer_auth(&bench.key)
                .json(&json!({
                    "name": format!("c{i}"),
                    "connectionString": "mongodb+srv://app:pw@cluster0.example.net/",
                    "database": "shop",
                    "collections": {collection: {"fields": ["_id"]}},
                }))
                .send()
                .await?;
            anyhow::ensure!(res.status().is_success(), "create: {}", res.status());
        }
        tokio::spawn(scheduler::run(bench.pool.clone(), config, shutdown.clone()));
        let running_on = "select count(*) from connectors
             where assigned_worker_id = $1 and reported_epoch = assignment_epoch
               and reported_state = 'running'";
        let started = Instant::now();
        loop {
            let on_a = count(&bench.pool, running_on, a_id).await;
            let on_b = count(&bench.pool, running_on, b_id).await;
            if on_a + on_b == connectors as i64 {
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "never all running");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let on_a = count(
            &bench.pool,
            "select count(*) from connectors where assigned_worker_id = $1",
            a_id,
        )
        .await;

        let died = Instant::now();
        kill_a.cancel();
        a_task.await?;
        let mut declared_dead = None;
        let mut all_assigned = None;
        loop {
            let (state,): (String,) = sqlx::query_as("select state from workers where worker_id = $1")
                .bind(a_id)
                .fetch_one(&bench.pool)
                .await?;
            if declared_dead.is_none() && state == "dead" {
                declared_dead = Some(died.elapsed());
            }
            let assigned = count(&bench.pool, "select count(*) from connectors where assigned_worker_id = $1", b_id).await;
            if all_assigned.is_none() && assigned == connectors as i64 {
                all_assigned = Some(died.elapsed());
            }
            if count(&bench.pool, running_on, b_id).await == connectors as i64 {
                break;
            }
            anyhow::ensure!(died.elapsed() < Duration::from_secs(120), "B never ran them all");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let running = died.elapsed();
        println!(
            "failover lease={}ms heartbeat={}ms tick={}ms: {on_a} connectors on the dead worker (of {connectors})",
            timing.lease.as_millis(),
            timing.heartbeat.as_millis(),
            timing.tick.as_millis()
        );
        println!("failover_declared_dead: {:.0} ms", declared_dead.unwrap_or(running).as_secs_f64() * 1000.0);
        println!("failover_reassigned: {:.0} ms", all_assigned.unwrap_or(running).as_secs_f64() * 1000.0);
        println!("failover_running_elsewhere: {:.0} ms", running.as_secs_f64() * 1000.0);
        kill_b.cancel();
        b_task.await?;
        shutdown.cancel();
        anyhow::Ok(())
    });
    bench.stop();
    result
}

fn main() -> anyhow::Result<()> {
    let connectors = env_or("FAILOVER_CONNECTORS", 100usize);
    run(
        Timing {
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_secs(2),
            tick: Duration::from_secs(1),
        },
        connectors,
    )?;
    run(
        Timing {
            lease: Duration::from_secs(3),
            heartbeat: Duration::from_millis(500),
            tick: Duration::from_millis(250),
        },
        connectors,
    )?;
    Ok(())
}

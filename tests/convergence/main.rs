//! The sync engine converges: seeded random workloads on both sides at once (MongoDB inserts,
//! updates, replaces, deletes and counter resets on the simulator; device inserts, updates,
//! deletes and counter increments through the edge store's DQL API; both sides editing the
//! same documents) with injected faults (dropped connections and streams, duplicated change
//! events, lost commit answers, a primary stepping down, worker crashes with a move to a new
//! worker, connector restarts with a new epoch, history loss with `onHistoryLost: resync`).
//!
//! After the workload stops and the system goes quiet, for every seed:
//! * MongoDB and the edge store hold the same documents under the mapping;
//! * no write echoes: nothing is written any more once both sides agree, and the connector's
//!   writes stay bounded by the users' writes;
//! * no acknowledged write is lost: a document only MongoDB users wrote reads as their last
//!   write on both sides, and one only devices wrote reads as the devices' last write (unless
//!   a history-loss resync re-copied the collection meanwhile, where the copy may win).
//!
//! The seed fixes the workload and the faults; the interleaving with the real api, Postgres and
//! the worker's tasks is not fixed, which is the point of running many seeds. A failure names
//! its seed: `EDGEBRIDGE_SIM_SEED=<seed> cargo test --release --test convergence` replays it;
//! `EDGEBRIDGE_SIM_SEEDS=<n>` sets how many seeds run (default 100).
//!
//! Two ports: `EDGEBRIDGE_SIM_PORT=in-process` (the default) has the api and workers call the
//! simulator's port in process; `EDGEBRIDGE_SIM_PORT=wire` has them use the driver adapter
//! (the official `mongodb` crate) over TCP to the simulator's wire front, over the same
//! simulator: the faults then reach the engine as a real server shows them, some absorbed by
//! the driver (a retried read, a resumed change stream). Besides the main run, a second test
//! runs `EDGEBRIDGE_SIM_WIRE_SEEDS` (default 25; CI 50) seeds through the wire front.

#[allow(dead_code)]
#[path = "../e2e/conformance.rs"]
mod conformance;
#[allow(dead_code)]
#[path = "../e2e/helpers.rs"]
mod helpers;

mod check;
mod cluster;
mod workload;
mod world;

use check::{Stats, run_seed};
use cluster::Port;
use edgebridge_api::config::MongoAccess;
use edgebridge_api::scheduler::SchedulerConfig;
use helpers::TestApp;
use secrecy::SecretString;
use sqlx::PgPool;
use std::time::{Duration, Instant};

const WORKER_TOKEN: &str = "worker-token-for-convergence-0123456789";
const HOST: &str = "cluster0.example.net";
/// The MongoDB user the connector authenticates as.
const USER: &str = "appuser";
const DB: &str = "shop";
const COLL: &str = "items";
/// Operations per seed (both sides together).
const OPERATIONS: usize = 60;
/// Documents per class (MongoDB only, devices only, shared).
const DOCS: u64 = 4;
/// How long a seed may take to go quiet.
const QUIESCENCE: Duration = Duration::from_secs(45);
/// MongoDB's `transactionLifetimeLimitSeconds`: a transaction left open (its worker crashed
/// mid-way, or its connection dropped with its abort) holds the documents it wrote until then.
/// Through the wire front, which keeps that limit, a seed may take this much longer.
const TRANSACTION_LIFETIME: Duration = Duration::from_secs(60);

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    })
}

/// `count` seeds from `EDGEBRIDGE_SIM_FIRST_SEED` (default 1; to run another range).
fn seed_range(count: u64) -> Vec<u64> {
    let first = env_number("EDGEBRIDGE_SIM_FIRST_SEED").unwrap_or(1);
    (first..first + count).collect()
}

/// The main run's seeds: `EDGEBRIDGE_SIM_SEED` alone (a replay), or `EDGEBRIDGE_SIM_SEEDS`.
fn seeds() -> Vec<u64> {
    if let Some(seed) = env_number("EDGEBRIDGE_SIM_SEED") {
        return vec![seed];
    }
    seed_range(env_number("EDGEBRIDGE_SIM_SEEDS").unwrap_or(100))
}

#[sqlx::test(migrations = false)]
async fn mongodb_and_the_edge_converge_under_faults(pool: PgPool) {
    converge(pool, Port::from_env(), seeds()).await;
}

/// The same workloads through the wire front, besides the main run (which CI runs in process).
#[sqlx::test(migrations = false)]
async fn mongodb_and_the_edge_converge_through_the_wire_front(pool: PgPool) {
    if Port::from_env() == Port::Wire {
        println!("skipped: EDGEBRIDGE_SIM_PORT=wire runs the main seeds through the wire front");
        return;
    }
    if std::env::var_os("EDGEBRIDGE_SIM_SEED").is_some() {
        println!("skipped: EDGEBRIDGE_SIM_SEED replays one seed on EDGEBRIDGE_SIM_PORT's port");
        return;
    }
    let count = env_number("EDGEBRIDGE_SIM_WIRE_SEEDS").unwrap_or(25);
    converge(pool, Port::Wire, seed_range(count)).await;
}

/// Runs `seeds` through `port` on one api; fails naming every seed that failed.
async fn converge(pool: PgPool, port: Port, seeds: Vec<u64>) {
    if seeds.is_empty() {
        println!("skipped: no {} seeds to run", port.name());
        return;
    }
    let app = TestApp::spawn_with(pool, |config| {
        config.fleet.worker_token = Some(SecretString::from(WORKER_TOKEN));
        // The api's own MongoDB access is not used here (workers have the seeds' clusters).
        config.mongo = MongoAccess(port.api_connector());
        config.preflight = port.preflight();
    })
    .await;
    let scheduler = SchedulerConfig::default();
    let started = Instant::now();
    let mut totals = Stats::default();
    let mut failed = Vec::new();
    let replay = match port {
        Port::InProcess => "",
        Port::Wire => "EDGEBRIDGE_SIM_PORT=wire ",
    };
    for &seed in &seeds {
        match run_seed(&app, &scheduler, port, seed).await {
            Ok(stats) => totals.add(&stats),
            Err(why) => {
                eprintln!(
                    "{} seed {seed} failed: {why}\nreplay: {replay}EDGEBRIDGE_SIM_SEED={seed} cargo test --release --test convergence",
                    port.name()
                );
                failed.push(seed);
                // What the failed seed left running must not reach the next seed's cluster:
                // its connector goes and its workers' leases end.
                sqlx::query("delete from connectors")
                    .execute(&app.pool)
                    .await
                    .unwrap();
                app.silence_workers(None).await;
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} {} seeds failed: {failed:?} (each failure is printed above with how to replay it)",
        failed.len(),
        seeds.len(),
        port.name()
    );
    println!(
        "convergence ({}): {} seeds in {:.1} s; user writes {}, connector writes {}, faults {}",
        port.name(),
        seeds.len(),
        started.elapsed().as_secs_f64(),
        totals.user_writes,
        totals.connector_writes,
        totals.faults
    );
}

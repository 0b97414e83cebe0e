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

#[allow(dead_code)]
#[path = "../e2e/conformance.rs"]
mod conformance;
#[allow(dead_code)]
#[path = "../e2e/helpers.rs"]
mod helpers;

mod check;
mod workload;
mod world;

use check::{Stats, run_seed};
use edgebridge_api::config::MongoAccess;
use edgebridge_api::scheduler::SchedulerConfig;
use edgebridge_mongo_sim::Simulator;
use helpers::TestApp;
use secrecy::SecretString;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORKER_TOKEN: &str = "worker-token-for-convergence-0123456789";
const HOST: &str = "cluster0.example.net";
const DB: &str = "shop";
const COLL: &str = "items";
/// Operations per seed (both sides together).
const OPERATIONS: usize = 60;
/// Documents per class (MongoDB only, devices only, shared).
const DOCS: u64 = 4;
/// How long a seed may take to go quiet.
const QUIESCENCE: Duration = Duration::from_secs(45);

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("EDGEBRIDGE_SIM_SEED") {
        return vec![seed.parse().expect("EDGEBRIDGE_SIM_SEED must be a number")];
    }
    let n: u64 = std::env::var("EDGEBRIDGE_SIM_SEEDS")
        .ok()
        .map(|v| v.parse().expect("EDGEBRIDGE_SIM_SEEDS must be a number"))
        .unwrap_or(100);
    // Where the run starts (to run another range of seeds).
    let first: u64 = std::env::var("EDGEBRIDGE_SIM_FIRST_SEED")
        .ok()
        .map(|v| {
            v.parse()
                .expect("EDGEBRIDGE_SIM_FIRST_SEED must be a number")
        })
        .unwrap_or(1);
    (first..first + n).collect()
}

#[sqlx::test(migrations = false)]
async fn mongodb_and_the_edge_converge_under_faults(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |config| {
        config.fleet.worker_token = Some(SecretString::from(WORKER_TOKEN));
        // The api's own MongoDB access is not used here (workers have the seeds' clusters).
        config.mongo = MongoAccess(Arc::new(Simulator::new(0).connector()));
    })
    .await;
    let scheduler = SchedulerConfig::default();
    let seeds = seeds();
    if seeds.is_empty() {
        println!("skipped: EDGEBRIDGE_SIM_SEEDS=0");
        return;
    }
    let started = Instant::now();
    let mut totals = Stats::default();
    let mut failed = Vec::new();
    for &seed in &seeds {
        match run_seed(&app, &scheduler, seed).await {
            Ok(stats) => totals.add(&stats),
            Err(why) => {
                eprintln!(
                    "seed {seed} failed: {why}\nreplay: EDGEBRIDGE_SIM_SEED={seed} cargo test --release --test convergence"
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
        "{} of {} seeds failed: {failed:?} (each failure is printed above with how to replay it)",
        failed.len(),
        seeds.len()
    );
    println!(
        "convergence: {} seeds in {:.1} s; user writes {}, connector writes {}, faults {}",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        totals.user_writes,
        totals.connector_writes,
        totals.faults
    );
}

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

use bson::{Bson, Document, doc};
use edgebridge_api::config::MongoAccess;
use edgebridge_api::mongo::preflight::PreflightOptions;
use edgebridge_api::scheduler::{self, SchedulerConfig};
use edgebridge_mongo_sim::{CollectionOptions, Fault, SimUser, Simulator};
use edgebridge_worker::supervisor::SupervisorSettings;
use edgebridge_worker::{Worker, WorkerConfig};
use helpers::{PASSWORD, TestApp};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

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

/// splitmix64: the seed's workload and faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
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

#[derive(Debug, Default)]
struct Stats {
    user_writes: u64,
    connector_writes: u64,
    faults: u64,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.user_writes += other.user_writes;
        self.connector_writes += other.connector_writes;
        self.faults += other.faults;
    }
}

/// One seed's world: its cluster, app, connector and current worker.
struct World<'a> {
    app: &'a TestApp,
    scheduler: &'a SchedulerConfig,
    sim: Simulator,
    app_id: Uuid,
    connector: Uuid,
    worker: Option<Worker>,
    workers: u32,
    last_pump: Instant,
}

impl World<'_> {
    fn worker_config(&self, name: String) -> WorkerConfig {
        let mut supervisor = SupervisorSettings {
            health_interval: Duration::from_millis(500),
            failed_pings: 3,
            retry_min: Duration::from_millis(20),
            retry_max: Duration::from_millis(200),
            report_interval: Duration::from_millis(100),
            ..Default::default()
        };
        supervisor.pipeline.scan_batch = 5;
        supervisor.pipeline.idle_pause = Duration::from_millis(5);
        supervisor.pipeline.idle_checkpoint = Duration::from_millis(50);
        supervisor.pipeline.stream_linger = Duration::from_millis(5);
        supervisor.pipeline.feed_wait_secs = 1;
        supervisor.pipeline.write_back_batch = 7;
        WorkerConfig {
            api_url: self.app.address.clone(),
            worker_token: SecretString::from(WORKER_TOKEN),
            name,
            capacity: 10,
            version: "convergence".into(),
            heartbeat_interval: None,
            request_timeout: Duration::from_secs(10),
            mongo: Arc::new(self.sim.connector()),
            preflight: PreflightOptions::default(),
            supervisor,
        }
    }

    async fn start_worker(&mut self) -> Result<(), String> {
        self.workers += 1;
        let name = format!(
            "{}-w{}",
            &self.connector.simple().to_string()[..8],
            self.workers
        );
        let worker = Worker::register(self.worker_config(name))
            .await
            .map_err(|e| format!("a worker could not register: {e}"))?;
        self.worker = Some(worker);
        self.pump(true).await
    }

    /// The scheduler's tick and the worker's heartbeat, every 50 ms (or now).
    async fn pump(&mut self, now: bool) -> Result<(), String> {
        if !now && self.last_pump.elapsed() < Duration::from_millis(50) {
            return Ok(());
        }
        self.last_pump = Instant::now();
        // A failed tick or heartbeat is tried again at the next pump, as the scheduler's and the
        // worker's own loops do; it is reported, not fatal.
        if let Err(e) = scheduler::tick(&self.app.pool, self.scheduler).await {
            eprintln!("warning: scheduler tick failed (retried at the next pump): {e}");
        }
        if let Some(worker) = self.worker.as_mut()
            && let Err(e) = worker.step().await
        {
            eprintln!("warning: worker step failed (retried at the next pump): {e}");
        }
        Ok(())
    }

    /// The worker dies without a word; its lease is made to run out (as time would); a new
    /// worker takes the connector at a new epoch.
    async fn kill_worker(&mut self) -> Result<(), String> {
        if let Some(worker) = self.worker.take() {
            let id = worker.id();
            worker.crash();
            if id.is_some() {
                self.app.silence_workers(id).await;
            }
        }
        Ok(())
    }

    async fn crash_worker(&mut self) -> Result<(), String> {
        self.kill_worker().await?;
        self.start_worker().await
    }

    async fn restart_connector(&mut self) -> Result<(), String> {
        let res = self
            .app
            .post(
                &format!(
                    "{}/restart",
                    self.app.connector_path(self.app_id, self.connector)
                ),
                &self.app.owner_key,
                &json!({}),
            )
            .await;
        if res.status() != StatusCode::ACCEPTED {
            return Err(format!("restart answered {}", res.status()));
        }
        self.pump(true).await
    }

    async fn dql(&self, statement: &str, args: Value) -> Result<Value, StatusCode> {
        let res = self
            .app
            .post(
                &format!("/v1/apps/{}/store/execute", self.app_id),
                &self.app.owner_key,
                &json!({"statement": statement, "args": args}),
            )
            .await;
        let status = res.status();
        if status != StatusCode::OK {
            return Err(status);
        }
        res.json().await.map_err(|_| status)
    }

    /// A read of the edge store. A server error is retried twice and reported on stderr
    /// (with the problem document), so one that recurs fails the seed with its detail.
    async fn read(&self, statement: &str, args: Value) -> Result<Value, String> {
        let mut attempt = 0;
        loop {
            let res = self
                .app
                .post(
                    &format!("/v1/apps/{}/store/execute", self.app_id),
                    &self.app.owner_key,
                    &json!({"statement": statement, "args": args}),
                )
                .await;
            let status = res.status();
            if status == StatusCode::OK {
                return res.json().await.map_err(|e| e.to_string());
            }
            let body = res.text().await.unwrap_or_default();
            attempt += 1;
            if !status.is_server_error() || attempt > 2 {
                return Err(format!("edge read answered {status}: {body}"));
            }
            eprintln!("warning: edge read answered {status} (retrying): {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn edge_docs(&self) -> Result<BTreeMap<String, Value>, String> {
        let body = self
            .read(&format!("SELECT * FROM {COLL}"), json!({}))
            .await?;
        Ok(body["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|d| {
                (
                    d["_id"].as_str().unwrap_or_default().to_owned(),
                    normalize(&d),
                )
            })
            .collect())
    }

    async fn edge_doc(&self, id: &str) -> Result<Option<Value>, String> {
        let body = self
            .read(
                &format!("SELECT * FROM {COLL} WHERE _id = :id"),
                json!({"id": id}),
            )
            .await?;
        Ok(body["items"]
            .as_array()
            .and_then(|a| a.first())
            .map(normalize))
    }

    fn mongo_docs(&self) -> BTreeMap<String, Value> {
        self.sim
            .documents(DB, COLL)
            .into_iter()
            .map(|d| {
                let id = d.get_str("_id").unwrap_or_default().to_owned();
                (id, mongo_json(&d))
            })
            .collect()
    }

    fn mongo_doc(&self, id: &str) -> Option<Value> {
        self.sim
            .find(DB, COLL, &Bson::String(id.to_owned()))
            .map(|d| mongo_json(&d))
    }

    /// Writes the connector made: MongoDB changes from its sessions and edge changes in its
    /// name (its writes and its queued documents).
    async fn connector_writes(&self) -> Result<u64, String> {
        let mongo = self.sim.session_writes(DB, COLL);
        let (edge,): (i64,) = sqlx::query_as(
            "select count(*) from store_changes where app_id = $1 and actor like 'connector:%'",
        )
        .bind(self.app_id)
        .fetch_one(&self.app.pool)
        .await
        .map_err(|e| e.to_string())?;
        Ok(mongo + u64::try_from(edge).unwrap_or(0))
    }

    /// Waits until both sides agree, three times in a row.
    async fn quiesce(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + QUIESCENCE;
        let mut agreed = 0;
        loop {
            self.pump(true).await?;
            let (mongo, edge) = (self.mongo_docs(), self.edge_docs().await?);
            if mongo == edge {
                agreed += 1;
                if agreed >= 3 {
                    return Ok(());
                }
            } else {
                agreed = 0;
            }
            if Instant::now() > deadline {
                let status = self.status().await?;
                if std::env::var_os("EDGEBRIDGE_SIM_TRACE").is_some() {
                    let rows: Vec<ChangeRow> = sqlx::query_as(
                        "select doc_key, origin, actor, value from store_changes where app_id = $1 order by change_id",
                    )
                    .bind(self.app_id)
                    .fetch_all(&self.app.pool)
                    .await
                    .map_err(|e| e.to_string())?;
                    for (key, origin, actor, value) in rows {
                        let value = value.map(|v| String::from_utf8_lossy(&v).into_owned());
                        eprintln!("edge change {key} origin={origin:?} actor={actor} {value:?}");
                    }
                    for op in self.sim.operations() {
                        eprintln!("mongo op {op}");
                    }
                }
                return Err(format!(
                    "the sides did not converge in {QUIESCENCE:?}:\n MongoDB {}\n edge    {}\n status {status}",
                    json!(mongo),
                    json!(edge)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn status(&self) -> Result<Value, String> {
        let res = self
            .app
            .get(
                &self.app.connector_path(self.app_id, self.connector),
                &self.app.owner_key,
            )
            .await;
        res.json().await.map_err(|e| e.to_string())
    }
}

/// A document as JSON with every number a float (`3` and `3.0` are one number on the two
/// sides).
fn normalize(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().unwrap_or(f64::NAN)),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn mongo_json(doc: &Document) -> Value {
    normalize(&Bson::Document(doc.clone()).into_relaxed_extjson())
}

/// A row of the edge store's change log: key, origin, actor, value.
type ChangeRow = (String, Option<String>, String, Option<Vec<u8>>);

/// Which side writes a document: MongoDB users only, devices only, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Mongo,
    Edge,
    Shared,
}

fn doc_id(class: Class, n: u64) -> String {
    match class {
        Class::Mongo => format!("m{n}"),
        Class::Edge => format!("e{n}"),
        Class::Shared => format!("s{n}"),
    }
}

async fn run_seed(app: &TestApp, scheduler: &SchedulerConfig, seed: u64) -> Result<Stats, String> {
    let mut rng = Rng(seed);
    let sim = Simulator::new(seed);
    sim.add_host(HOST, &["52.10.20.30".parse().unwrap()]);
    sim.add_user(SimUser::read_write_admin("appuser", PASSWORD, DB));
    sim.create_collection(DB, COLL, CollectionOptions::ready());
    if std::env::var_os("EDGEBRIDGE_SIM_TRACE").is_some() {
        sim.keep_history();
    }
    let mut stats = Stats::default();
    // Documents MongoDB has before the connector starts (copied by the initial sync).
    for class in [Class::Mongo, Class::Shared] {
        for n in 0..DOCS {
            if rng.chance(60) {
                sim.insert(DB, COLL, mongo_doc(&mut rng, &doc_id(class, n)))
                    .map_err(|e| e.to_string())?;
                stats.user_writes += 1;
            }
        }
    }
    let app_id = app
        .create_app(&app.owner_key, &format!("seed-{seed}"))
        .await;
    let spec = json!({
        "name": format!("seed-{seed}"),
        "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@{HOST}/"),
        "database": DB,
        "onHistoryLost": "resync",
        "collections": {COLL: {"fields": ["_id"], "initialSync": true, "settableCounters": ["stock"], "dqlStrictMode": false}},
    });
    let res = app
        .post(&app.connectors_path(app_id), &app.owner_key, &spec)
        .await;
    if res.status() != StatusCode::CREATED {
        let status = res.status();
        return Err(format!(
            "creating the connector answered {status}: {}",
            res.text().await.unwrap_or_default()
        ));
    }
    let connector = helpers::id_of(&res.json().await.map_err(|e| e.to_string())?);
    let mut world = World {
        app,
        scheduler,
        sim,
        app_id,
        connector,
        worker: None,
        workers: 0,
        last_pump: Instant::now(),
    };
    world.start_worker().await?;

    // What each side's users last left: the check for lost writes.
    let mut mongo_expected: BTreeMap<String, Option<Value>> = BTreeMap::new();
    let mut edge_expected: BTreeMap<String, Option<Value>> = BTreeMap::new();
    for n in 0..DOCS {
        let id = doc_id(Class::Mongo, n);
        mongo_expected.insert(id.clone(), world.mongo_doc(&id));
    }
    let mut resynced = false;
    for _ in 0..OPERATIONS {
        world.pump(false).await?;
        if rng.chance(8) {
            stats.faults += 1;
            resynced |= inject_fault(&mut world, &mut rng, &mut mongo_expected).await?;
        }
        let class = match rng.below(3) {
            0 => Class::Mongo,
            1 => Class::Edge,
            _ => Class::Shared,
        };
        let id = doc_id(class, rng.below(DOCS));
        let on_mongo = match class {
            Class::Mongo => true,
            Class::Edge => false,
            Class::Shared => rng.chance(50),
        };
        if on_mongo {
            if mongo_write(&world.sim, &mut rng, &id)? {
                stats.user_writes += 1;
            }
            if class == Class::Mongo {
                mongo_expected.insert(id.clone(), world.mongo_doc(&id));
            }
        } else {
            if edge_write(&world, &mut rng, &id).await {
                stats.user_writes += 1;
            }
            if class == Class::Edge {
                edge_expected.insert(id.clone(), world.edge_doc(&id).await?);
            }
        }
        if rng.chance(30) {
            tokio::time::sleep(Duration::from_millis(rng.below(15))).await;
        }
    }

    world.quiesce().await?;

    // No echo: once both sides agree, the connector's writes come to a stop (a write still in
    // flight, such as a redundant write-back of a state MongoDB already has, may land; a loop
    // would go on).
    let mut writes = world.connector_writes().await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let later = loop {
        for _ in 0..10 {
            world.pump(true).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let now = world.connector_writes().await?;
        if now == writes {
            break now;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the connector kept writing after both sides agreed ({writes} -> {now}): an echo loop"
            ));
        }
        writes = now;
    };
    let bound = 6 * stats.user_writes + 10;
    if later > bound {
        return Err(format!(
            "the connector made {later} writes for {} user writes (bound {bound})",
            stats.user_writes
        ));
    }
    stats.connector_writes = later;
    if world.mongo_docs() != world.edge_docs().await? {
        return Err("the sides parted again after agreeing".into());
    }

    // No acknowledged write lost.
    let mongo = world.mongo_docs();
    for (id, expected) in &mongo_expected {
        if mongo.get(id) != expected.as_ref() {
            return Err(format!(
                "MongoDB's last write of {id} was lost: expected {expected:?}, found {:?}",
                mongo.get(id)
            ));
        }
    }
    if !resynced {
        let edge = world.edge_docs().await?;
        for (id, expected) in &edge_expected {
            if edge.get(id) != expected.as_ref() {
                return Err(format!(
                    "a device's last write of {id} was lost: expected {expected:?}, found {:?}",
                    edge.get(id)
                ));
            }
        }
    }

    // Done: the connector goes, the worker leaves.
    let res = app
        .delete(&app.connector_path(app_id, connector), &app.owner_key)
        .await;
    if !res.status().is_success() {
        return Err(format!("deleting the connector answered {}", res.status()));
    }
    if let Some(worker) = world.worker.take() {
        worker.shutdown().await;
    }
    Ok(stats)
}

fn mongo_doc(rng: &mut Rng, id: &str) -> Document {
    let mut doc = doc! {"_id": id, "name": format!("n{}", rng.below(100))};
    if rng.chance(70) {
        doc.insert("n", rng.below(1000) as i64);
    }
    if rng.chance(50) {
        doc.insert("o", doc! {"x": rng.below(10) as i32, "y": "why"});
    }
    if rng.chance(50) {
        doc.insert(
            "tags",
            vec![Bson::from("a"), Bson::from(format!("t{}", rng.below(5)))],
        );
    }
    if rng.chance(60) {
        doc.insert("stock", rng.below(50) as i64);
    }
    doc
}

/// A MongoDB user's write; `Ok(false)` when there was nothing to do (update of a missing
/// document).
fn mongo_write(sim: &Simulator, rng: &mut Rng, id: &str) -> Result<bool, String> {
    let key = Bson::String(id.to_owned());
    let exists = sim.find(DB, COLL, &key).is_some();
    let result = match (exists, rng.below(10)) {
        (false, _) => sim.insert(DB, COLL, mongo_doc(rng, id)),
        (true, 0..=3) => sim.update(DB, COLL, &key, doc! {"n": rng.below(1000) as i64}),
        (true, 4) => sim.update(DB, COLL, &key, doc! {"stock": rng.below(50) as i64}),
        (true, 5) => sim.update(
            DB,
            COLL,
            &key,
            doc! {"o": {"x": rng.below(10) as i32, "z": true}},
        ),
        (true, 6 | 7) => sim.replace(DB, COLL, mongo_doc(rng, id)),
        (true, _) => sim.delete(DB, COLL, &key),
    };
    match result {
        Ok(()) => Ok(true),
        // Faults injected for the connector hit only its own operations.
        Err(e) => Err(format!("a MongoDB user's write failed: {e}")),
    }
}

/// A device's write; `false` when the store refused it (nothing acknowledged).
async fn edge_write(world: &World<'_>, rng: &mut Rng, id: &str) -> bool {
    let (statement, args) = match rng.below(10) {
        0..=2 => (
            format!("INSERT INTO {COLL} DOCUMENTS (:d) ON ID CONFLICT DO UPDATE"),
            json!({"d": {"_id": id, "name": format!("d{}", rng.below(100)), "n": rng.below(1000), "tags": ["d"]}}),
        ),
        3..=5 => (
            format!("UPDATE {COLL} SET n = :n, name = :name WHERE _id = :id"),
            json!({"id": id, "n": rng.below(1000), "name": format!("u{}", rng.below(100))}),
        ),
        6 => (
            format!("UPDATE {COLL} SET o.x = :x WHERE _id = :id"),
            json!({"id": id, "x": rng.below(10)}),
        ),
        7 | 8 => (
            format!("UPDATE {COLL} APPLY stock INCREMENT BY :by WHERE _id = :id"),
            json!({"id": id, "by": 1 + rng.below(3)}),
        ),
        _ => (
            format!("DELETE FROM {COLL} WHERE _id = :id"),
            json!({"id": id}),
        ),
    };
    match world.dql(&statement, args).await {
        Ok(body) => body["mutatedDocumentIds"]
            .as_array()
            .is_none_or(|ids| !ids.is_empty()),
        Err(_) => false,
    }
}

/// One fault; `true` when it made the collection resync (its history was lost).
async fn inject_fault(
    world: &mut World<'_>,
    rng: &mut Rng,
    expected: &mut BTreeMap<String, Option<Value>>,
) -> Result<bool, String> {
    match rng.below(9) {
        0 => world.sim.inject(Fault::DropConnection {
            count: 1 + rng.below(3) as u32,
        }),
        1 => world.sim.inject(Fault::DropStream {
            after_events: rng.below(4) as u32,
        }),
        2 => world.sim.inject(Fault::DuplicateEvents {
            count: 1 + rng.below(4) as u32,
        }),
        3 => world.sim.inject(Fault::CommitOutcomeUnknown { count: 1 }),
        4 => world.sim.inject(Fault::StepDown { count: 1 }),
        5 | 6 => world.crash_worker().await?,
        7 => world.restart_connector().await?,
        _ => {
            // While no worker runs, the oplog rolls past the connector's resume point; the
            // next worker finds its history lost and (onHistoryLost: resync) copies again.
            // Inserts, updates and deletes are lost with the history: the copy must bring the
            // first two, its sweep the third.
            world.kill_worker().await?;
            world.sim.set_oplog_capacity(1);
            world
                .sim
                .insert(DB, "noise", doc! {"at": rng.below(1000) as i64})
                .map_err(|e| e.to_string())?;
            world
                .sim
                .insert(DB, "noise", doc! {"at": rng.below(1000) as i64})
                .map_err(|e| e.to_string())?;
            for n in 0..DOCS {
                let id = doc_id(Class::Mongo, n);
                let key = Bson::String(id.clone());
                if world.sim.find(DB, COLL, &key).is_some() {
                    if rng.chance(30) {
                        world.sim.delete(DB, COLL, &key)
                    } else {
                        world
                            .sim
                            .update(DB, COLL, &key, doc! {"n": rng.below(1000) as i64})
                    }
                    .map_err(|e| e.to_string())?;
                } else {
                    world
                        .sim
                        .insert(DB, COLL, mongo_doc(rng, &id))
                        .map_err(|e| e.to_string())?;
                }
                expected.insert(id.clone(), world.mongo_doc(&id));
            }
            for n in 0..DOCS {
                let key = Bson::String(doc_id(Class::Shared, n));
                if rng.chance(30) && world.sim.find(DB, COLL, &key).is_some() {
                    world
                        .sim
                        .delete(DB, COLL, &key)
                        .map_err(|e| e.to_string())?;
                }
            }
            world.sim.set_oplog_capacity(100_000);
            world.start_worker().await?;
            return Ok(true);
        }
    }
    Ok(false)
}

//! One seed run and checked: the workload with its faults, then quiescence, no echo and no
//! acknowledged write lost.

use crate::cluster::{Cluster, Port};
use crate::helpers::{PASSWORD, TestApp};
use crate::workload::{Class, Rng, doc_id, edge_write, inject_fault, mongo_doc, mongo_write};
use crate::world::World;
use crate::{COLL, DB, DOCS, HOST, OPERATIONS, QUIESCENCE, USER, helpers};
use edgebridge_api::scheduler::SchedulerConfig;
use edgebridge_mongo_sim::{CollectionOptions, SimUser, Simulator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) user_writes: u64,
    pub(crate) connector_writes: u64,
    pub(crate) faults: u64,
}

impl Stats {
    pub(crate) fn add(&mut self, other: &Stats) {
        self.user_writes += other.user_writes;
        self.connector_writes += other.connector_writes;
        self.faults += other.faults;
    }
}

pub(crate) async fn run_seed(
    app: &TestApp,
    scheduler: &SchedulerConfig,
    port: Port,
    seed: u64,
) -> Result<Stats, String> {
    let mut rng = Rng(seed);
    let sim = Simulator::new(seed);
    sim.add_host(HOST, &["52.10.20.30".parse().unwrap()]);
    sim.add_user(SimUser::read_write_admin(USER, PASSWORD, DB));
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
    let cluster = Cluster::start(&sim, port).await?;
    let app_id = app
        .create_app(&app.owner_key, &format!("seed-{seed}"))
        .await;
    let spec = json!({
        "name": format!("seed-{seed}"),
        "connectionString": cluster.connection_string,
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
        cluster,
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

    let quiet = world.quiesce().await?;
    if quiet > QUIESCENCE {
        // Only through the wire front (see TRANSACTION_LIFETIME): said, as it is slow.
        eprintln!(
            "note: {} seed {seed} went quiet after {:.1} s",
            port.name(),
            quiet.as_secs_f64()
        );
    }

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

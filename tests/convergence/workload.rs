//! The seeded workload: the random source, which side writes which document, MongoDB users'
//! and devices' writes, and the faults.

use crate::world::World;
use crate::{COLL, DB, DOCS};
use bson::{Bson, Document, doc};
use edgebridge_mongo_sim::{Fault, Simulator};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// splitmix64: the seed's workload and faults.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Which side writes a document: MongoDB users only, devices only, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Mongo,
    Edge,
    Shared,
}

pub(crate) fn doc_id(class: Class, n: u64) -> String {
    match class {
        Class::Mongo => format!("m{n}"),
        Class::Edge => format!("e{n}"),
        Class::Shared => format!("s{n}"),
    }
}

pub(crate) fn mongo_doc(rng: &mut Rng, id: &str) -> Document {
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
pub(crate) fn mongo_write(sim: &Simulator, rng: &mut Rng, id: &str) -> Result<bool, String> {
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
pub(crate) async fn edge_write(world: &World<'_>, rng: &mut Rng, id: &str) -> bool {
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
pub(crate) async fn inject_fault(
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

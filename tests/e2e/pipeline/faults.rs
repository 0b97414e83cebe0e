//! What goes wrong between the worker and MongoDB while a collection syncs: a stream that stops
//! answering shows in the connector's health; a connection dropped mid-copy or mid-stream costs
//! nothing (no document lost, none duplicated, no delete undone).

use super::{catalog_with, until_edge, until_status, until_streaming, worker_settings};
use crate::fleet::{Fleet, Port, both_ports, step};
use bson::{Bson, doc};
use edgebridge_mongo_sim::{CollectionOptions, Fault};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

both_ports! {
    /// A connector that claims to run while a collection's change stream has stopped answering
    /// shows it: health yellow `stream_stalled` naming the collection, red after five times the
    /// threshold, and green again once the stream answers (what happened meanwhile arrives).
    async fn a_stream_that_stops_answering_turns_health_yellow_then_red(pool: PgPool, port: Port) {
        let fleet = Fleet::on_with(pool, port, |c| {
            c.fleet.stream_stall = Duration::from_secs(1);
        })
        .await;
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        let id = catalog_with(&fleet, json!({"fields": ["_id"]})).await;
        let mut config = worker_settings(&fleet, "w1");
        // Reports at least every 100 ms, so the api sees the silence grow.
        config.supervisor.health_interval = Duration::from_millis(100);
        let mut worker = edgebridge_worker::Worker::register(config).await.unwrap();
        fleet.tick().await;
        step(&mut worker).await;
        let status = until_status(&fleet, id, "streaming and green", |s| {
            s["collectionStatus"]["products"]["phase"] == "streaming"
                && s["health"]["state"] == "green"
        })
        .await;
        assert_eq!(status["status"], "running");

        fleet.sim.hang_streams(true);
        fleet
            .sim
            .insert("retail-demo", "products", doc! {"_id": "late", "n": 1})
            .unwrap();
        // Yellow from 1 s of silence, red from 5 s.
        let status = until_status(&fleet, id, "yellow stream_stalled", |s| {
            s["health"]["code"] == "stream_stalled" && s["health"]["state"] == "yellow"
        })
        .await;
        assert_eq!(status["status"], "running", "{status}");
        let reason = status["health"]["reason"].as_str().unwrap();
        assert!(reason.contains("`products`"), "{reason}");
        let status = until_status(&fleet, id, "red stream_stalled", |s| {
            s["health"]["state"] == "red"
        })
        .await;
        assert_eq!(status["health"]["code"], "stream_stalled", "{status}");

        fleet.sim.hang_streams(false);
        until_status(&fleet, id, "green again", |s| {
            s["health"]["state"] == "green"
        })
        .await;
        until_edge(&fleet, "the insert made while the stream hung", |d| {
            d.iter().any(|x| x["_id"] == "late")
        })
        .await;
    }
}

/// A worker that restarts a failed connector within a fraction of a second (the fleet's
/// default waits an hour: nothing periodic), as a dropped connection may fail it.
async fn recovering_worker(fleet: &Fleet, name: &str) -> edgebridge_worker::Worker {
    let mut config = worker_settings(fleet, name);
    config.supervisor.retry_min = Duration::from_millis(50);
    config.supervisor.retry_max = Duration::from_millis(200);
    let mut worker = edgebridge_worker::Worker::register(config).await.unwrap();
    fleet.tick().await;
    step(&mut worker).await;
    worker
}

/// MongoDB's `products` as the edge shows it (`_id` order; strings and int32s only).
fn mongo_products(fleet: &Fleet) -> Vec<Value> {
    fleet
        .sim
        .documents("retail-demo", "products")
        .into_iter()
        .map(|d| Bson::Document(d).into_relaxed_extjson())
        .collect()
}

/// Waits until the edge holds exactly what MongoDB holds, and returns it.
async fn until_edge_is_mongo(fleet: &Fleet, what: &str) -> Vec<Value> {
    let mongo = mongo_products(fleet);
    let docs = until_edge(fleet, what, |d| d == mongo.as_slice()).await;
    assert_eq!(
        docs,
        mongo_products(fleet),
        "{what}: MongoDB changed meanwhile"
    );
    docs
}

/// Inserts, updates, a replace and deletes of `products` by another application, in two rounds
/// of four with the edge caught up in between; returns the edge at the end, once it is exactly
/// MongoDB. Deletes come before and after other changes of the same documents, so a replayed or
/// skipped event shows as a document back from the dead, missing or stale. Two rounds: on the
/// wire a fault injected while the stream's `getMore` waits takes effect only from the next
/// command, so the first round may pass before it; the second meets it.
async fn mixed_changes(fleet: &Fleet) -> Vec<Value> {
    let sim = &fleet.sim;
    let key = |id: &str| Bson::String(id.into());
    sim.insert("retail-demo", "products", doc! {"_id": "p5", "n": 5})
        .unwrap();
    sim.update("retail-demo", "products", &key("p1"), doc! {"n": 11})
        .unwrap();
    sim.delete("retail-demo", "products", &key("p2")).unwrap();
    sim.insert("retail-demo", "products", doc! {"_id": "p6", "n": 6})
        .unwrap();
    until_edge_is_mongo(fleet, "the first round").await;
    sim.replace("retail-demo", "products", doc! {"_id": "p3", "m": 3})
        .unwrap();
    sim.update("retail-demo", "products", &key("p5"), doc! {"n": 55})
        .unwrap();
    sim.delete("retail-demo", "products", &key("p0")).unwrap();
    sim.insert("retail-demo", "products", doc! {"_id": "p2", "n": 22})
        .unwrap();
    until_edge_is_mongo(fleet, "every change, once").await
}

/// The codes of the connector's events, newest first.
async fn event_codes(fleet: &Fleet, id: Uuid) -> Vec<String> {
    let path = format!("{}/events", fleet.app.connector_path(fleet.app.app_id, id));
    let events: Value = fleet
        .app
        .get(&path, &fleet.app.owner_key)
        .await
        .json()
        .await
        .unwrap();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["code"].as_str().map(str::to_owned))
        .collect()
}

/// `products` with p0..p4, synced by a streaming connector (its id) on a recovering worker.
async fn streaming_catalog(fleet: &Fleet) -> (Uuid, edgebridge_worker::Worker) {
    fleet
        .sim
        .create_collection("retail-demo", "products", CollectionOptions::ready());
    for n in 0..5 {
        fleet
            .sim
            .insert(
                "retail-demo",
                "products",
                doc! {"_id": format!("p{n}"), "n": n},
            )
            .unwrap();
    }
    let id = catalog_with(fleet, json!({"fields": ["_id"], "initialSync": true})).await;
    let worker = recovering_worker(fleet, "w1").await;
    until_edge_is_mongo(fleet, "the initial sync").await;
    until_streaming(fleet, id).await;
    (id, worker)
}

both_ports! {
    /// A connection dropped in the middle of the initial copy (its second batch lost with the
    /// socket) costs nothing: through the in-process port the read fails and the connector
    /// restarts from its last checkpoint; on the wire the driver retries the read once by
    /// itself, as with a real server. Either way the edge gets every document once, the copy
    /// counts each once, and the stream takes over.
    async fn a_connection_dropped_mid_copy_loses_and_duplicates_nothing(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        for n in 0..10 {
            fleet
                .sim
                .insert(
                    "retail-demo",
                    "products",
                    doc! {"_id": format!("p{n:02}"), "n": n},
                )
                .unwrap();
        }
        // Batches of 3: the drop comes in the second.
        fleet.sim.inject(Fault::DropScan { after_docs: 4 });
        let id = catalog_with(&fleet, json!({"fields": ["_id"], "initialSync": true})).await;
        let _w1 = recovering_worker(&fleet, "w1").await;
        let docs = until_edge_is_mongo(&fleet, "the copy, whole").await;
        assert_eq!(docs.len(), 10);
        let status = until_status(&fleet, id, "streaming, running", |s| {
            s["collectionStatus"]["products"]["phase"] == "streaming" && s["status"] == "running"
        })
        .await;
        assert_eq!(
            status["counters"]["documentsCopied"], 10,
            "each copied once: {status}"
        );
        fleet.assert_faults_spent(0).await;

        fleet
            .sim
            .insert("retail-demo", "products", doc! {"_id": "p10", "n": 10})
            .unwrap();
        let docs = until_edge_is_mongo(&fleet, "a change after the copy").await;
        assert_eq!(docs.len(), 11);
    }
}

both_ports! {
    /// A change stream whose connection drops after two events, in the middle of inserts,
    /// updates, a replace and deletes: the stream resumes where it was (through the in-process
    /// port the connector restarts from its checkpoint; on the wire the driver resumes the
    /// stream by itself, as with a real server). The edge ends up exactly as MongoDB: nothing
    /// lost, nothing applied twice out of order, no deleted document back.
    async fn a_stream_dropped_mid_changes_loses_and_duplicates_nothing(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        let (_, _w1) = streaming_catalog(&fleet).await;
        fleet.sim.inject(Fault::DropStream { after_events: 2 });
        let docs = mixed_changes(&fleet).await;
        let ids: Vec<&str> = docs.iter().filter_map(|d| d["_id"].as_str()).collect();
        assert_eq!(ids, ["p1", "p2", "p3", "p4", "p5", "p6"]);
        fleet.assert_faults_spent(2).await;
        // It goes on streaming.
        fleet
            .sim
            .delete("retail-demo", "products", &Bson::String("p4".into()))
            .unwrap();
        until_edge_is_mongo(&fleet, "a change after the drop").await;
    }
}

both_ports! {
    /// Three operations in a row lose their connection while changes stream: more than the
    /// driver absorbs on the wire (it resumes a stream once, and retries the resuming read
    /// once), so on either port the stream fails and says so (`mongodb_unavailable`, a warning).
    /// Only that collection's pipeline starts again, after a short backoff, from its checkpoint:
    /// the connector itself never fails or restarts. The edge ends up exactly as MongoDB.
    async fn connections_dropped_mid_stream_lose_and_duplicate_nothing(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        let (id, _w1) = streaming_catalog(&fleet).await;
        fleet.sim.inject(Fault::DropConnection { count: 3 });
        let docs = mixed_changes(&fleet).await;
        let ids: Vec<&str> = docs.iter().filter_map(|d| d["_id"].as_str()).collect();
        assert_eq!(ids, ["p1", "p2", "p3", "p4", "p5", "p6"]);
        fleet.assert_faults_spent(0).await;
        fleet
            .sim
            .insert("retail-demo", "products", doc! {"_id": "p7", "n": 7})
            .unwrap();
        until_edge_is_mongo(&fleet, "a change after the drops").await;
        until_status(&fleet, id, "running again", |s| {
            s["status"] == "running" && s["collectionStatus"]["products"]["phase"] == "streaming"
        })
        .await;
        let codes = event_codes(&fleet, id).await;
        assert!(
            codes.iter().any(|c| c == "mongodb_unavailable"),
            "the drops failed the stream: {codes:?}"
        );
        assert_eq!(
            codes.iter().filter(|c| *c == "connector_started").count(),
            1,
            "the connector rode it out without a restart: {codes:?}"
        );
    }
}

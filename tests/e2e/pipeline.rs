//! MongoDB -> edge through the whole fleet: a worker's supervisor runs the collection's pipeline
//! on the simulator (initial sync, then the change stream) into the real Postgres edge store,
//! with checkpoints; a move to another worker resumes from them, nothing re-copied and nothing
//! missed. Waits are bounded polls of what a user would see (the edge store, the status).
//!
//! Every test runs over both MongoDB ports (`both_ports!`): the simulator's in-process port, and
//! the shipped driver adapter against the simulator's wire front. On the wire the driver's
//! change stream waits up to a second for news (`maxAwaitTimeMS`), so waits allow 20 s.
//!
//! The tests are grouped: here the sync itself (copy, stream, filters, mapped ids, a move);
//! `history` a lost resume point, `batches` batch and document limits and the copy's progress,
//! `reconfiguration` new credentials and collections, `faults` streams that hang and
//! connections dropped mid-copy and mid-stream.

mod batches;
mod faults;
mod guards;
mod history;
mod reconfiguration;

use crate::fleet::{Fleet, Port, both_ports, step};
use bson::{Bson, doc};
use edgebridge_mongo_sim::CollectionOptions;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub async fn edge_docs(fleet: &Fleet, collection: &str) -> Vec<Value> {
    let res = fleet
        .app
        .post(
            &format!("/v1/apps/{}/store/execute", fleet.app.app_id),
            &fleet.app.owner_key,
            &json!({"statement": format!("SELECT * FROM {collection} ORDER BY _id")}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

/// Polls until `check` holds for the edge documents (20 s at most).
pub async fn until_edge(fleet: &Fleet, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let docs = edge_docs(fleet, "products").await;
        if check(&docs) {
            return docs;
        }
        assert!(Instant::now() < deadline, "{what}: edge holds {docs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn until_status(
    fleet: &Fleet,
    id: Uuid,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = fleet.status(id).await;
        if check(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "{what}: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A worker with [`worker_settings`], given its assignments (one tick, one step).
pub async fn start_worker(fleet: &Fleet, name: &str) -> edgebridge_worker::Worker {
    let mut worker = edgebridge_worker::Worker::register(worker_settings(fleet, name))
        .await
        .unwrap();
    fleet.tick().await;
    step(&mut worker).await;
    worker
}

/// Waits until the `products` pipeline streams.
pub async fn until_streaming(fleet: &Fleet, id: Uuid) -> Value {
    until_status(fleet, id, "streaming", |s| {
        s["collectionStatus"]["products"]["phase"] == "streaming"
    })
    .await
}

/// Creates the `catalog` connector syncing `products` of `retail-demo` with `mapping`.
pub async fn catalog_with(fleet: &Fleet, mapping: Value) -> Uuid {
    let spec = json!({
        "name": "catalog",
        "connectionString": fleet.uri(),
        "database": "retail-demo",
        "collections": {"products": mapping},
    });
    crate::helpers::id_of(&fleet.app.create_connector(&spec).await)
}

pub fn worker_settings(fleet: &Fleet, name: &str) -> edgebridge_worker::WorkerConfig {
    let mut config = fleet.worker_config(name, 100);
    config.supervisor.report_interval = Duration::from_millis(50);
    config.supervisor.pipeline.scan_batch = 3;
    config.supervisor.pipeline.idle_checkpoint = Duration::from_millis(100);
    config.supervisor.pipeline.idle_pause = Duration::from_millis(20);
    config
}

both_ports! {
    async fn documents_arrive_by_initial_sync_then_changes_stream_and_a_move_resumes(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        for i in 1..=7 {
            fleet
                .sim
                .insert(
                    "retail-demo",
                    "products",
                    doc! {"_id": format!("p{i}"), "name": format!("product {i}"), "price": i * 10},
                )
                .unwrap();
        }
        let id = {
            let spec = json!({
                "name": "catalog",
                "connectionString": fleet.uri(),
                "database": "retail-demo",
                "collections": {"products": {"fields": ["_id"], "initialSync": true}},
            });
            crate::helpers::id_of(&fleet.app.create_connector(&spec).await)
        };
        let w1 = start_worker(&fleet, "w1").await;

        // The initial sync copies all 7 (in batches of 3), then the stream takes over.
        let docs = until_edge(&fleet, "initial sync", |d| d.len() == 7).await;
        assert_eq!(
            docs[0],
            json!({"_id": "p1", "name": "product 1", "price": 10})
        );
        let status = until_streaming(&fleet, id).await;
        assert_eq!(status["counters"]["documentsCopied"], 7, "{status}");

        // Changes in MongoDB arrive: an insert, an update, a delete.
        fleet
            .sim
            .insert(
                "retail-demo",
                "products",
                doc! {"_id": "p8", "name": "new", "price": 80},
            )
            .unwrap();
        fleet
            .sim
            .update(
                "retail-demo",
                "products",
                &Bson::String("p2".into()),
                doc! {"price": 25},
            )
            .unwrap();
        fleet
            .sim
            .delete("retail-demo", "products", &Bson::String("p3".into()))
            .unwrap();
        let docs = until_edge(&fleet, "streamed changes", |d| {
            d.len() == 7 && d.iter().any(|x| x["_id"] == "p8") && d.iter().any(|x| x["price"] == 25)
        })
        .await;
        assert!(docs.iter().all(|d| d["_id"] != "p3"));

        // The worker dies; a change happens while no one streams; another worker resumes from the
        // checkpoint: the change arrives, and nothing is copied again.
        let w1_id = w1.id().unwrap();
        w1.crash();
        fleet
            .sim
            .insert(
                "retail-demo",
                "products",
                doc! {"_id": "p9", "name": "while away", "price": 90},
            )
            .unwrap();
        let mut w2 = edgebridge_worker::Worker::register(worker_settings(&fleet, "w2"))
            .await
            .unwrap();
        fleet.silence(w1_id).await;
        fleet.tick().await;
        step(&mut w2).await;
        until_edge(&fleet, "the change made while no worker ran", |d| {
            d.iter().any(|x| x["_id"] == "p9")
        })
        .await;
        let status = until_status(&fleet, id, "streaming on w2", |s| {
            s["assignedWorker"]["name"] == "w2"
                && s["collectionStatus"]["products"]["phase"] == "streaming"
        })
        .await;
        assert_eq!(
            status["counters"]["documentsCopied"], 0,
            "resumed, not re-copied: {status}"
        );
        assert_eq!(status["status"], "running");
        assert_eq!(edge_docs(&fleet, "products").await.len(), 8);
    }
}

both_ports! {
    async fn a_filtered_collection_syncs_exactly_the_matching_documents(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        for (id, deleted) in [("p1", false), ("p2", true), ("p3", false)] {
            fleet
                .sim
                .insert(
                    "retail-demo",
                    "products",
                    doc! {"_id": id, "deleted": deleted, "n": 1},
                )
                .unwrap();
        }
        let spec = json!({
            "name": "catalog",
            "connectionString": fleet.uri(),
            "database": "retail-demo",
            "collections": {
                "products": {"fields": ["_id"], "initialSync": true, "filter": {"deleted": {"$ne": true}}},
            },
        });
        let id = crate::helpers::id_of(&fleet.app.create_connector(&spec).await);
        let _w1 = start_worker(&fleet, "w1").await;
        let ids = |d: &[Value]| {
            d.iter()
                .map(|x| x["_id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        until_edge(&fleet, "the scan copies matching documents only", |d| {
            ids(d) == ["p1", "p3"]
        })
        .await;
        until_streaming(&fleet, id).await;
        // p1 stops matching (it leaves the edge), p2 starts matching (it arrives), a new
        // non-matching document never shows, and p3 is updated while matching.
        fleet
            .sim
            .update(
                "retail-demo",
                "products",
                &Bson::String("p1".into()),
                doc! {"deleted": true},
            )
            .unwrap();
        fleet
            .sim
            .update(
                "retail-demo",
                "products",
                &Bson::String("p2".into()),
                doc! {"deleted": false},
            )
            .unwrap();
        fleet
            .sim
            .insert(
                "retail-demo",
                "products",
                doc! {"_id": "p4", "deleted": true},
            )
            .unwrap();
        fleet
            .sim
            .update(
                "retail-demo",
                "products",
                &Bson::String("p3".into()),
                doc! {"n": 2},
            )
            .unwrap();
        let docs = until_edge(&fleet, "the stream follows the filter", |d| {
            ids(d) == ["p2", "p3"] && d[1]["n"] == 2
        })
        .await;
        assert_eq!(docs[0], json!({"_id": "p2", "deleted": false, "n": 1}));
    }
}

both_ports! {
    /// A collection mapped by another field: a change of that field moves the document to its new
    /// edge id (the old one goes), and a delete finds the edge document through the pre-image.
    async fn a_changed_mapped_id_moves_the_edge_document(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        fleet
            .sim
            .insert(
                "retail-demo",
                "products",
                doc! {"_id": 1, "sku": "a-1", "n": 1},
            )
            .unwrap();
        fleet
            .sim
            .insert(
                "retail-demo",
                "products",
                doc! {"_id": 2, "sku": "b-2", "n": 2},
            )
            .unwrap();
        let id = catalog_with(&fleet, json!({"fields": ["sku"], "initialSync": true})).await;
        let _w1 = start_worker(&fleet, "w1").await;
        until_edge(&fleet, "initial sync", |d| d.len() == 2).await;
        until_streaming(&fleet, id).await;
        fleet
            .sim
            .update(
                "retail-demo",
                "products",
                &Bson::Int32(1),
                doc! {"sku": "a-9"},
            )
            .unwrap();
        fleet
            .sim
            .delete("retail-demo", "products", &Bson::Int32(2))
            .unwrap();
        let docs = until_edge(&fleet, "moved and deleted", |d| {
            d.len() == 1 && d[0]["_id"] == "a-9"
        })
        .await;
        assert_eq!(docs[0]["n"], 1);
    }
}

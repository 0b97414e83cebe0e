//! Failures tied to one collection stay with it: a collection dropped while no worker ran, a
//! required pre-image MongoDB no longer has, and an error that comes back at the same position
//! each time the collection restarts. The other collections and the write-back go on, and the
//! connector never loops through restarts.

use super::{edge_docs, start_worker, until_status, until_streaming, worker_settings};
use crate::fleet::{Fleet, Port, both_ports, step};
use bson::{Bson, doc};
use edgebridge_mongo_sim::{CollectionOptions, Fault, SimUser};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

const DB: &str = "retail-demo";

/// `products` (p1, p2) and `orders` (o1), both synced by one connector, streaming.
async fn two_collections(
    fleet: &Fleet,
    on_history_lost: &str,
) -> (Uuid, edgebridge_worker::Worker) {
    fleet
        .sim
        .create_collection(DB, "products", CollectionOptions::ready());
    for id in ["p1", "p2"] {
        fleet
            .sim
            .insert(DB, "products", doc! {"_id": id, "n": 1})
            .unwrap();
    }
    fleet
        .sim
        .insert(DB, "orders", doc! {"_id": "o1", "n": 1})
        .unwrap();
    let spec = json!({
        "name": "shop",
        "connectionString": fleet.uri(),
        "database": DB,
        "collections": {
            "products": {"fields": ["_id"], "initialSync": true},
            "orders": {"fields": ["_id"], "initialSync": true},
        },
        "onHistoryLost": on_history_lost,
    });
    let id = crate::helpers::id_of(&fleet.app.create_connector(&spec).await);
    let worker = start_worker(fleet, "w1").await;
    until_streaming(fleet, id).await;
    until_status(fleet, id, "orders streaming", |s| {
        s["collectionStatus"]["orders"]["phase"] == "streaming"
    })
    .await;
    (id, worker)
}

/// Polls `collection` on the edge until `check` holds (20 s at most).
async fn until_in(fleet: &Fleet, collection: &str, what: &str, check: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let docs = edge_docs(fleet, collection).await;
        if check(&docs) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {collection} holds {docs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The connector's events as (level, code), newest first.
async fn events(fleet: &Fleet, id: Uuid) -> Vec<(String, String)> {
    let path = format!("{}/events", fleet.app.connector_path(fleet.app.app_id, id));
    let body: Value = fleet
        .app
        .get(&path, &fleet.app.owner_key)
        .await
        .json()
        .await
        .unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["level"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn started(events: &[(String, String)]) -> usize {
    events
        .iter()
        .filter(|(_, c)| c == "connector_started")
        .count()
}

/// A device runs `statement` on the store.
async fn device(fleet: &Fleet, statement: &str) {
    let res = fleet
        .app
        .post(
            &format!("/v1/apps/{}/store/execute", fleet.app.app_id),
            &fleet.app.owner_key,
            &json!({"statement": statement}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
}

both_ports! {
    /// `orders` is dropped while no worker runs. The next start's checks find it missing: it is
    /// shown failed with `collection_not_found`, while `products` streams and device writes
    /// still reach MongoDB. Before, the whole connector failed its checks and retried forever.
    async fn a_collection_dropped_while_stopped_fails_alone_and_the_rest_runs(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        let (id, w1) = two_collections(&fleet, "fail").await;
        let w1_id = w1.id().unwrap();
        w1.crash();
        fleet.sim.drop_collection(DB, "orders");
        fleet.sim.insert(DB, "products", doc! {"_id": "p3", "n": 3}).unwrap();
        let mut w2 = edgebridge_worker::Worker::register(worker_settings(&fleet, "w2")).await.unwrap();
        fleet.silence(w1_id).await;
        fleet.tick().await;
        step(&mut w2).await;
        let status = until_status(&fleet, id, "orders failed, products streaming", |s| {
            s["collectionStatus"]["orders"]["phase"] == "failed"
                && s["collectionStatus"]["products"]["phase"] == "streaming"
        })
        .await;
        assert_eq!(status["status"], "running", "{status}");
        assert_eq!(status["collectionStatus"]["orders"]["code"], "collection_not_found", "{status}");
        assert_eq!(status["lastError"]["code"], "collection_not_found", "{status}");
        until_in(&fleet, "products", "the change made while stopped", |d| d.len() == 3).await;
        // The write-back runs for the collection that is there.
        device(&fleet, "INSERT INTO products DOCUMENTS ({'_id': 'p4', 'n': 4})").await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while fleet.sim.find(DB, "products", &Bson::String("p4".into())).is_none() {
            assert!(Instant::now() < deadline, "the device write reached MongoDB");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

both_ports! {
    /// Pre-images turned off for a while: the update made meanwhile has none, and a stream that
    /// requires them cannot go past it (MongoDB answers 47). With `onHistoryLost: fail` only
    /// `orders` fails, with `pre_image_missing` and what to do; `products` goes on.
    async fn a_missing_pre_image_fails_only_its_collection(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        let (id, _w1) = two_collections(&fleet, "fail").await;
        fleet.sim.set_pre_and_post_images(DB, "orders", false);
        fleet.sim.update(DB, "orders", &Bson::String("o1".into()), doc! {"n": 2}).unwrap();
        fleet.sim.set_pre_and_post_images(DB, "orders", true);
        let status = until_status(&fleet, id, "orders failed", |s| {
            s["collectionStatus"]["orders"]["phase"] == "failed"
        })
        .await;
        assert_eq!(status["collectionStatus"]["orders"]["code"], "pre_image_missing", "{status}");
        assert_eq!(status["status"], "running", "{status}");
        let remediation = status["lastError"]["remediation"].as_str().unwrap();
        assert!(remediation.contains("resync"), "{remediation}");
        fleet.sim.insert(DB, "products", doc! {"_id": "p3", "n": 3}).unwrap();
        until_in(&fleet, "products", "products goes on", |d| d.len() == 3).await;
        assert_eq!(started(&events(&fleet, id).await), 1, "never restarted");
    }
}

both_ports! {
    /// The same, with `onHistoryLost: resync`: `orders` is copied again (the update that had no
    /// pre-image comes with the copy) and streams on.
    async fn with_resync_a_missing_pre_image_copies_the_collection_again(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        let (id, _w1) = two_collections(&fleet, "resync").await;
        fleet.sim.set_pre_and_post_images(DB, "orders", false);
        fleet.sim.update(DB, "orders", &Bson::String("o1".into()), doc! {"n": 2}).unwrap();
        fleet.sim.set_pre_and_post_images(DB, "orders", true);
        until_in(&fleet, "orders", "the copy brings the update", |d| {
            d.len() == 1 && d[0]["n"] == 2
        })
        .await;
        fleet.sim.insert(DB, "orders", doc! {"_id": "o2", "n": 1}).unwrap();
        until_in(&fleet, "orders", "streaming again", |d| d.len() == 2).await;
        let events = events(&fleet, id).await;
        assert!(events.iter().any(|(l, c)| l == "warn" && c == "resync_started"), "{events:?}");
        assert_eq!(started(&events), 1, "never restarted");
    }
}

/// `appuser` with everything it had, except that it may only `find` in `orders`.
fn without_change_streams_on_orders() -> SimUser {
    let all: &[&str] = &[
        "find",
        "insert",
        "update",
        "remove",
        "listCollections",
        "listIndexes",
        "createCollection",
        "createIndex",
        "collMod",
        "changeStream",
        "collStats",
        "dbStats",
    ];
    SimUser::per_collection(
        "appuser",
        crate::helpers::PASSWORD,
        DB,
        &[
            ("products", all),
            ("__edgebridge_sessions", all),
            ("__edgebridge_unsynced_documents", all),
            ("orders", &["find"]),
        ],
    )
}

both_ports! {
    /// `changeStream` on `orders` is revoked while the connector runs, and a dropped connection
    /// makes every stream open again: `orders` fails to open its stream at the same position
    /// each time it restarts, so after three tries it stops with `not_authorized`, while
    /// `products` streams on and the connector runs without a single restart.
    async fn the_same_error_at_the_same_position_stops_that_collection_only(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        let (id, _w1) = two_collections(&fleet, "fail").await;
        fleet.sim.set_user(without_change_streams_on_orders());
        fleet.sim.inject(Fault::DropConnection { count: 2 });
        fleet.sim.insert(DB, "orders", doc! {"_id": "o2", "n": 1}).unwrap();
        fleet.sim.insert(DB, "products", doc! {"_id": "p3", "n": 3}).unwrap();
        let status = until_status(&fleet, id, "orders stopped", |s| {
            s["collectionStatus"]["orders"]["phase"] == "failed"
        })
        .await;
        assert_eq!(status["collectionStatus"]["orders"]["code"], "not_authorized", "{status}");
        assert_eq!(status["status"], "running", "{status}");
        let message = status["lastError"]["message"].as_str().unwrap();
        assert!(message.contains("3 times"), "{message}");
        until_in(&fleet, "products", "products goes on", |d| d.len() == 3).await;
        fleet.sim.insert(DB, "products", doc! {"_id": "p4", "n": 4}).unwrap();
        until_in(&fleet, "products", "and on", |d| d.len() == 4).await;
        let events = events(&fleet, id).await;
        assert_eq!(started(&events), 1, "never restarted: {events:?}");
        assert!(events.iter().any(|(l, c)| l == "warn" && c == "not_authorized"), "{events:?}");
        assert!(events.iter().any(|(l, c)| l == "error" && c == "not_authorized"), "{events:?}");
    }
}

/// An election on the wire front (the in-process port has no replica set to elect in): for 8 s
/// no member is primary, so streams are interrupted and cannot open again, and the writes a
/// device makes meanwhile cannot commit. Far past the driver's own single resume and its 5 s
/// server selection: the pipelines and the write-back start again on their own with backoff
/// until the new primary answers. The connector never fails or restarts, nothing is lost.
#[sqlx::test(migrations = false)]
async fn an_election_is_ridden_out_without_a_connector_failure(pool: PgPool) {
    let fleet = Fleet::on(pool, Port::Wire).await;
    let (id, mut w1) = two_collections(&fleet, "fail").await;
    fleet.sim.hold_election(Duration::from_secs(8));
    let during = Instant::now();
    device(
        &fleet,
        "INSERT INTO products DOCUMENTS ({'_id': 'p3', 'n': 3})",
    )
    .await;
    // MongoDB's own writes during the election cannot happen either: the next ones come after.
    let deadline = Instant::now() + Duration::from_secs(40);
    while fleet
        .sim
        .find(DB, "products", &Bson::String("p3".into()))
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the device write reached MongoDB after the election"
        );
        let status = fleet.status(id).await;
        assert_ne!(status["status"], "failed", "{status}");
        // The worker heartbeats (tests step it by hand): its lease holds.
        step(&mut w1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        during.elapsed() >= Duration::from_secs(7),
        "it waited for the new primary"
    );
    fleet
        .sim
        .insert(DB, "orders", doc! {"_id": "o2", "n": 2})
        .unwrap();
    until_in(&fleet, "orders", "a change after the election", |d| {
        d.len() == 2
    })
    .await;
    let status = until_status(&fleet, id, "both streaming", |s| {
        s["collectionStatus"]["orders"]["phase"] == "streaming"
            && s["collectionStatus"]["products"]["phase"] == "streaming"
    })
    .await;
    assert_eq!(status["status"], "running", "{status}");
    let events = events(&fleet, id).await;
    assert_eq!(started(&events), 1, "never restarted: {events:?}");
    assert!(
        events.iter().all(|(level, _)| level != "error"),
        "no failure, only retries: {events:?}"
    );
}

both_ports! {
    /// A collection mapped by `sku` without a unique index on it: the connector runs, and its
    /// events say what preflight warned about (each upsert would scan the collection, and a
    /// concurrent insert could duplicate a document) with the `createIndex` to run.
    async fn a_missing_unique_index_on_the_id_fields_is_a_warning_event(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        fleet.sim.create_collection(DB, "products", CollectionOptions::ready());
        fleet.sim.insert(DB, "products", doc! {"_id": 1, "sku": "a-1"}).unwrap();
        let spec = json!({
            "name": "skus",
            "connectionString": fleet.uri(),
            "database": DB,
            "collections": {"products": {"fields": ["sku"], "initialSync": true}},
        });
        let id = crate::helpers::id_of(&fleet.app.create_connector(&spec).await);
        let _w1 = start_worker(&fleet, "w1").await;
        until_streaming(&fleet, id).await;
        let path = format!("{}/events?q=id_index_missing", fleet.app.connector_path(fleet.app.app_id, id));
        let body: Value = fleet.app.get(&path, &fleet.app.owner_key).await.json().await.unwrap();
        let event = &body["items"][0];
        assert_eq!(event["level"], "warn", "{body}");
        let remediation = event["context"]["remediation"].as_str().unwrap_or_default();
        assert!(remediation.contains("createIndex"), "{body}");
        assert!(remediation.contains("unique: true"), "{body}");
        assert_eq!(started(&events(&fleet, id).await), 1);
    }
}

//! A change stream's resume point lost (the oplog rolled past it while no worker ran): with
//! `onHistoryLost: fail` the collection fails until a resync, with `resync` it is copied again.

use super::{edge_docs, start_worker, until_edge, until_status, until_streaming, worker_settings};
use crate::fleet::{Fleet, Port, both_ports, step};
use bson::doc;
use edgebridge_mongo_sim::CollectionOptions;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// Moves the connector from a crashed `w1` to a new `w2` after MongoDB's oplog rolled past
/// where `w1` stopped (5 inserts into an oplog of 2 entries).
async fn lose_history(fleet: &Fleet, w1: edgebridge_worker::Worker) -> edgebridge_worker::Worker {
    let w1_id = w1.id().unwrap();
    w1.crash();
    fleet.sim.set_oplog_capacity(2);
    for i in 10..15 {
        fleet
            .sim
            .insert(
                "retail-demo",
                "products",
                doc! {"_id": format!("p{i}"), "name": "later"},
            )
            .unwrap();
    }
    let mut w2 = edgebridge_worker::Worker::register(worker_settings(fleet, "w2"))
        .await
        .unwrap();
    fleet.silence(w1_id).await;
    fleet.tick().await;
    step(&mut w2).await;
    w2
}

async fn catalog(fleet: &Fleet, on_history_lost: &str) -> Uuid {
    fleet
        .sim
        .create_collection("retail-demo", "products", CollectionOptions::ready());
    for i in 1..=3 {
        fleet
            .sim
            .insert(
                "retail-demo",
                "products",
                doc! {"_id": format!("p{i}"), "name": "first"},
            )
            .unwrap();
    }
    let spec = json!({
        "name": "catalog",
        "connectionString": fleet.uri(),
        "database": "retail-demo",
        "collections": {"products": {"fields": ["_id"], "initialSync": true}},
        "onHistoryLost": on_history_lost,
    });
    crate::helpers::id_of(&fleet.app.create_connector(&spec).await)
}

both_ports! {
    async fn a_lost_resume_point_fails_the_collection_until_a_resync_copies_it_again(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
        let id = catalog(&fleet, "fail").await;
        let w1 = start_worker(&fleet, "w1").await;
        until_edge(&fleet, "initial sync", |d| d.len() == 3).await;
        until_streaming(&fleet, id).await;
        let mut w2 = lose_history(&fleet, w1).await;
        let status = until_status(&fleet, id, "resume point lost", |s| {
            s["collectionStatus"]["products"]["phase"] == "failed"
        })
        .await;
        assert_eq!(
            status["collectionStatus"]["products"]["code"],
            "resume_point_lost"
        );
        assert_eq!(status["lastError"]["code"], "resume_point_lost");
        assert!(
            status["lastError"]["remediation"]
                .as_str()
                .unwrap()
                .contains("resync")
        );
        assert_eq!(
            edge_docs(&fleet, "products").await.len(),
            3,
            "nothing guessed"
        );

        // Resync on demand: the collection is copied again and streams.
        let path = format!(
            "{}/collections/products/resync",
            fleet.app.connector_path(fleet.app.app_id, id)
        );
        let res = fleet
            .app
            .post(&path, &fleet.app.owner_key, &json!({}))
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        step(&mut w2).await;
        until_edge(&fleet, "resynced", |d| d.len() == 8).await;
        let status = until_status(&fleet, id, "streaming again", |s| {
            s["collectionStatus"]["products"]["phase"] == "streaming"
        })
        .await;
        assert_eq!(status["counters"]["documentsCopied"], 8, "{status}");
        // Unknown collections and viewers are refused.
        let other = format!(
            "{}/collections/users/resync",
            fleet.app.connector_path(fleet.app.app_id, id)
        );
        let res = fleet
            .app
            .post(&other, &fleet.app.owner_key, &json!({}))
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let viewer = fleet
            .app
            .create_key(&fleet.app.owner_key, "viewer", None)
            .await;
        let res = fleet.app.post(&path, &viewer, &json!({})).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
}

both_ports! {
    async fn with_on_history_lost_resync_the_collection_is_copied_again_and_says_so(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
        let id = catalog(&fleet, "resync").await;
        let w1 = start_worker(&fleet, "w1").await;
        until_edge(&fleet, "initial sync", |d| d.len() == 3).await;
        until_streaming(&fleet, id).await;
        let _w2 = lose_history(&fleet, w1).await;
        until_edge(&fleet, "copied again", |d| d.len() == 8).await;
        until_status(&fleet, id, "streaming again", |s| {
            s["collectionStatus"]["products"]["phase"] == "streaming" && s["status"] == "running"
        })
        .await;
        let events: Value = fleet
            .app
            .get(
                &format!(
                    "{}/events?q=resync_started",
                    fleet.app.connector_path(fleet.app.app_id, id)
                ),
                &fleet.app.owner_key,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(events["items"][0]["level"], "warn", "{events}");
    }
}

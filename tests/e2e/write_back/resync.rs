//! The write-back around copies: a resync after lost history sweeps what MongoDB deleted and
//! keeps what devices wrote; an added collection keeps (and writes back) what devices created
//! before; device edits made during a resync survive it.

use super::{DB, connector, execute, until_mongo};
use crate::fleet::{Fleet, Port, both_ports, step};
use crate::pipeline::{edge_docs, start_worker, until_edge, until_status, until_streaming};
use bson::{Bson, doc};
use edgebridge_mongo_sim::CollectionOptions;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
use std::time::{Duration, Instant};

both_ports! {
    /// History lost while no worker ran, `onHistoryLost: resync`: the new copy brings what changed,
    /// and its sweep removes the edge document MongoDB deleted meanwhile; a device's document that
    /// reached MongoDB is seen by the copy and stays, as does one a device wrote during the outage
    /// (not in MongoDB yet: the write-back takes it there).
    async fn a_resync_after_lost_history_sweeps_what_mongodb_deleted(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        fleet
            .sim
            .create_collection(DB, "products", CollectionOptions::ready());
        for id in ["p1", "p2"] {
            fleet
                .sim
                .insert(DB, "products", doc! {"_id": id, "v": 1})
                .unwrap();
        }
        let spec = json!({
            "name": "catalog",
            "connectionString": fleet.uri(),
            "database": DB,
            "onHistoryLost": "resync",
            "collections": {"products": {"fields": ["_id"], "initialSync": true}},
        });
        let id = crate::helpers::id_of(&fleet.app.create_connector(&spec).await);
        let w1 = start_worker(&fleet, "w1").await;
        until_streaming(&fleet, id).await;
        execute(
            &fleet,
            "INSERT INTO products DOCUMENTS ({'_id': 'd1', 'v': 7})",
        )
        .await;
        until_mongo(&fleet.sim, "the device's document", |d| d.len() == 3).await;

        // The worker dies; MongoDB changes while the oplog rolls past the stream's position; a
        // device writes too.
        let w1_id = w1.id().unwrap();
        w1.crash();
        fleet.sim.set_oplog_capacity(1);
        fleet
            .sim
            .delete(DB, "products", &Bson::String("p1".into()))
            .unwrap();
        fleet
            .sim
            .update(DB, "products", &Bson::String("p2".into()), doc! {"v": 2})
            .unwrap();
        fleet.sim.insert(DB, "noise", doc! {"n": 1}).unwrap();
        fleet.sim.set_oplog_capacity(100_000);
        execute(
            &fleet,
            "INSERT INTO products DOCUMENTS ({'_id': 'd2', 'v': 8})",
        )
        .await;

        let mut w2 =
            edgebridge_worker::Worker::register(crate::pipeline::worker_settings(&fleet, "w2"))
                .await
                .unwrap();
        fleet.silence(w1_id).await;
        fleet.tick().await;
        step(&mut w2).await;
        let docs = until_edge(&fleet, "the resync and its sweep", |d| {
            let ids: Vec<&str> = d.iter().filter_map(|x| x["_id"].as_str()).collect();
            ids == ["d1", "d2", "p2"] && d.iter().any(|x| x["_id"] == "p2" && x["v"] == 2)
        })
        .await;
        assert_eq!(docs.len(), 3);
        until_mongo(&fleet.sim, "the outage's device document", |d| {
            d.iter().any(|x| x.get_str("_id").ok() == Some("d2"))
        })
        .await;
        let status = until_status(&fleet, id, "streaming again", |s| {
            s["collectionStatus"]["products"]["phase"] == "streaming"
        })
        .await;
        assert_eq!(status["status"], "running", "{status}");
    }
}

both_ports! {
    /// Adding a collection to a running connector copies what MongoDB has of it, and keeps the edge
    /// documents devices created while it was not synced: its first copy does not sweep them
    /// (MongoDB never had them) but queues them for the write-back, which takes them to MongoDB
    /// although its position is already past their changes. An unseen document a connector wrote
    /// last (MongoDB had it, and no longer has) leaves the edge, as in any sweep.
    async fn an_added_collection_keeps_what_devices_created_before_and_writes_it_back(
        pool: PgPool,
        port: Port,
    ) {
        use base64::Engine as _;
        let fleet = Fleet::on(pool, port).await;
        let id = connector(&fleet, None).await;
        fleet
            .sim
            .create_collection(DB, "stores", CollectionOptions::ready());
        fleet
            .sim
            .insert(DB, "stores", doc! {"_id": "s-mongo", "city": "Oslo"})
            .unwrap();
        // A device creates a store while `stores` is not synced by the connector; an earlier
        // connector had synced another one, which MongoDB no longer has.
        execute(
            &fleet,
            "INSERT INTO stores DOCUMENTS ({_id: 's-device', city: 'Turku'})",
        )
        .await;
        let res = fleet
            .app
            .post(
                &format!("/v1/apps/{}/store/execute", fleet.app.app_id),
                &fleet.app.owner_key,
                &json!({"statement": "INSERT INTO stores DOCUMENTS ({_id: 's-gone', city: 'Bergen'})",
                        "origin": "connector:earlier"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut w1 = start_worker(&fleet, "w1").await;
        until_streaming(&fleet, id).await;
        // The write-back moves past the device's change: a later product goes to MongoDB and the
        // write-back's saved position is that product's change.
        execute(
            &fleet,
            "INSERT INTO products DOCUMENTS ({_id: 'p-after', n: 1})",
        )
        .await;
        until_mongo(&fleet.sim, "the later product written back", |d| {
            d.iter().any(|x| x.get_str("_id").ok() == Some("p-after"))
        })
        .await;
        let (tx, change): (String, i64) = sqlx::query_as(
            "select tx_id::text, change_id from store_changes where doc_key = '\"p-after\"'",
        )
        .fetch_one(&fleet.app.pool)
        .await
        .unwrap();
        let want =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{tx}:{change}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let saved: Option<(String,)> =
                sqlx::query_as("select cursor from connector_write_back where connector_id = $1")
                    .bind(id)
                    .fetch_optional(&fleet.app.pool)
                    .await
                    .unwrap();
            if saved.is_some_and(|(c,)| c == want) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the write-back position was not saved"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let path = fleet.app.connector_path(fleet.app.app_id, id);
        let res = fleet
            .app
            .patch(
                &path,
                &fleet.app.owner_key,
                &json!({"collections": {"stores": {"fields": ["_id"], "initialSync": true}}}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        step(&mut w1).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let edge: Vec<serde_json::Value> = edge_docs(&fleet, "stores").await;
            let mongo = fleet.sim.documents(DB, "stores");
            let ids = |names: Vec<String>| {
                let mut names = names;
                names.sort();
                names
            };
            let edge_ids = ids(edge
                .iter()
                .map(|d| d["_id"].as_str().unwrap().to_owned())
                .collect());
            let mongo_ids = ids(mongo
                .iter()
                .map(|d| d.get_str("_id").unwrap().to_owned())
                .collect());
            if edge_ids == ["s-device", "s-mongo"] && mongo_ids == ["s-device", "s-mongo"] {
                let device = mongo
                    .iter()
                    .find(|d| d.get_str("_id").ok() == Some("s-device"))
                    .unwrap();
                assert_eq!(device.get_str("city").ok(), Some("Turku"));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "both stores on both sides: edge {edge_ids:?}, MongoDB {mongo_ids:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let status = until_status(&fleet, id, "stores streaming", |s| {
            s["collectionStatus"]["stores"]["phase"] == "streaming"
        })
        .await;
        assert_eq!(status["health"]["state"], "green", "{status}");
    }
}

both_ports! {
    /// A device editing the edge while a collection is being copied again keeps its edits: the copy
    /// does not overwrite a field changed, or bring back a document deleted, since it began (the
    /// copied value is MongoDB's older one), and the write-back takes the edits to MongoDB.
    async fn device_edits_made_during_a_resync_survive_it_and_reach_mongodb(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
        let id = connector(&fleet, None).await;
        for i in 0..30 {
            fleet
                .sim
                .insert(
                    DB,
                    "products",
                    doc! {"_id": format!("p{i:02}"), "v": 1, "name": format!("n{i}")},
                )
                .unwrap();
        }
        // 3 documents a batch at 20 documents/s: a copy takes about 1.5 s.
        let mut config = crate::pipeline::worker_settings(&fleet, "w1");
        config.supervisor.pipeline.scan_rate = 20;
        let mut w1 = edgebridge_worker::Worker::register(config).await.unwrap();
        fleet.tick().await;
        step(&mut w1).await;
        until_streaming(&fleet, id).await;
        until_edge(&fleet, "the first copy", |d| d.len() == 30).await;

        let path = fleet.app.connector_path(fleet.app.app_id, id);
        let res = fleet
            .app
            .post(
                &format!("{path}/collections/products/resync"),
                &fleet.app.owner_key,
                &json!({}),
            )
            .await;
        assert!(res.status().is_success(), "{}", res.status());
        step(&mut w1).await;
        until_status(&fleet, id, "the resync under way", |s| {
            let p = &s["collectionStatus"]["products"]["initialSync"];
            p["copied"].as_u64().is_some_and(|c| (3..=12).contains(&c))
        })
        .await;
        // Documents the copy has not reached yet: one edited, one deleted, one given a field.
        execute(&fleet, "UPDATE products SET v = 99 WHERE _id = 'p29'").await;
        execute(&fleet, "DELETE FROM products WHERE _id = 'p28'").await;
        execute(&fleet, "UPDATE products SET extra = 'x' WHERE _id = 'p27'").await;
        until_status(&fleet, id, "streaming after the resync", |s| {
            s["collectionStatus"]["products"]["phase"] == "streaming"
        })
        .await;
        let docs = until_edge(&fleet, "the edits kept", |d| d.len() == 29).await;
        let doc = |id: &str| docs.iter().find(|d| d["_id"] == id).cloned();
        assert_eq!(doc("p29").unwrap()["v"], 99, "{docs:?}");
        assert!(doc("p28").is_none());
        assert_eq!(doc("p27").unwrap()["extra"], "x");
        assert_eq!(doc("p26").unwrap()["v"], 1);
        until_mongo(&fleet.sim, "the edits written back", |d| {
            let find = |id: &str| d.iter().find(|x| x.get_str("_id").ok() == Some(id));
            d.len() == 29
                && find("p29").is_some_and(|x| match x.get("v") {
                    Some(Bson::Int32(n)) => *n == 99,
                    Some(Bson::Int64(n)) => *n == 99,
                    Some(Bson::Double(n)) => *n == 99.0,
                    _ => false,
                })
                && find("p27").is_some_and(|x| x.get_str("extra").ok() == Some("x"))
        })
        .await;
        // Settled: the edits' echoes came back on the stream before a later MongoDB change (a
        // barrier: no waiting for something not to happen), and the edge still holds the edits.
        fleet
            .sim
            .update(DB, "products", &Bson::String("p00".into()), doc! {"v": 2})
            .unwrap();
        let docs = until_edge(&fleet, "the later MongoDB change", |d| {
            d.iter().any(|x| x["_id"] == "p00" && x["v"] == 2)
        })
        .await;
        assert_eq!(docs.len(), 29);
        assert!(docs.iter().any(|d| d["_id"] == "p29" && d["v"] == 99));
        assert!(docs.iter().any(|d| d["_id"] == "p27" && d["extra"] == "x"));
    }
}

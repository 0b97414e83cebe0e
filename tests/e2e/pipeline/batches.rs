//! Limits and pace: a batch too large for the api goes in parts, a document too large alone is
//! skipped, a copy shows its progress, and stream batches applied at once keep each document's
//! order.

use super::{
    catalog_with, edge_docs, start_worker, until_edge, until_status, until_streaming,
    worker_settings,
};
use crate::fleet::{Fleet, Port, both_ports, step};
use bson::{Bson, doc};
use edgebridge_mongo_sim::CollectionOptions;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

both_ports! {
    /// A batch larger than the api takes is split (the first part with the previous checkpoint,
    /// the last with the new one) instead of failing the connector.
    async fn a_batch_too_large_for_the_api_goes_in_parts(pool: PgPool, port: Port) {
        let fleet = Fleet::on_with(pool, port, |c| c.fleet.sync_body_limit = 8 * 1024).await;
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        for i in 0..60 {
            fleet
                .sim
                .insert(
                    "retail-demo",
                    "products",
                    doc! {"_id": format!("p{i:02}"), "text": "x".repeat(400)},
                )
                .unwrap();
        }
        let id = catalog_with(&fleet, json!({"fields": ["_id"], "initialSync": true})).await;
        let mut config = worker_settings(&fleet, "w1");
        config.supervisor.pipeline.scan_batch = 100;
        let mut w1 = edgebridge_worker::Worker::register(config).await.unwrap();
        fleet.tick().await;
        step(&mut w1).await;
        until_edge(&fleet, "all parts applied", |d| d.len() == 60).await;
        let status = until_streaming(&fleet, id).await;
        assert_eq!(status["status"], "running", "{status}");
        assert_eq!(status["counters"]["documentsCopied"], 60);
        assert_eq!(status["counters"]["changesApplied"], 0, "copies are not changes");
        assert_eq!(status["totals"]["copied"], 60);
        // The limit holds on the workers' routes (so the parts above were needed).
        let (epoch,): (i64,) =
            sqlx::query_as("select assignment_epoch from connectors where connector_id = $1")
                .bind(id)
                .fetch_one(&fleet.app.pool)
                .await
                .unwrap();
        let writes = (0..60)
            .map(|i| edgebridge_domain::fleet::EdgeWrite::Upsert {
                id: json!(format!("q{i}")),
                body: json!({"text": "y".repeat(400)})
                    .as_object()
                    .unwrap()
                    .clone(),
                counters: Vec::new(),
                types: None,
                before: None,
            })
            .collect();
        let whole = edgebridge_domain::fleet::ApplyRequest {
            epoch,
            collection: "products".into(),
            writes,
            checkpoint: edgebridge_domain::fleet::CollectionCheckpoint {
                phase: edgebridge_domain::fleet::CheckpointPhase::Streaming,
                resume_token: None,
                scan_after: None,
                copied: 0,
                estimated_total: None,
            },
        };
        assert!(matches!(
            w1.client().apply(id, &whole).await,
            Err(edgebridge_worker::client::ClientError::TooLarge(_))
        ));
    }
}

both_ports! {
    /// One document alone larger than the api takes in a request is skipped and reported; the
    /// collection goes on.
    async fn a_single_document_too_large_for_a_request_is_skipped_not_retried_forever(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on_with(pool, port, |c| c.fleet.sync_body_limit = 8 * 1024).await;
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        fleet
            .sim
            .insert("retail-demo", "products", doc! {"_id": "a", "v": 1})
            .unwrap();
        fleet
            .sim
            .insert(
                "retail-demo",
                "products",
                doc! {"_id": "b", "text": "z".repeat(12_000)},
            )
            .unwrap();
        fleet
            .sim
            .insert("retail-demo", "products", doc! {"_id": "c", "v": 3})
            .unwrap();
        let id = catalog_with(&fleet, json!({"fields": ["_id"], "initialSync": true})).await;
        let _w1 = start_worker(&fleet, "w1").await;
        let status = until_status(&fleet, id, "streaming with one skipped", |s| {
            s["collectionStatus"]["products"]["phase"] == "streaming"
                && s["counters"]["documentsSkipped"] == 1
        })
        .await;
        assert_eq!(status["status"], "running", "{status}");
        let docs = edge_docs(&fleet, "products").await;
        let ids: Vec<&str> = docs.iter().map(|d| d["_id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec!["a", "c"]);
        let events: Value = fleet
            .app
            .get(
                &format!(
                    "{}/events?q=document_too_large",
                    fleet.app.connector_path(fleet.app.app_id, id)
                ),
                &fleet.app.owner_key,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
    }
}

both_ports! {
    /// A running copy shows how far it is in the connector's status: copied of the estimated
    /// total, the rate and the time left; once it streams, the progress is gone.
    async fn a_running_copy_shows_its_progress_rate_and_eta(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        for i in 0..90 {
            fleet
                .sim
                .insert(
                    "retail-demo",
                    "products",
                    doc! {"_id": format!("p{i:03}"), "price": i},
                )
                .unwrap();
        }
        let id = catalog_with(&fleet, json!({"fields": ["_id"], "initialSync": true})).await;
        // 3 documents a batch at 30 documents/s: the copy takes about 3 s.
        let mut config = worker_settings(&fleet, "w1");
        config.supervisor.pipeline.scan_rate = 30;
        let mut worker = edgebridge_worker::Worker::register(config).await.unwrap();
        fleet.tick().await;
        step(&mut worker).await;

        let status = until_status(&fleet, id, "copy progress with a rate", |s| {
            let p = &s["collectionStatus"]["products"]["initialSync"];
            p["copied"].as_u64().is_some_and(|c| (15..90).contains(&c))
                && p["documentsPerSecond"].is_number()
        })
        .await;
        let progress = &status["collectionStatus"]["products"]["initialSync"];
        let copied = progress["copied"].as_u64().unwrap();
        assert_eq!(progress["estimatedTotal"], 90, "{progress}");
        let percent = progress["percent"].as_f64().unwrap();
        let expected = (copied as f64 / 90.0 * 1000.0).round() / 10.0;
        assert!((percent - expected).abs() < 1e-9, "{progress}");
        let rate = progress["documentsPerSecond"].as_f64().unwrap();
        // The cap is 30/s; the smoothed rate is in its neighbourhood, never far above it.
        assert!((5.0..=60.0).contains(&rate), "{progress}");
        let eta = progress["etaSeconds"].as_u64().unwrap();
        let expected_eta = ((90 - copied) as f64 / rate).ceil() as u64;
        assert!(eta.abs_diff(expected_eta) <= 1, "{progress}");
        assert!(progress["startedAt"].is_string() && progress["updatedAt"].is_string());
        assert_eq!(
            status["collectionStatus"]["products"]["phase"],
            "initial_sync"
        );

        let status = until_streaming(&fleet, id).await;
        assert!(
            status["collectionStatus"]["products"]
                .get("initialSync")
                .is_none(),
            "{status}"
        );
        assert_eq!(edge_docs(&fleet, "products").await.len(), 90);
    }
}

both_ports! {
    /// Stream batches are applied two at once, yet changes of one document land in MongoDB's order:
    /// a batch sharing a document with one in flight waits for it. Here the first batch is held up
    /// on a document the second does not touch; were the second applied meanwhile, its newer value
    /// of the document both touch would be overwritten by the first's older one.
    async fn a_stream_batch_waits_for_one_in_flight_that_shares_a_document(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        for id in ["p1", "p2", "p3"] {
            fleet
                .sim
                .insert("retail-demo", "products", doc! {"_id": id, "v": 0})
                .unwrap();
        }
        let id = catalog_with(&fleet, json!({"fields": ["_id"], "initialSync": true})).await;
        let mut config = worker_settings(&fleet, "w1");
        config.supervisor.pipeline.stream_batch = 2;
        let mut worker = edgebridge_worker::Worker::register(config).await.unwrap();
        fleet.tick().await;
        step(&mut worker).await;
        until_streaming(&fleet, id).await;
        until_edge(&fleet, "the copy", |d| d.len() == 3).await;

        // Hold p1's edge row: the batch [p1, p2] waits on it in the api.
        let mut hold = edgebridge_api::db::begin(&fleet.app.pool).await.unwrap();
        sqlx::query("select 1 from store_documents where doc_key = '\"p1\"' for update")
            .execute(&mut *hold)
            .await
            .unwrap();
        let set = |id: &str, v: i32| {
            fleet
                .sim
                .update(
                    "retail-demo",
                    "products",
                    &Bson::String(id.into()),
                    doc! {"v": v},
                )
                .unwrap()
        };
        // Batches of two: [p1 = 1, p2 = 1], then [p2 = 2, p3 = 1].
        set("p1", 1);
        set("p2", 1);
        set("p2", 2);
        set("p3", 1);
        tokio::time::sleep(Duration::from_millis(800)).await;
        hold.rollback().await.unwrap();
        let expected = vec![
            json!({"_id": "p1", "v": 1}),
            json!({"_id": "p2", "v": 2}),
            json!({"_id": "p3", "v": 1}),
        ];
        let docs = until_edge(&fleet, "each document's last value", |d| {
            d == expected.as_slice()
        })
        .await;
        assert_eq!(docs, expected);
    }
}

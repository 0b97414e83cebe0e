//! Reconfiguring a running connector: new credentials resume every stream where it was, an
//! added collection is copied, a removed one stops.

use super::{catalog_with, edge_docs, start_worker, until_edge, until_status, until_streaming};
use crate::fleet::{Fleet, Port, both_ports, step};
use bson::doc;
use edgebridge_mongo_sim::{CollectionOptions, SimUser};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

both_ports! {
    /// Reconfiguration: new credentials restart the run, which resumes every stream where it was
    /// (a change made meanwhile arrives, nothing is copied again); a collection added with
    /// `initialSync` is copied; a removed one stops.
    async fn reconfiguration_resumes_on_new_credentials_and_copies_an_added_collection(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
        fleet.sim.add_user(SimUser::read_write_admin(
            "rotated",
            "n3w-Pa55word",
            "retail-demo",
        ));
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        fleet
            .sim
            .create_collection("retail-demo", "stores", CollectionOptions::ready());
        fleet
            .sim
            .insert("retail-demo", "products", doc! {"_id": "p1"})
            .unwrap();
        fleet
            .sim
            .insert("retail-demo", "stores", doc! {"_id": "s1", "city": "Oslo"})
            .unwrap();
        let id = catalog_with(&fleet, json!({"fields": ["_id"], "initialSync": true})).await;
        let path = fleet.app.connector_path(fleet.app.app_id, id);
        let mut w1 = start_worker(&fleet, "w1").await;
        until_edge(&fleet, "initial sync", |d| d.len() == 1).await;
        until_streaming(&fleet, id).await;

        // New credentials: the plan says reconnect and resume.
        let res = fleet
            .app
            .patch(
                &path,
                &fleet.app.owner_key,
                &json!({"connectionString": fleet.connection_string("rotated", "n3w-Pa55word")}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["plan"]["connection"], "reconnectAndResume", "{body}");
        fleet
            .sim
            .insert("retail-demo", "products", doc! {"_id": "p2"})
            .unwrap();
        step(&mut w1).await;
        until_edge(&fleet, "the change made during the switch", |d| {
            d.len() == 2
        })
        .await;
        let status = until_status(&fleet, id, "streaming again", |s| {
            s["collectionStatus"]["products"]["phase"] == "streaming" && s["status"] == "running"
        })
        .await;
        assert_eq!(
            status["counters"]["documentsCopied"], 0,
            "resumed: {status}"
        );

        // Add `stores` with initialSync: it is copied.
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
        while edge_docs(&fleet, "stores").await.len() != 1 {
            assert!(Instant::now() < deadline, "stores was not copied");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Remove `products`: its checkpoint goes, so adding it back later starts afresh.
        let res = fleet
            .app
            .patch(
                &path,
                &fleet.app.owner_key,
                &json!({"collections": {"products": null}}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let (left,): (i64,) = sqlx::query_as(
            "select count(*) from connector_checkpoints where connector_id = $1 and collection = 'products'",
        )
        .bind(id)
        .fetch_one(&fleet.app.pool)
        .await
        .unwrap();
        assert_eq!(left, 0);
    }
}

/// Another application's steady inserts into `products` (`p0005`, `p0006`, ... one every 20 ms,
/// 200 at most) until `stop`; `inserted` counts them.
fn keep_inserting(
    sim: edgebridge_mongo_sim::Simulator,
    inserted: Arc<AtomicUsize>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for n in 5..205 {
            if stop.is_cancelled() {
                return;
            }
            sim.insert(
                "retail-demo",
                "products",
                doc! {"_id": format!("p{n:04}"), "n": n},
            )
            .unwrap();
            inserted.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

both_ports! {
    /// Credentials rotated while documents keep arriving: the connection string is switched to a
    /// second user's while another application inserts without pause. The run restarts on the
    /// new credentials and resumes where the old one stopped: every insert reaches the edge (the
    /// ones made before, during and after the switch), and nothing is copied again.
    async fn credentials_rotated_while_documents_keep_arriving_miss_nothing(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
        fleet.sim.add_user(SimUser::read_write_admin(
            "rotated",
            "n3w-Pa55word",
            "retail-demo",
        ));
        fleet
            .sim
            .create_collection("retail-demo", "products", CollectionOptions::ready());
        for n in 0..5 {
            fleet
                .sim
                .insert(
                    "retail-demo",
                    "products",
                    doc! {"_id": format!("p{n:04}"), "n": n},
                )
                .unwrap();
        }
        let id = catalog_with(&fleet, json!({"fields": ["_id"], "initialSync": true})).await;
        let path = fleet.app.connector_path(fleet.app.app_id, id);
        let mut w1 = start_worker(&fleet, "w1").await;
        until_edge(&fleet, "initial sync", |d| d.len() == 5).await;
        until_streaming(&fleet, id).await;

        let inserted = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let writer = keep_inserting(fleet.sim.clone(), inserted.clone(), stop.clone());
        // The rotation happens while the stream carries inserts.
        until_edge(&fleet, "inserts streaming before the switch", |d| {
            d.len() >= 10
        })
        .await;
        let res = fleet
            .app
            .patch(
                &path,
                &fleet.app.owner_key,
                &json!({"connectionString": fleet.connection_string("rotated", "n3w-Pa55word")}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["plan"]["connection"], "reconnectAndResume", "{body}");
        // The worker restarts the connector on the new credentials (its first report is in
        // when `step` returns); inserts go on meanwhile and after.
        step(&mut w1).await;
        let at_restart = 5 + inserted.load(Ordering::SeqCst);
        until_edge(&fleet, "inserts made after the restart", |d| {
            d.len() >= at_restart + 5
        })
        .await;
        stop.cancel();
        writer.await.unwrap();

        let total = 5 + inserted.load(Ordering::SeqCst);
        let expected: Vec<Value> = (0..total)
            .map(|n| json!({"_id": format!("p{n:04}"), "n": n}))
            .collect();
        let docs = until_edge(&fleet, "every insert", |d| d.len() == total).await;
        assert_eq!(docs, expected, "each insert exactly once, none missed");
        let status = until_status(&fleet, id, "streaming on the new credentials", |s| {
            s["collectionStatus"]["products"]["phase"] == "streaming" && s["status"] == "running"
        })
        .await;
        assert_eq!(
            status["counters"]["documentsCopied"], 0,
            "resumed, not re-copied: {status}"
        );
        let events: Value = fleet
            .app
            .get(
                &format!("{path}/events?q=connector_started"),
                &fleet.app.owner_key,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            events["items"].as_array().map(Vec::len),
            Some(2),
            "started once on each user's credentials: {events}"
        );
    }
}

//! Lag both ways and totals that outlive runs.

use super::{ApiStall, DB, get_json, streaming_catalog, streaming_catalog_via, until_connector};
use crate::fleet::{Fleet, Port};
use crate::pipeline::{start_worker, until_edge, until_streaming};
use bson::doc;
use sqlx::PgPool;
use std::time::Duration;

fn lag_in(s: &serde_json::Value) -> Option<u64> {
    s["lag"]["mongoToEdgeMs"].as_u64()
}

#[sqlx::test(migrations = false)]
async fn lag_grows_while_the_api_stalls_and_comes_back_to_zero(pool: PgPool) {
    let fleet = Fleet::on_with(pool, Port::Wire, |config| {
        config.fleet.lag_warn = Duration::from_secs(2);
    })
    .await;
    let proxy = ApiStall::start(&fleet).await;
    let (id, mut w) = streaming_catalog_via(&fleet, 3, Some(&proxy.url)).await;
    fleet
        .sim
        .insert(DB, "products", doc! {"_id": "p4"})
        .unwrap();
    until_edge(&fleet, "p4 streamed", |d| d.len() == 4).await;
    let caught_up = until_connector(&fleet, &mut w, id, "caught up", |s| {
        lag_in(s) == Some(0) && s["totals"]["applied"] == 1
    })
    .await;
    assert_eq!(caught_up["totals"]["copied"], 3, "{caught_up:#}");
    let rate = &caught_up["collectionStatus"]["products"]["throughput"];
    assert!(rate["mongoToEdgePerSec"].as_f64().unwrap() >= 0.0, "{rate}");
    assert!(caught_up["throughput"]["edgeToMongoPerSec"].is_number());
    let products = &caught_up["collectionStatus"]["products"];
    assert_eq!(products["lag"]["mongoToEdgeMs"], 0);
    assert!(products["lag"]["lastEventAt"].is_string(), "{products}");
    assert!(products["lastSyncedAt"].is_string(), "{products}");
    assert!(caught_up["lastSyncedAt"].is_string());
    assert_eq!(caught_up["health"]["state"], "green", "{caught_up:#}");
    // The write-back has started: nothing waits to go to MongoDB.
    assert_eq!(caught_up["lag"]["pendingWrites"], 0, "{caught_up:#}");
    assert_eq!(caught_up["lag"]["edgeToMongoMs"], 0);

    // The api takes no applies: the change is read but cannot be applied.
    proxy.stall(true);
    fleet
        .sim
        .insert(DB, "products", doc! {"_id": "p5"})
        .unwrap();
    let behind = until_connector(&fleet, &mut w, id, "a lag", |s| {
        lag_in(s).is_some_and(|l| l >= 2_500)
    })
    .await;
    let first = lag_in(&behind).unwrap();
    assert_eq!(behind["health"]["code"], "lag_high", "{behind:#}");
    assert_eq!(behind["health"]["state"], "yellow");
    let grown = until_connector(&fleet, &mut w, id, "a growing lag", |s| {
        lag_in(s).is_some_and(|l| l >= first + 1_000)
    })
    .await;
    assert!(
        grown["collectionStatus"]["products"]["lag"]["mongoToEdgeMs"]
            .as_u64()
            .unwrap()
            >= first + 1_000
    );
    proxy.stall(false);
    until_edge(&fleet, "p5 applied", |d| d.len() == 5).await;
    let back = until_connector(&fleet, &mut w, id, "caught up again", |s| {
        lag_in(s) == Some(0)
    })
    .await;
    assert_eq!(back["health"]["state"], "green", "{back:#}");
    assert_eq!(back["totals"]["applied"], 2);
}

#[sqlx::test(migrations = false)]
async fn totals_survive_a_worker_kill_and_a_move(pool: PgPool) {
    let fleet = Fleet::on(pool, Port::Wire).await;
    let (id, mut w1) = streaming_catalog(&fleet, 3).await;
    fleet
        .sim
        .insert(DB, "products", doc! {"_id": "p4"})
        .unwrap();
    until_connector(&fleet, &mut w1, id, "p4 counted", |s| {
        s["totals"]["applied"] == 1 && s["counters"]["changesApplied"] == 1
    })
    .await;
    let w1_id = w1.id().unwrap();
    w1.crash();
    fleet.silence(w1_id).await;
    let mut w2 = start_worker(&fleet, "w2").await;
    until_streaming(&fleet, id).await;
    fleet
        .sim
        .insert(DB, "products", doc! {"_id": "p5"})
        .unwrap();
    let moved = until_connector(&fleet, &mut w2, id, "p5 counted on w2", |s| {
        s["totals"]["applied"] == 2 && s["assignedWorker"]["name"] == "w2"
    })
    .await;
    // The run's counters start again; the totals go on (nothing copied twice).
    assert_eq!(moved["counters"]["changesApplied"], 1, "{moved:#}");
    assert_eq!(moved["totals"]["copied"], 3, "{moved:#}");
    assert_eq!(
        moved["collectionStatus"]["products"]["totals"]["applied"],
        2
    );
    // The move is in the lifecycle events.
    let path = format!(
        "{}/events?limit=100",
        fleet.app.connector_path(fleet.app.app_id, id)
    );
    let events = get_json(&fleet, &path).await;
    let codes: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"moved"), "{codes:?}");
    assert!(codes.contains(&"copy_started"), "{codes:?}");
    assert!(codes.contains(&"copy_finished"), "{codes:?}");
    let moved_event = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "moved")
        .unwrap();
    assert_eq!(moved_event["context"]["worker"], "w2");
}

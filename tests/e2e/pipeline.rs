//! MongoDB -> edge through the whole fleet: a worker's supervisor runs the collection's pipeline
//! on the simulator (initial sync, then the change stream) into the real Postgres edge store,
//! with checkpoints; a move to another worker resumes from them, nothing re-copied and nothing
//! missed. Waits are bounded polls of what a user would see (the edge store, the status).

use crate::fleet::{Fleet, step};
use crate::helpers::PASSWORD;
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
        "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@cluster0.example.net/"),
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

#[sqlx::test(migrations = false)]
async fn documents_arrive_by_initial_sync_then_changes_stream_and_a_move_resumes(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
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
            "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@cluster0.example.net/"),
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

#[sqlx::test(migrations = false)]
async fn a_filtered_collection_syncs_exactly_the_matching_documents(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
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
        "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@cluster0.example.net/"),
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
        "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@cluster0.example.net/"),
        "database": "retail-demo",
        "collections": {"products": {"fields": ["_id"], "initialSync": true}},
        "onHistoryLost": on_history_lost,
    });
    crate::helpers::id_of(&fleet.app.create_connector(&spec).await)
}

#[sqlx::test(migrations = false)]
async fn a_lost_resume_point_fails_the_collection_until_a_resync_copies_it_again(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
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

#[sqlx::test(migrations = false)]
async fn with_on_history_lost_resync_the_collection_is_copied_again_and_says_so(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
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

/// A batch larger than the api takes is split (the first part with the previous checkpoint,
/// the last with the new one) instead of failing the connector.
#[sqlx::test(migrations = false)]
async fn a_batch_too_large_for_the_api_goes_in_parts(pool: PgPool) {
    let fleet = Fleet::with(pool, |c| c.fleet.sync_body_limit = 8 * 1024).await;
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
    assert_eq!(status["counters"]["changesApplied"], 60);
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

/// A collection mapped by another field: a change of that field moves the document to its new
/// edge id (the old one goes), and a delete finds the edge document through the pre-image.
#[sqlx::test(migrations = false)]
async fn a_changed_mapped_id_moves_the_edge_document(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
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

/// Reconfiguration: new credentials restart the run, which resumes every stream where it was
/// (a change made meanwhile arrives, nothing is copied again); a collection added with
/// `initialSync` is copied; a removed one stops.
#[sqlx::test(migrations = false)]
async fn reconfiguration_resumes_on_new_credentials_and_copies_an_added_collection(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    fleet
        .sim
        .add_user(edgebridge_mongo_sim::SimUser::read_write_admin(
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
            &json!({"connectionString": "mongodb+srv://rotated:n3w-Pa55word@cluster0.example.net/"}),
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

/// One document alone larger than the api takes in a request is skipped and reported; the
/// collection goes on.
#[sqlx::test(migrations = false)]
async fn a_single_document_too_large_for_a_request_is_skipped_not_retried_forever(pool: PgPool) {
    let fleet = Fleet::with(pool, |c| c.fleet.sync_body_limit = 8 * 1024).await;
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

/// A running copy shows how far it is in the connector's status: copied of the estimated
/// total, the rate and the time left; once it streams, the progress is gone.
#[sqlx::test(migrations = false)]
async fn a_running_copy_shows_its_progress_rate_and_eta(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
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

/// A connector that claims to run while a collection's change stream has stopped answering
/// shows it: health yellow `stream_stalled` naming the collection, red after five times the
/// threshold, and green again once the stream answers (what happened meanwhile arrives).
#[sqlx::test(migrations = false)]
async fn a_stream_that_stops_answering_turns_health_yellow_then_red(pool: PgPool) {
    let fleet = Fleet::with(pool, |c| {
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
        s["collectionStatus"]["products"]["phase"] == "streaming" && s["health"]["state"] == "green"
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

/// Stream batches are applied two at once, yet changes of one document land in MongoDB's order:
/// a batch sharing a document with one in flight waits for it. Here the first batch is held up
/// on a document the second does not touch; were the second applied meanwhile, its newer value
/// of the document both touch would be overwritten by the first's older one.
#[sqlx::test(migrations = false)]
async fn a_stream_batch_waits_for_one_in_flight_that_shares_a_document(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
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

//! Edge -> MongoDB through the whole fleet on the simulator: device writes reach MongoDB with
//! their BSON types, in transactions on the connector's recorded session; their echoes do not
//! come back; a document MongoDB refuses is recorded as unsynced and the rest goes on.

use crate::fleet::{Fleet, step};
use crate::helpers::PASSWORD;
use crate::pipeline::{edge_docs, start_worker, until_edge, until_status, until_streaming};
use bson::{Bson, doc, oid::ObjectId};
use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo_sim::{CollectionOptions, Simulator};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

const DB: &str = "retail-demo";

async fn execute(fleet: &Fleet, statement: &str) {
    let res = fleet
        .app
        .post(
            &format!("/v1/apps/{}/store/execute", fleet.app.app_id),
            &fleet.app.owner_key,
            &json!({"statement": statement}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{statement}");
}

/// Polls the simulator until `check` holds for `products` (20 s at most).
async fn until_mongo(
    sim: &Simulator,
    what: &str,
    check: impl Fn(&[bson::Document]) -> bool,
) -> Vec<bson::Document> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let docs = sim.documents(DB, "products");
        if check(&docs) {
            return docs;
        }
        assert!(Instant::now() < deadline, "{what}: MongoDB holds {docs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connector(fleet: &Fleet, validator: Option<bson::Document>) -> Uuid {
    fleet.sim.create_collection(
        DB,
        "products",
        CollectionOptions {
            validator,
            ..CollectionOptions::ready()
        },
    );
    let spec = json!({
        "name": "catalog",
        "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@cluster0.example.net/"),
        "database": DB,
        "collections": {"products": {"fields": ["_id"], "initialSync": true}},
    });
    crate::helpers::id_of(&fleet.app.create_connector(&spec).await)
}

#[sqlx::test(migrations = false)]
async fn device_writes_reach_mongodb_with_their_types_and_do_not_echo(pool: sqlx::PgPool) {
    let fleet = Fleet::new(pool).await;
    let oid = ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60718").unwrap();
    let placed = bson::DateTime::from_millis(1_714_557_600_000);
    let id = connector(&fleet, None).await;
    fleet
        .sim
        .insert(
            DB,
            "products",
            doc! {"_id": oid, "name": "lamp", "placedAt": placed, "stock": 5_i64},
        )
        .unwrap();
    let _w1 = start_worker(&fleet, "w1").await;
    until_edge(&fleet, "initial sync", |d| d.len() == 1).await;
    until_streaming(&fleet, id).await;

    // A device edits the MongoDB document and creates another; then deletes nothing yet.
    execute(
        &fleet,
        "UPDATE products SET name = 'desk lamp', stock = 4 WHERE _id = '64b7f0c2a1b2c3d4e5f60718'",
    )
    .await;
    execute(
        &fleet,
        "INSERT INTO products DOCUMENTS ({'_id': 'p2', 'name': 'chair', 'tags': ['a', 'b']})",
    )
    .await;
    let docs = until_mongo(&fleet.sim, "device writes", |d| {
        d.len() == 2
            && d.iter()
                .any(|x| x.get_str("name").ok() == Some("desk lamp"))
    })
    .await;
    let lamp = fleet
        .sim
        .find(DB, "products", &Bson::ObjectId(oid))
        .unwrap();
    assert_eq!(
        lamp.get_datetime("placedAt").unwrap(),
        &placed,
        "a date stays a date"
    );
    assert_eq!(
        lamp.get("stock"),
        Some(&Bson::Int64(4)),
        "an int64 stays one"
    );
    assert!(
        docs.iter()
            .any(|d| d.get("_id") == Some(&Bson::String("p2".into())))
    );

    // The writes came from the connector's session, which it recorded.
    let sessions = fleet.sim.documents(DB, SESSIONS_COLLECTION);
    assert!(
        sessions
            .iter()
            .any(|s| s.get_str("connectorId").ok() == Some(id.to_string().as_str())),
        "{sessions:?}"
    );
    let status = until_status(&fleet, id, "written back", |s| {
        s["counters"]["documentsWrittenBack"] == 2
    })
    .await;
    // Their echoes are checked, not applied: nothing was written to the edge by the stream.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status_after = fleet.status(id).await;
    assert_eq!(
        status_after["counters"]["changesApplied"], status["counters"]["changesApplied"],
        "{status_after}"
    );
    assert_eq!(
        status_after["counters"]["documentsWrittenBack"], 2,
        "no ping-pong"
    );

    // A delete on the device deletes in MongoDB (by the ObjectId, restored from the types).
    execute(
        &fleet,
        "DELETE FROM products WHERE _id = '64b7f0c2a1b2c3d4e5f60718'",
    )
    .await;
    until_mongo(&fleet.sim, "device delete", |d| d.len() == 1).await;
    assert_eq!(edge_docs(&fleet, "products").await.len(), 1);

    // A MongoDB change still arrives on the edge.
    fleet
        .sim
        .update(
            DB,
            "products",
            &Bson::String("p2".into()),
            doc! {"name": "stool"},
        )
        .unwrap();
    until_edge(&fleet, "MongoDB change", |d| {
        d.len() == 1 && d[0]["name"] == "stool"
    })
    .await;
}

#[sqlx::test(migrations = false)]
async fn a_document_mongodb_refuses_is_recorded_as_unsynced_and_the_rest_goes_on(
    pool: sqlx::PgPool,
) {
    let fleet = Fleet::new(pool).await;
    let validator = doc! {"$jsonSchema": {"required": ["name"], "properties": {"name": {"bsonType": "string"}}}};
    let id = connector(&fleet, Some(validator)).await;
    let _w1 = start_worker(&fleet, "w1").await;
    until_streaming(&fleet, id).await;

    execute(
        &fleet,
        "INSERT INTO products DOCUMENTS ({'_id': 'bad', 'price': 3})",
    )
    .await;
    execute(
        &fleet,
        "INSERT INTO products DOCUMENTS ({'_id': 'good', 'name': 'ok'})",
    )
    .await;
    until_mongo(&fleet.sim, "the valid document", |d| d.len() == 1).await;
    let status = until_status(&fleet, id, "unsynced counted", |s| {
        s["counters"]["documentsUnsynced"] == 1
    })
    .await;
    assert_eq!(status["status"], "running", "{status}");
    let records = fleet.sim.documents(DB, UNSYNCED_DOCUMENTS_COLLECTION);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record.get_str("collection").ok(), Some("products"));
    assert_eq!(record.get_str("code").ok(), Some("schema_validation"));
    assert_eq!(record.get_str("edgeId").ok(), Some("\"bad\""));
    assert!(record.get_str("document").unwrap().contains("\"price\""));
    let res = fleet
        .app
        .get(
            &format!(
                "{}/events?q=document_unsynced",
                fleet.app.connector_path(fleet.app.app_id, id)
            ),
            &fleet.app.owner_key,
        )
        .await;
    let events: serde_json::Value = res.json().await.unwrap();
    assert!(
        events["items"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["code"] == "document_unsynced")),
        "{events}"
    );

    // Fixed on the device: it is written, and its record goes.
    execute(
        &fleet,
        "UPDATE products SET name = 'fixed' WHERE _id = 'bad'",
    )
    .await;
    until_mongo(&fleet.sim, "the fixed document", |d| d.len() == 2).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fleet
        .sim
        .documents(DB, UNSYNCED_DOCUMENTS_COLLECTION)
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the record stays");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// History lost while no worker ran, `onHistoryLost: resync`: the new copy brings what changed,
/// and its sweep removes the edge document MongoDB deleted meanwhile; a device's document that
/// reached MongoDB is seen by the copy and stays, as does one a device wrote during the outage
/// (not in MongoDB yet: the write-back takes it there).
#[sqlx::test(migrations = false)]
async fn a_resync_after_lost_history_sweeps_what_mongodb_deleted(pool: sqlx::PgPool) {
    let fleet = Fleet::new(pool).await;
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
        "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@cluster0.example.net/"),
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
    crate::fleet::step(&mut w2).await;
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

/// Adding a collection to a running connector copies what MongoDB has of it, and keeps the edge
/// documents devices created while it was not synced: its first copy does not sweep them
/// (MongoDB never had them) but queues them for the write-back, which takes them to MongoDB
/// although its position is already past their changes. An unseen document a connector wrote
/// last (MongoDB had it, and no longer has) leaves the edge, as in any sweep.
#[sqlx::test(migrations = false)]
async fn an_added_collection_keeps_what_devices_created_before_and_writes_it_back(
    pool: sqlx::PgPool,
) {
    use base64::Engine as _;
    let fleet = Fleet::new(pool).await;
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
    let want = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{tx}:{change}"));
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

/// A device editing the edge while a collection is being copied again keeps its edits: the copy
/// does not overwrite a field changed, or bring back a document deleted, since it began (the
/// copied value is MongoDB's older one), and the write-back takes the edits to MongoDB.
#[sqlx::test(migrations = false)]
async fn device_edits_made_during_a_resync_survive_it_and_reach_mongodb(pool: sqlx::PgPool) {
    let fleet = Fleet::new(pool).await;
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
    // Settled: the edge still holds the edits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let docs = edge_docs(&fleet, "products").await;
    assert_eq!(docs.len(), 29);
    assert!(docs.iter().any(|d| d["_id"] == "p29" && d["v"] == 99));
}

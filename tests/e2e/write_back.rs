//! Edge -> MongoDB through the whole fleet on the simulator: device writes reach MongoDB with
//! their BSON types, in transactions on the connector's recorded session; their echoes do not
//! come back; a document MongoDB refuses is recorded as unsynced and the rest goes on; a primary
//! stepping down mid-transaction costs a retry, not a duplicate. `resync` holds the write-back
//! around copies (a resync, an added collection).
//!
//! Every test runs over both MongoDB ports (`both_ports!`): the simulator's in-process port, and
//! the shipped driver adapter against the simulator's wire front. Both serve one simulator, so
//! what MongoDB holds is read from it directly either way.

mod limits;
mod resync;
mod unsynced;

use crate::fleet::{Fleet, Port, both_ports};
use crate::pipeline::{edge_docs, start_worker, until_edge, until_status, until_streaming};
use bson::{Bson, doc, oid::ObjectId};
use edgebridge_domain::names::{SESSIONS_COLLECTION, UNSYNCED_DOCUMENTS_COLLECTION};
use edgebridge_mongo_sim::{CollectionOptions, Fault, Simulator};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;
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
        "connectionString": fleet.uri(),
        "database": DB,
        "collections": {"products": {"fields": ["_id"], "initialSync": true}},
    });
    crate::helpers::id_of(&fleet.app.create_connector(&spec).await)
}

both_ports! {
    async fn device_writes_reach_mongodb_with_their_types_and_do_not_echo(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
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
        until_status(&fleet, id, "written back", |s| {
            s["counters"]["documentsWrittenBack"] == 2
        })
        .await;

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

        // The device's three writes came back on the stream as echoes, before the stool change
        // (MongoDB's order): they were checked, not applied. The stream applied one change in
        // all, the stool (the lamp was copied), and the write-back wrote nothing more (no
        // ping-pong). The stool change is the barrier: no waiting for something not to happen.
        let status = until_status(&fleet, id, "the stool change counted", |s| {
            s["counters"]["changesApplied"].as_u64() >= Some(1)
        })
        .await;
        assert_eq!(status["counters"]["changesApplied"], 1, "{status}");
        assert_eq!(status["counters"]["documentsCopied"], 1, "{status}");
        assert_eq!(
            status["counters"]["documentsWrittenBack"], 3,
            "no ping-pong: {status}"
        );
    }
}

both_ports! {
    async fn a_document_mongodb_refuses_is_recorded_as_unsynced_and_the_rest_goes_on(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
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
}

both_ports! {
    /// The primary steps down while the write-back commits a device's write: MongoDB refuses
    /// the transaction (`NotWritablePrimary`, a transient error), the write-back commits it
    /// again, and the write arrives in MongoDB once (one transactional change). The primary is
    /// back at once (re-elected), so the write-back goes on: the device's next write arrives
    /// too, nothing is recorded as unsynced, and the connector runs.
    async fn a_stepdown_mid_transaction_costs_a_retry_not_a_duplicate(pool: PgPool, port: Port) {
        let fleet = Fleet::on(pool, port).await;
        let id = connector(&fleet, None).await;
        fleet
            .sim
            .insert(DB, "products", doc! {"_id": "p1", "name": "lamp"})
            .unwrap();
        let _w1 = start_worker(&fleet, "w1").await;
        until_edge(&fleet, "initial sync", |d| d.len() == 1).await;
        until_streaming(&fleet, id).await;

        fleet.sim.inject(Fault::StepDown { count: 1 });
        execute(
            &fleet,
            "UPDATE products SET name = 'desk lamp' WHERE _id = 'p1'",
        )
        .await;
        until_mongo(&fleet.sim, "the write made across the stepdown", |d| {
            d.len() == 1 && d[0].get_str("name").ok() == Some("desk lamp")
        })
        .await;
        assert_eq!(
            fleet.sim.session_writes(DB, "products"),
            1,
            "committed once"
        );
        fleet.assert_faults_spent(0).await;

        execute(
            &fleet,
            "INSERT INTO products DOCUMENTS ({'_id': 'p2', 'name': 'chair'})",
        )
        .await;
        let docs = until_mongo(&fleet.sim, "the next write", |d| d.len() == 2).await;
        assert_eq!(
            docs,
            vec![
                doc! {"_id": "p1", "name": "desk lamp"},
                doc! {"_id": "p2", "name": "chair"}
            ]
        );
        assert_eq!(
            fleet.sim.session_writes(DB, "products"),
            2,
            "each committed once"
        );
        let status = until_status(&fleet, id, "both written back", |s| {
            s["counters"]["documentsWrittenBack"] == 2
        })
        .await;
        assert_eq!(status["counters"]["documentsUnsynced"], 0, "{status}");
        assert_eq!(status["status"], "running", "{status}");
        assert!(
            fleet
                .sim
                .documents(DB, UNSYNCED_DOCUMENTS_COLLECTION)
                .is_empty()
        );
    }
}

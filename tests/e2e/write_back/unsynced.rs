//! Unsynced documents, first class: each record the write-back keeps in the customer's
//! `__edgebridge_unsynced_documents` is mirrored by the api and listed (filtered by collection
//! and code), read with the edge document, retried (one, or in bulk by filter: the edge document
//! goes back to the write-back unchanged, and once the user relaxed the validator it lands and
//! its record leaves MongoDB and the list) and discarded (the worker deletes the MongoDB
//! record). Another tenant sees none of it. The mirror is put right when a run starts.
//!
//! Workers are stepped by hand in every wait (their lease would run out otherwise).

use super::{DB, connector, execute, until_mongo};
use crate::fleet::{Fleet, Port, both_ports, step};
use crate::helpers::{assert_problem, error_paths};
use crate::pipeline::{until_streaming, worker_settings};
use bson::doc;
use edgebridge_domain::names::UNSYNCED_DOCUMENTS_COLLECTION;
use edgebridge_worker::Worker;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// `products` refuses a document without a string `name`.
fn validator() -> bson::Document {
    doc! {"$jsonSchema": {"required": ["name"], "properties": {"name": {"bsonType": "string"}}}}
}

/// A worker whose write-back polls the edge feed for a second at most, so it turns to
/// requested discards quickly.
async fn worker(fleet: &Fleet, name: &str) -> Worker {
    let mut settings = worker_settings(fleet, name);
    settings.supervisor.pipeline.feed_wait_secs = 1;
    let mut w = Worker::register(settings).await.unwrap();
    fleet.tick().await;
    step(&mut w).await;
    w
}

fn unsynced_path(fleet: &Fleet, id: Uuid) -> String {
    format!(
        "{}/unsynced",
        fleet.app.connector_path(fleet.app.app_id, id)
    )
}

async fn list(fleet: &Fleet, id: Uuid, query: &str) -> Value {
    let res = fleet
        .app
        .get(
            &format!("{}{query}", unsynced_path(fleet, id)),
            &fleet.app.owner_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Polls the list (stepping the worker) until `check` holds for its items (20 s at most).
async fn until_listed(
    fleet: &Fleet,
    w: &mut Worker,
    id: Uuid,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = list(fleet, id, "").await;
        let items = page["items"].as_array().unwrap().clone();
        if check(&items) {
            return items;
        }
        assert!(Instant::now() < deadline, "{what}: listed {page}");
        step(w).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls MongoDB's records (stepping the worker) until `check` holds for them.
async fn until_records(
    fleet: &Fleet,
    w: &mut Worker,
    what: &str,
    check: impl Fn(&[bson::Document]) -> bool,
) -> Vec<bson::Document> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let records = fleet.sim.documents(DB, UNSYNCED_DOCUMENTS_COLLECTION);
        if check(&records) {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: MongoDB records {records:?}"
        );
        step(w).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn item<'a>(items: &'a [Value], document_id: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["documentId"] == document_id)
        .unwrap_or_else(|| panic!("{document_id} is not listed: {items:?}"))
}

both_ports! {
    async fn a_refused_document_is_listed_and_lands_once_retried_after_the_validator_is_relaxed(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
        let id = connector(&fleet, Some(validator())).await;
        let mut w = worker(&fleet, "w1").await;
        until_streaming(&fleet, id).await;
        execute(&fleet, "INSERT INTO products DOCUMENTS ({'_id': 'bad', 'price': 3})").await;
        execute(&fleet, "INSERT INTO products DOCUMENTS ({'_id': 'good', 'name': 'ok'})").await;
        until_mongo(&fleet.sim, "the valid document", |d| d.len() == 1).await;

        // Listed with MongoDB's refusal, as recorded in MongoDB.
        let items = until_listed(&fleet, &mut w, id, "the refusal mirrored", |i| i.len() == 1).await;
        let record = &items[0];
        assert_eq!(record["collection"], "products", "{record}");
        assert_eq!(record["documentId"], "bad", "{record}");
        assert_eq!(record["code"], "schema_validation", "{record}");
        assert_eq!(record["state"], "open", "{record}");
        assert_eq!(record["attempts"], 1, "{record}");
        let records = fleet.sim.documents(DB, UNSYNCED_DOCUMENTS_COLLECTION);
        assert_eq!(records.len(), 1);
        assert_eq!(
            record["mongoRecordId"].as_str(),
            records[0].get_str("_id").ok(),
            "{record}"
        );
        let record_id = record["id"].as_str().unwrap().to_owned();
        let record_path = format!("{}/{record_id}", unsynced_path(&fleet, id));

        // Filters, and bad ones with their paths.
        let page = list(&fleet, id, "?collection=products&code=schema_validation").await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
        let page = list(&fleet, id, "?code=duplicate_key").await;
        assert!(page["items"].as_array().unwrap().is_empty(), "{page}");
        assert!(page["nextCursor"].is_null(), "{page}");
        for (query, path) in [("?code=Not-A-Code", "/code"), ("?limit=0", "/limit"), ("?after=zzz", "/after")] {
            let res = fleet
                .app
                .get(&format!("{}{query}", unsynced_path(&fleet, id)), &fleet.app.owner_key)
                .await;
            let code = if path == "/after" { "invalid_cursor" } else { "invalid_query_parameter" };
            let problem = assert_problem(res, StatusCode::BAD_REQUEST, code).await;
            assert_eq!(error_paths(&problem), vec![path.to_owned()], "{problem}");
        }

        // Read with the edge document as it is now.
        let res = fleet.app.get(&record_path, &fleet.app.owner_key).await;
        assert_eq!(res.status(), StatusCode::OK);
        let detail: Value = res.json().await.unwrap();
        assert_eq!(detail["edgeDocument"], json!({"_id": "bad", "price": 3}), "{detail}");
        assert_eq!(detail["code"], "schema_validation", "{detail}");

        // Another tenant sees nothing of it, and can do nothing to it.
        let (_, other_key) = fleet.app.create_org("other").await;
        let unsynced = unsynced_path(&fleet, id);
        for res in [
            fleet.app.get(&unsynced, &other_key).await,
            fleet.app.get(&record_path, &other_key).await,
            fleet.app.post(&format!("{record_path}/retry"), &other_key, &json!({})).await,
            fleet.app.post(&format!("{unsynced}/retry"), &other_key, &json!({})).await,
            fleet.app.delete(&record_path, &other_key).await,
        ] {
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        }
        let unknown = format!("{}/{}", unsynced, Uuid::now_v7());
        let res = fleet.app.get(&unknown, &fleet.app.owner_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

        // The DBA relaxes the validator; a retry writes the edge document unchanged.
        fleet.sim.set_validator(DB, "products", None);
        let res = fleet
            .app
            .post(&format!("{record_path}/retry"), &fleet.app.owner_key, &json!({}))
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let retried: Value = res.json().await.unwrap();
        assert_eq!(retried["state"], "retrying", "{retried}");
        assert!(retried["retriedAt"].is_string(), "{retried}");
        until_records(&fleet, &mut w, "the record removed", <[_]>::is_empty).await;
        let bad = fleet.sim.find(DB, "products", &bson::Bson::String("bad".into()));
        assert_eq!(bad, Some(doc! {"_id": "bad", "price": 3}));
        until_listed(&fleet, &mut w, id, "the mirror emptied", <[_]>::is_empty).await;
        let res = fleet.app.get(&record_path, &fleet.app.owner_key).await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        step(&mut w).await;
    }
}

both_ports! {
    async fn bulk_retries_requeue_by_filter_and_a_discard_removes_the_mongodb_record(
        pool: PgPool,
        port: Port,
    ) {
        let fleet = Fleet::on(pool, port).await;
        let id = connector(&fleet, Some(validator())).await;
        let mut w = worker(&fleet, "w1").await;
        until_streaming(&fleet, id).await;
        for name in ["a", "b", "c"] {
            execute(&fleet, &format!("INSERT INTO products DOCUMENTS ({{'_id': '{name}', 'price': 1}})")).await;
        }
        until_listed(&fleet, &mut w, id, "three refusals", |i| i.len() == 3).await;
        let page = list(&fleet, id, "?limit=2").await;
        assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
        let next = page["nextCursor"].as_str().unwrap();
        let rest = list(&fleet, id, &format!("?limit=2&after={next}")).await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 1, "{rest}");
        assert!(rest["nextCursor"].is_null(), "{rest}");

        // Bulk retries are bounded and say what is left; still refused, they are open again
        // with one more attempt.
        let bulk = |query: &'static str| {
            let fleet = &fleet;
            async move {
                let res = fleet
                    .app
                    .post(&format!("{}/retry{query}", unsynced_path(fleet, id)), &fleet.app.owner_key, &json!({}))
                    .await;
                assert_eq!(res.status(), StatusCode::ACCEPTED);
                res.json::<Value>().await.unwrap()
            }
        };
        let none = bulk("?collection=orders").await;
        assert_eq!(none, json!({"requeued": 0, "withoutEdgeDocument": 0, "remaining": 0}));
        let res = fleet
            .app
            .post(&format!("{}/retry?code=NOPE", unsynced_path(&fleet, id)), &fleet.app.owner_key, &json!({}))
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_query_parameter").await;
        let first = bulk("?code=schema_validation&limit=2").await;
        assert_eq!(first, json!({"requeued": 2, "withoutEdgeDocument": 0, "remaining": 1}));
        let items = until_listed(&fleet, &mut w, id, "refused again", |i| {
            i.iter().filter(|r| r["attempts"] == 2 && r["state"] == "open").count() == 2
        })
        .await;
        let c = items
            .iter()
            .find(|r| r["attempts"] == 1)
            .unwrap_or_else(|| panic!("the third was not retried: {items:?}"));
        let left = c["documentId"].as_str().unwrap().to_owned();
        let retried: Vec<&str> = ["a", "b", "c"].into_iter().filter(|n| *n != left).collect();
        assert_eq!(item(&items, retried[0])["attempts"], 2);

        // A discard: shown as requested, then the worker deletes the MongoDB record.
        let c_path = format!("{}/{}", unsynced_path(&fleet, id), c["id"].as_str().unwrap());
        let res = fleet.app.delete(&c_path, &fleet.app.owner_key).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let discarding: Value = res.json().await.unwrap();
        assert_eq!(discarding["state"], "discardRequested", "{discarding}");
        let res = fleet.app.post(&format!("{c_path}/retry"), &fleet.app.owner_key, &json!({})).await;
        assert_problem(res, StatusCode::CONFLICT, "discard_requested").await;
        let c_record = c["mongoRecordId"].as_str().unwrap().to_owned();
        until_records(&fleet, &mut w, "the discarded record deleted", |r| {
            r.len() == 2 && r.iter().all(|d| d.get_str("_id").ok() != Some(c_record.as_str()))
        })
        .await;
        until_listed(&fleet, &mut w, id, "the discarded record unlisted", |i| i.len() == 2).await;

        // Once the validator is relaxed, a bulk retry lands the other two.
        fleet.sim.set_validator(DB, "products", None);
        let second = bulk("").await;
        assert_eq!(second, json!({"requeued": 2, "withoutEdgeDocument": 0, "remaining": 0}));
        let docs = until_mongo(&fleet.sim, "the retried documents", |d| d.len() == 2).await;
        let expected: Vec<bson::Document> =
            retried.iter().map(|n| doc! {"_id": *n, "price": 1}).collect();
        assert_eq!(docs, expected, "the discarded one stays on the edge only");
        until_records(&fleet, &mut w, "the records removed", <[_]>::is_empty).await;
        until_listed(&fleet, &mut w, id, "the mirror emptied", <[_]>::is_empty).await;
        step(&mut w).await;
    }
}

/// The mirror is put right when a run starts: a report lost with its worker (here: the row
/// deleted), and a record someone removed in MongoDB meanwhile.
#[sqlx::test(migrations = false)]
async fn a_new_run_reconciles_the_mirror_with_mongodb(pool: PgPool) {
    let fleet = Fleet::on(pool, Port::InProcess).await;
    let id = connector(&fleet, Some(validator())).await;
    let mut w1 = worker(&fleet, "w1").await;
    until_streaming(&fleet, id).await;
    execute(
        &fleet,
        "INSERT INTO products DOCUMENTS ({'_id': 'a', 'price': 1})",
    )
    .await;
    execute(
        &fleet,
        "INSERT INTO products DOCUMENTS ({'_id': 'b', 'price': 1})",
    )
    .await;
    until_listed(&fleet, &mut w1, id, "two refusals", |i| i.len() == 2).await;
    let w1_id = w1.id().unwrap();
    w1.crash();
    fleet.silence(w1_id).await;
    let records = fleet.sim.documents(DB, UNSYNCED_DOCUMENTS_COLLECTION);
    let a = records
        .iter()
        .find(|r| r.get_str("edgeId").ok() == Some("\"a\""))
        .unwrap();
    fleet
        .sim
        .delete(DB, UNSYNCED_DOCUMENTS_COLLECTION, a.get("_id").unwrap())
        .unwrap();
    sqlx::query("delete from unsynced_documents where document_id = '\"b\"'")
        .execute(&fleet.app.pool)
        .await
        .unwrap();

    let mut w2 = worker(&fleet, "w2").await;
    let items = until_listed(&fleet, &mut w2, id, "reconciled", |i| {
        i.len() == 1 && i[0]["documentId"] == "b"
    })
    .await;
    assert_eq!(items[0]["code"], "schema_validation", "{items:?}");
    assert_eq!(
        items[0]["attempts"], 1,
        "a reconcile counts no attempt: {items:?}"
    );
    step(&mut w2).await;
}

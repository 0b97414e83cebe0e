//! One document with its type metadata (`GET .../store/collections/{c}/documents/{id}`): a
//! connector's document with the BSON types and counters the mapping preview promised, a DQL
//! document without types, ids that are JSON, viewers, and what answers 404.

use crate::fleet::Fleet;
use crate::helpers::*;
use crate::pipeline::{catalog_with, start_worker, until_edge};
use bson::oid::ObjectId;
use bson::{Bson, doc};
use edgebridge_mongo_sim::CollectionOptions;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// The document's path, each segment URL-encoded.
fn document_path(app: Uuid, collection: &str, id: &str) -> String {
    let mut url = reqwest::Url::parse("http://edgebridge/").unwrap();
    url.path_segments_mut().unwrap().extend([
        "v1",
        "apps",
        &app.to_string(),
        "store",
        "collections",
        collection,
        "documents",
        id,
    ]);
    url.path().to_owned()
}

impl TestApp {
    /// The document view of `id` in the default app, read with `key` (must answer 200).
    async fn document_view_as(&self, key: &str, collection: &str, id: &str) -> Value {
        let res = self
            .get(&document_path(self.app_id, collection, id), key)
            .await;
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{collection}/{id}: {body}");
        body
    }

    async fn document_view(&self, collection: &str, id: &str) -> Value {
        self.document_view_as(&self.owner_key, collection, id).await
    }
}

#[sqlx::test(migrations = false)]
async fn a_connectors_document_answers_with_the_types_and_counters_the_preview_promised(
    pool: PgPool,
) {
    // Arrange: a native-mode connector copies a document with typed fields and a counter.
    let fleet = Fleet::new(pool).await;
    let app = &fleet.app;
    fleet
        .sim
        .create_collection("retail-demo", "products", CollectionOptions::ready());
    let oid = ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60718").unwrap();
    let mongo = doc! {
        "_id": oid,
        "name": "mug",
        "price": 2.5,
        "stock": 40_i64,
        "quantity": 3,
        "placedAt": bson::DateTime::from_millis(1_714_557_600_000),
        "dims": {"w": 3_i64, "h": 4},
    };
    fleet
        .sim
        .insert("retail-demo", "products", mongo.clone())
        .unwrap();
    let connector = catalog_with(
        &fleet,
        json!({"fields": ["_id"], "initialSync": true, "settableCounters": ["quantity"],
               "dqlStrictMode": false}),
    )
    .await;
    let _worker = start_worker(&fleet, "w1").await;
    let edge = until_edge(&fleet, "the copy", |d| d.len() == 1).await;
    let preview: Value = app
        .post(
            &format!("/v1/apps/{}/connectors/preview", app.app_id),
            &app.owner_key,
            &json!({"connectorId": connector, "collectionName": "products",
                    "documents": [Bson::Document(mongo).into_canonical_extjson()]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let promised = &preview["results"][0];

    // Act
    let view = app
        .document_view("products", "64b7f0c2a1b2c3d4e5f60718")
        .await;

    // Assert: the value a SELECT reads, the metadata the preview showed.
    assert_eq!(view["collection"], "products");
    assert_eq!(view["documentId"], "64b7f0c2a1b2c3d4e5f60718");
    assert_eq!(view["documentId"], promised["edgeId"]);
    assert_eq!(view["document"], edge[0]);
    assert_eq!(view["types"], promised["types"], "{view}");
    assert_eq!(view["counters"], json!(["quantity"]));
    assert_eq!(view["counters"], promised["counters"]);
    let types = &view["types"];
    assert_eq!(
        (
            &types["_id"],
            &types["price"],
            &types["stock"],
            &types["placedAt"]
        ),
        (
            &json!("objectId"),
            &json!("double"),
            &json!("long"),
            &json!("date")
        ),
        "{types}"
    );
    assert_eq!(types["dims"]["w"], "long", "{types}");
    assert_eq!(
        view["lastWrite"]["actor"],
        format!("connector:{connector}").as_str()
    );

    // A device's increment: still a counter, the connector's types kept beside it.
    let res = app
        .post(
            &format!("/v1/apps/{}/store/execute", app.app_id),
            &app.owner_key,
            &json!({"statement": "UPDATE products APPLY quantity INCREMENT BY 2 WHERE _id = :id",
                    "args": {"id": "64b7f0c2a1b2c3d4e5f60718"}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let after = app
        .document_view("products", "64b7f0c2a1b2c3d4e5f60718")
        .await;
    assert_eq!(after["document"]["quantity"], 5);
    assert_eq!(after["counters"], json!(["quantity"]));
    assert_eq!(after["types"], view["types"]);
}

#[sqlx::test(migrations = false)]
async fn a_dql_document_has_no_types_and_ids_that_are_json_name_their_documents(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.dql(
        "INSERT INTO tasks DOCUMENTS ({_id: 't1', title: 'buy milk'}), ({_id: {sku: 'a', region: 'eu'}, n: 1}),
             ({_id: 42, kind: 'number'}), ({_id: '42', kind: 'string'}), ({_id: '7', kind: 'string'}),
             ({_id: 'a/b c', kind: 'slash'})",
        json!({}),
    )
    .await;
    app.dql(
        "UPDATE tasks APPLY views INCREMENT BY 1 WHERE _id = 't1'",
        json!({}),
    )
    .await;

    let t1 = app.document_view("tasks", "t1").await;
    assert_eq!(t1["documentId"], "t1");
    assert_eq!(
        t1["document"],
        json!({"_id": "t1", "title": "buy milk", "views": 1})
    );
    assert_eq!(t1["types"], Value::Null);
    assert_eq!(t1["counters"], json!(["views"]));
    let actor = t1["lastWrite"]["actor"].as_str().unwrap();
    assert!(actor.starts_with("key:"), "{actor}");
    assert!(t1["lastWrite"]["at"].as_str().is_some(), "{t1}");

    // A composite id as JSON, its members in any order.
    let sku = app
        .document_view("tasks", r#"{"region": "eu", "sku": "a"}"#)
        .await;
    assert_eq!(sku["documentId"], json!({"sku": "a", "region": "eu"}));
    assert_eq!(sku["document"]["n"], 1);
    assert_eq!(sku["counters"], json!([]));
    // A number as JSON; the string "42" quoted; a string that reads as a number when no number
    // holds it; a string holding a slash and a space.
    for (id, kind) in [
        ("42", "number"),
        (r#""42""#, "string"),
        ("7", "string"),
        ("a/b c", "slash"),
    ] {
        let view = app.document_view("tasks", id).await;
        assert_eq!(view["document"]["kind"], kind, "{id}: {view}");
    }
    assert_eq!(app.document_view("tasks", "42").await["documentId"], 42);

    // A state too large to read on the async workers is read in the blocking pool.
    let big = "x".repeat(200_000);
    app.dql(
        "INSERT INTO tasks DOCUMENTS (:d)",
        json!({"d": {"_id": "big", "text": big}}),
    )
    .await;
    let view = app.document_view("tasks", "big").await;
    assert_eq!(
        view["document"]["text"].as_str().map(str::len),
        Some(200_000)
    );
}

#[sqlx::test(migrations = false)]
async fn viewers_read_documents_of_their_apps(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.dql("INSERT INTO tasks DOCUMENTS ({_id: 't1'})", json!({}))
        .await;
    let viewer = app.create_key(&app.owner_key, "viewer", None).await;
    let scoped = app
        .create_key(&app.owner_key, "viewer", Some(app.app_id))
        .await;
    for key in [&viewer, &scoped] {
        let view = app.document_view_as(key, "tasks", "t1").await;
        assert_eq!(view["document"], json!({"_id": "t1"}));
    }
    // A key limited to another app does not see this one.
    let other_app = app.create_app(&app.owner_key, "other").await;
    let elsewhere = app
        .create_key(&app.owner_key, "viewer", Some(other_app))
        .await;
    let res = app
        .get(&document_path(app.app_id, "tasks", "t1"), &elsewhere)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[sqlx::test(migrations = false)]
async fn missing_deleted_and_other_apps_documents_answer_404(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.dql(
        "INSERT INTO tasks DOCUMENTS ({_id: 't1'}), ({_id: 'gone'})",
        json!({}),
    )
    .await;
    app.dql("DELETE FROM tasks WHERE _id = 'gone'", json!({}))
        .await;
    let other_app = app.create_app(&app.owner_key, "other").await;
    let res = app
        .post(
            &format!("/v1/apps/{other_app}/store/execute"),
            &app.owner_key,
            &json!({"statement": "INSERT INTO tasks DOCUMENTS ({_id: 'theirs'})"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let get = |app_id: Uuid, collection: &str, id: &str, key: &str| {
        let (path, key) = (document_path(app_id, collection, id), key.to_owned());
        let app = &app;
        async move { app.get(&path, &key).await }
    };

    let owner = app.owner_key.clone();
    for (collection, id) in [
        ("tasks", "nope"),
        ("other", "t1"),
        ("tasks", "theirs"),
        ("tasks", r#""t1"x"#),
    ] {
        let res = get(app.app_id, collection, id, &owner).await;
        assert_problem(res, StatusCode::NOT_FOUND, "document_not_found").await;
    }
    let res = get(app.app_id, "tasks", "gone", &owner).await;
    let problem = assert_problem(res, StatusCode::NOT_FOUND, "document_not_found").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("deleted"),
        "{problem}"
    );
    // Another organization's key: the app is not there for it.
    let (_, stranger) = app.create_org("globex").await;
    let res = get(app.app_id, "tasks", "t1", &stranger).await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    // Parameters past their bounds.
    let long = "x".repeat(4097);
    for (collection, id) in [(long.as_str(), "t1"), ("tasks", long.as_str())] {
        let res = get(app.app_id, collection, id, &owner).await;
        assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;
    }
    // Revived by a later write, it answers again.
    app.dql(
        "INSERT INTO tasks DOCUMENTS ({_id: 'gone', back: true})",
        json!({}),
    )
    .await;
    assert_eq!(
        app.document_view("tasks", "gone").await["document"],
        json!({"_id": "gone", "back": true})
    );
}

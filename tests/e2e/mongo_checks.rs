//! Connection tests and the mapping preview, through HTTP, against the MongoDB simulator (the
//! api is given the simulator's connector in place of the driver).

use crate::helpers::{PASSWORD, TestApp, assert_problem, error_paths, id_of};
use edgebridge_api::config::MongoAccess;
use edgebridge_api::mongo::policy::TargetPolicy;
use edgebridge_mongo_sim::{CollectionOptions, SimUser, Simulator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;

const HOST: &str = "cluster0.example.net";

/// A simulated cluster reachable at `HOST` (a public address) with user `appuser`, a database
/// `retail-demo` holding `orders` (ready) and `tasks` (pre-/post-images off).
fn cluster() -> Simulator {
    let sim = Simulator::new(7);
    sim.add_host(HOST, &["52.10.20.30".parse().unwrap()]);
    sim.add_user(SimUser::read_write_admin(
        "appuser",
        PASSWORD,
        "retail-demo",
    ));
    sim.create_collection("retail-demo", "orders", CollectionOptions::ready());
    // Keyed by `orderId` in the specs below: the write-back upserts by it.
    sim.create_unique_index("retail-demo", "orders", "orderId");
    sim.create_collection("retail-demo", "tasks", CollectionOptions::default());
    sim
}

async fn spawn(pool: PgPool, sim: &Simulator) -> TestApp {
    let connector = sim.connector();
    TestApp::spawn_with(pool, move |config| {
        config.mongo = MongoAccess(Arc::new(connector));
    })
    .await
}

fn spec(collections: Value) -> Value {
    json!({
        "name": "retail",
        "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@{HOST}/"),
        "database": "retail-demo",
        "collections": collections,
    })
}

fn check<'a>(report: &'a Value, name: &str, collection: Option<&str>) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name && c.get("collection").and_then(Value::as_str) == collection)
        .unwrap_or_else(|| panic!("no check {name} {collection:?} in {report}"))
}

async fn test_spec(app: &TestApp, body: &Value) -> Value {
    let res = app
        .post(
            &format!("/v1/apps/{}/connectors/test", app.app_id),
            &app.owner_key,
            body,
        )
        .await;
    let status = res.status();
    let report: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{report}");
    assert!(
        !report.to_string().contains(PASSWORD),
        "the password must never be echoed: {report}"
    );
    report
}

#[sqlx::test(migrations = false)]
async fn testing_a_ready_spec_passes_every_check_and_creates_the_metadata_collections(
    pool: PgPool,
) {
    let sim = cluster();
    let app = spawn(pool, &sim).await;
    let report = test_spec(&app, &spec(json!({"orders": {"fields": ["orderId"]}}))).await;
    assert_eq!(report["ok"], true, "{report}");
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "connection_string",
            "target_allowed",
            "cluster_reachable",
            "replica_set",
            "list_databases",
            "list_collections",
            "database_exists",
            "collection_exists",
            "collection_not_capped",
            "pre_and_post_images",
            "id_index",
            "sync_privileges",
            "shard_metadata",
            "metadata_collections"
        ]
    );
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "passed", "{c}");
        assert!(c["durationMs"].is_u64());
        assert!(c.get("code").is_none());
    }
    assert!(
        check(&report, "connection_string", None)["message"]
            .as_str()
            .unwrap()
            .contains("appuser:****@")
    );
    // The spec's ID field reaches the check: it names the unique index on it.
    assert!(
        check(&report, "id_index", Some("orders"))["message"]
            .as_str()
            .unwrap()
            .contains("orderId_1")
    );
    let changes = report["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{report}");
    // The metadata collections now exist: nothing to change the second time.
    let again = test_spec(&app, &spec(json!({"orders": {"fields": ["orderId"]}}))).await;
    assert_eq!(again["changes"], json!([]));
}

#[sqlx::test(migrations = false)]
async fn a_collection_without_images_fails_with_code_message_and_remediation(pool: PgPool) {
    let sim = cluster();
    let app = spawn(pool, &sim).await;
    let report = test_spec(
        &app,
        &spec(json!({"orders": {"fields": ["_id"]}, "tasks": {"fields": ["_id"]}, "missing": {"fields": ["_id"]}})),
    )
    .await;
    assert_eq!(report["ok"], false);
    let tasks = check(&report, "pre_and_post_images", Some("tasks"));
    assert_eq!(tasks["status"], "failed");
    assert_eq!(tasks["code"], "pre_and_post_images_disabled");
    assert!(tasks["message"].as_str().unwrap().contains("tasks"));
    assert!(tasks["remediation"].as_str().unwrap().contains("collMod"));
    assert_eq!(
        check(&report, "pre_and_post_images", Some("orders"))["status"],
        "passed"
    );
    let missing = check(&report, "collection_exists", Some("missing"));
    assert_eq!(missing["code"], "collection_not_found");
    assert!(missing["message"].as_str().unwrap().contains("missing"));
    assert_eq!(
        check(&report, "collection_not_capped", Some("missing"))["status"],
        "skipped"
    );
}

#[sqlx::test(migrations = false)]
async fn auto_configure_enables_images_and_says_so(pool: PgPool) {
    let sim = cluster();
    let app = spawn(pool, &sim).await;
    let mut body = spec(json!({"tasks": {"fields": ["_id"]}}));
    body["autoConfigure"] = json!(true);
    let report = test_spec(&app, &body).await;
    assert_eq!(report["ok"], true, "{report}");
    let changes = report["changes"].to_string();
    assert!(
        changes.contains("changeStreamPreAndPostImages") && changes.contains("retail-demo.tasks"),
        "{changes}"
    );
    // Saved connectors keep the setting and test with it.
    let created = app.create_connector(&body).await;
    assert_eq!(created["autoConfigure"], true);
}

#[sqlx::test(migrations = false)]
async fn an_invalid_connection_string_is_the_first_checks_failure_not_a_422(pool: PgPool) {
    let sim = cluster();
    let app = spawn(pool, &sim).await;
    let mut body = spec(json!({"orders": {"fields": ["_id"]}}));
    body["connectionString"] = json!("mongodb://appuser:p@ss@host/");
    let report = test_spec(&app, &body).await;
    let first = check(&report, "connection_string", None);
    assert_eq!(first["code"], "connection_string_invalid");
    assert!(first["remediation"].is_string());
    assert!(!report.to_string().contains("p@ss"));
    assert_eq!(
        check(&report, "cluster_reachable", None)["status"],
        "skipped"
    );

    // Other spec problems are still a 422 with their paths.
    let mut bad = spec(json!({"orders": {"fields": []}}));
    bad["database"] = json!("");
    let res = app
        .post(
            &format!("/v1/apps/{}/connectors/test", app.app_id),
            &app.owner_key,
            &bad,
        )
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let paths = error_paths(&problem);
    assert!(paths.contains(&"/database".to_owned()), "{paths:?}");
}

#[sqlx::test(migrations = false)]
async fn private_targets_are_refused_under_the_managed_policy(pool: PgPool) {
    let sim = cluster();
    sim.add_host("internal.corp", &["10.0.0.5".parse().unwrap()]);
    let app = spawn(pool.clone(), &sim).await;
    let mut body = spec(json!({"orders": {"fields": ["_id"]}}));
    body["connectionString"] = json!(format!("mongodb://appuser:{PASSWORD}@internal.corp:27017/"));
    let report = test_spec(&app, &body).await;
    let target = check(&report, "target_allowed", None);
    assert_eq!(target["code"], "target_not_allowed", "{report}");
    assert!(target["message"].as_str().unwrap().contains("10.0.0.5"));
    assert!(
        !sim.operations().iter().any(|op| op == "ping"),
        "nothing may be sent to a refused target"
    );

    body["connectionString"] = json!(format!("mongodb://appuser:{PASSWORD}@169.254.169.254/"));
    let report = test_spec(&app, &body).await;
    assert_eq!(
        check(&report, "target_allowed", None)["code"],
        "target_not_allowed"
    );

    // A self-hosted deployment may allow them.
    drop(app);
    let connector = sim.connector();
    let app = TestApp::spawn_with(pool, move |config| {
        config.mongo = MongoAccess(Arc::new(connector));
        config.preflight.policy = TargetPolicy::AllowPrivate;
    })
    .await;
    body["connectionString"] = json!(format!("mongodb://appuser:{PASSWORD}@internal.corp:27017/"));
    let report = test_spec(&app, &body).await;
    assert_eq!(
        check(&report, "target_allowed", None)["status"],
        "passed",
        "{report}"
    );
}

#[sqlx::test(migrations = false)]
async fn testing_a_saved_connector_uses_its_stored_secret(pool: PgPool) {
    let sim = cluster();
    let app = spawn(pool, &sim).await;
    let created = app
        .create_connector(&spec(json!({"orders": {"fields": ["_id"]}})))
        .await;
    let path = format!("{}/test", app.connector_path(app.app_id, id_of(&created)));
    let res = app.post(&path, &app.owner_key, &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["ok"], true, "{report}");

    // Wrong credentials: a failed check, not an error.
    sim.add_user(SimUser::read_write("other", "x", "retail-demo"));
    // Its own collection: an edge collection has one connector per app.
    let mut wrong = spec(json!({"orders-wrong": {"fields": ["_id"]}}));
    wrong["name"] = json!("wrong");
    wrong["connectionString"] = json!(format!("mongodb+srv://appuser:nope@{HOST}/"));
    let created = app.create_connector(&wrong).await;
    let path = format!("{}/test", app.connector_path(app.app_id, id_of(&created)));
    let report: Value = app
        .post(&path, &app.owner_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        check(&report, "cluster_reachable", None)["code"],
        "authentication_failed"
    );

    // A viewer may not run it (it reaches out and may change MongoDB); an unknown id is a 404.
    let viewer = app.create_key(&app.owner_key, "viewer", None).await;
    assert_problem(
        app.post(&path, &viewer, &json!({})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let unknown = format!(
        "{}/test",
        app.connector_path(app.app_id, uuid::Uuid::now_v7())
    );
    assert_problem(
        app.post(&unknown, &app.owner_key, &json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn preview(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post(
        &format!("/v1/apps/{}/connectors/preview", app.app_id),
        &app.owner_key,
        body,
    )
    .await
}

#[sqlx::test(migrations = false)]
async fn preview_shows_edge_ids_documents_types_counters_and_warnings(pool: PgPool) {
    let sim = cluster();
    let app = spawn(pool, &sim).await;
    let body = json!({
        "collection": {"fields": ["orderId", "storeId"], "settableCounters": ["quantity"], "dqlStrictMode": false},
        "documents": [
            {"_id": {"$oid": "64b7f0c2a1b2c3d4e5f60718"}, "orderId": 17, "storeId": "s-1", "quantity": 3,
             "placedAt": {"$date": "2024-05-01T10:00:00Z"}, "total": {"$numberDecimal": "19.99"},
             "blob": {"$binary": {"base64": "AQID", "subType": "00"}}},
            {"_id": {"$oid": "64b7f0c2a1b2c3d4e5f60719"}, "storeId": "s-1"}
        ]
    });
    let res = preview(&app, &body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = res.json().await.unwrap();
    assert_eq!(out["mapping"]["fields"], json!(["orderId", "storeId"]));
    let first = &out["results"][0];
    assert_eq!(first["synced"], true);
    assert_eq!(first["edgeId"], json!({"orderId": 17, "storeId": "s-1"}));
    assert_eq!(
        first["mongoId"],
        json!({"$oid": "64b7f0c2a1b2c3d4e5f60718"})
    );
    assert_eq!(
        first["document"],
        json!({"_id": {"orderId": 17, "storeId": "s-1"}, "orderId": 17, "storeId": "s-1",
               "placedAt": "2024-05-01T10:00:00.000Z", "total": "19.99", "quantity": 3.0})
    );
    assert_eq!(
        first["types"],
        json!({"placedAt": "date", "total": "decimal", "blob": "dropped:binary", "quantity": "int"})
    );
    assert_eq!(first["counters"], json!(["quantity"]));
    assert_eq!(first["warnings"][0]["code"], "unsupported_type");
    assert_eq!(first["warnings"][0]["path"], "blob");
    let second = &out["results"][1];
    assert_eq!(second["synced"], false);
    assert_eq!(second["error"]["code"], "id_field_missing");
    assert_eq!(second["error"]["path"], "orderId");
    assert_eq!(
        second["mongoId"],
        json!({"$oid": "64b7f0c2a1b2c3d4e5f60719"})
    );
}

#[sqlx::test(migrations = false)]
async fn preview_uses_a_saved_connectors_collection_and_reports_bad_input(pool: PgPool) {
    let sim = cluster();
    let app = spawn(pool, &sim).await;
    let created = app
        .create_connector(&spec(
            json!({"tasks": {"fields": ["_id"], "mode": "ejson", "dqlStrictMode": false}}),
        ))
        .await;
    let body = json!({"connectorId": created["id"], "collectionName": "tasks", "documents": [{"_id": 5, "n": {"$numberLong": "7"}}]});
    let out: Value = preview(&app, &body).await.json().await.unwrap();
    assert_eq!(out["results"][0]["edgeId"], json!({"$numberInt": "5"}));
    assert_eq!(
        out["results"][0]["document"]["n"],
        json!({"$numberLong": "7"})
    );

    let unknown =
        json!({"connectorId": created["id"], "collectionName": "nope", "documents": [{"_id": 1}]});
    let problem = assert_problem(
        preview(&app, &unknown).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/collectionName"]);

    let bad =
        json!({"collection": {"fields": []}, "documents": [{"_id": {"$oid": 5}}, 3], "extra": 1});
    let problem = assert_problem(
        preview(&app, &bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let paths = error_paths(&problem);
    for expected in [
        "/extra",
        "/collection/fields",
        "/documents/0",
        "/documents/1",
    ] {
        assert!(
            paths.contains(&expected.to_owned()),
            "{expected} in {paths:?}"
        );
    }
    let too_many =
        json!({"collection": {"fields": ["_id"]}, "documents": vec![json!({"_id": 1}); 101]});
    let problem = assert_problem(
        preview(&app, &too_many).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/documents"]);
}

#[sqlx::test(migrations = false)]
async fn connection_tests_beyond_the_limit_answer_429(pool: PgPool) {
    use edgebridge_mongo_sim::Fault;
    let sim = cluster();
    // The first test's first MongoDB call hangs long enough for a second request.
    sim.inject(Fault::Slow {
        count: 1,
        delay: std::time::Duration::from_secs(3),
    });
    let connector = sim.connector();
    let app = Arc::new(
        TestApp::spawn_with(pool, move |config| {
            config.mongo = MongoAccess(Arc::new(connector));
            config.max_concurrent_connection_tests = 1;
        })
        .await,
    );
    let body = spec(json!({"orders": {"fields": ["_id"]}}));
    let first = {
        let (app, body) = (app.clone(), body.clone());
        tokio::spawn(async move { test_spec(&app, &body).await })
    };
    // Wait until the first test is inside MongoDB (the simulator logs a call before serving it).
    while sim.operations().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let res = app
        .post(
            &format!("/v1/apps/{}/connectors/test", app.app_id),
            &app.owner_key,
            &body,
        )
        .await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "connection_tests_busy").await;
    assert_eq!(first.await.unwrap()["ok"], true);
}

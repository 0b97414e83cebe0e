//! Connector specs: defaults, validation with every violation, unique names, redaction and
//! encryption at rest, filter key order.

use super::plan_entry;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrations = false)]
async fn create_fills_defaults_redacts_and_starts_pending(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .post(
            &app.connectors_path(app.app_id),
            &app.owner_key,
            &connector_spec("retail"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["etag"], "\"1\"");
    let id_location = res.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();

    assert_eq!(id_location, app.connector_path(app.app_id, id_of(&body)));
    assert_eq!(body["status"], "pending");
    assert_eq!(body["desiredState"], "running");
    assert_eq!(
        body["connectionString"],
        "mongodb+srv://appuser:****@cluster0.example.net/?retryWrites=true"
    );
    assert_eq!(
        body["collections"]["users"],
        json!({"fields": ["userId"], "initialSync": false, "mode": "json", "dqlStrictMode": true, "settableCounters": []})
    );
    assert_eq!(
        body["collections"]["orders"]["filter"],
        json!({"deleted": false})
    );
    assert_eq!(body["description"], "store data for the retail app");

    let fetched: Value = app
        .get(
            &app.connector_path(app.app_id, id_of(&body)),
            &app.owner_key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, body);
}

#[sqlx::test(migrations = false)]
async fn reference_spelling_of_settable_counters_is_accepted(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut spec = connector_spec("inv");
    spec["collections"] = json!({"inventory": {"fields": ["_id"], "dqlStrictMode": false,
        "dittoTypes": {"settableCounters": ["quantity", "order.qty"]}}});
    let body = app.create_connector(&spec).await;
    assert_eq!(
        body["collections"]["inventory"]["settableCounters"],
        json!(["quantity", "order.qty"])
    );
}

#[sqlx::test(migrations = false)]
async fn invalid_specs_report_every_violation_with_its_path(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let path = app.connectors_path(app.app_id);
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({}),
            vec!["/name", "/connectionString", "/database", "/collections"],
        ),
        (
            json!({"name": "x", "connectionString": "postgres://u:p@h/", "database": "db",
                   "collections": {"t": {"fields": ["_id"]}}}),
            vec!["/connectionString"],
        ),
        (
            json!({"name": "x", "connectionString": "mongodb://h", "database": "a/b",
                   "collections": {"system.views": {"fields": ["_id"]}, "__edgebridge_sessions": {"fields": ["_id"]}}}),
            vec![
                "/database",
                "/collections/system.views",
                "/collections/__edgebridge_sessions",
            ],
        ),
        (
            json!({"name": "x", "connectionString": "mongodb://h", "database": "db", "collections": {}}),
            vec!["/collections"],
        ),
        (
            json!({"name": "x", "connectionString": "mongodb://h", "database": "db", "collections": {
                "a": {"fields": []},
                "b": {"fields": ["k", "k"]},
                "c": {"fields": ["_id", "k"]},
                "d": {"fields": ["a.b"]},
                "e": {"fields": ["_id"], "mode": "bson"},
                "f": {"fields": ["_id"], "mode": "ejson"},
                "g": {"fields": ["_id"], "settableCounters": ["n"]},
                "h": {"fields": ["k"], "dqlStrictMode": false, "settableCounters": ["k", "x..y"]},
                "i": {"fields": ["_id"], "filter": {"qty": {"$gtt": 1}}},
                "j": {"fields": ["_id"], "filter": "deleted = false"},
                "k": {"fields": ["_id"], "initialSync": "yes", "colour": 1}
            }}),
            vec![
                "/collections/a/fields",
                "/collections/b/fields/1",
                "/collections/c/fields/0",
                "/collections/d/fields/0",
                "/collections/e/mode",
                "/collections/f/dqlStrictMode",
                "/collections/g/dqlStrictMode",
                "/collections/h/settableCounters/0",
                "/collections/h/settableCounters/1",
                "/collections/i/filter/qty/$gtt",
                "/collections/j/filter",
                "/collections/k/initialSync",
                "/collections/k/colour",
            ],
        ),
    ];
    for (spec, expected) in cases {
        let problem = assert_problem(
            app.post(&path, &app.owner_key, &spec).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let mut got = error_paths(&problem);
        got.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "for {spec}");
        for error in problem["errors"].as_array().unwrap() {
            assert!(!error["message"].as_str().unwrap().is_empty());
        }
    }
    // Nothing was saved.
    let list: Value = app.get(&path, &app.owner_key).await.json().await.unwrap();
    assert_eq!(list["items"], json!([]));
}

#[sqlx::test(migrations = false)]
async fn validate_checks_without_saving(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let path = format!("{}/validate", app.connectors_path(app.app_id));

    let report: Value = app
        .post(&path, &app.owner_key, &connector_spec("retail"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["errors"], json!([]));
    assert_eq!(
        report["connector"]["collections"]["users"]["dqlStrictMode"],
        true
    );
    assert!(!report.to_string().contains(PASSWORD));

    let list: Value = app
        .get(&app.connectors_path(app.app_id), &app.owner_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]), "validate must not save");

    app.create_connector(&connector_spec("retail")).await;
    let report: Value = app
        .post(&path, &app.owner_key, &connector_spec("retail"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], false);
    // The name, and every edge collection the saved connector already writes.
    assert_eq!(
        error_paths(&report),
        [
            "/collections/orders",
            "/collections/tasks",
            "/collections/users",
            "/name"
        ]
    );

    let mut bad = connector_spec("other");
    bad["collections"]["tasks"]["mode"] = json!("xml");
    let report: Value = app
        .post(&path, &app.owner_key, &bad)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(error_paths(&report), ["/collections/tasks/mode"]);
}

#[sqlx::test(migrations = false)]
async fn validate_checks_an_edit_as_a_replacement_of_its_connector(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let path = format!("{}/validate", app.connectors_path(app.app_id));
    let retail = app.create_connector(&connector_spec("retail")).await;
    let retail_id = id_of(&retail);
    let other = app.create_connector(&own_connector_spec("other")).await;
    let with_id = |id: Uuid| format!("{path}?connectorId={id}");

    // Its own name and collections are not conflicts, and the stored connection string stays
    // (left out, as an editor sends it).
    let mut edit = connector_spec("retail");
    edit.as_object_mut().unwrap().remove("connectionString");
    edit["description"] = json!("edited");
    let report: Value = app
        .post(&with_id(retail_id), &app.owner_key, &edit)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(
        report["connector"]["connectionString"],
        retail["connectionString"]
    );
    assert!(!report.to_string().contains(PASSWORD));

    // Another connector's name and collections still are, and so is changing the desired state.
    let mut clash = edit.clone();
    clash["name"] = other["name"].clone();
    let theirs = other["collections"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    clash["collections"][&theirs] = json!({"fields": ["_id"]});
    clash["desiredState"] = json!("paused");
    let report: Value = app
        .post(&with_id(retail_id), &app.owner_key, &clash)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], false);
    let mut expected = vec![
        format!("/collections/{theirs}"),
        "/desiredState".to_owned(),
        "/name".to_owned(),
    ];
    expected.sort();
    let mut paths = error_paths(&report);
    paths.sort();
    assert_eq!(paths, expected);

    // Without connectorId the same edit is a new connector: the connection string is required.
    let report: Value = app
        .post(&path, &app.owner_key, &edit)
        .await
        .json()
        .await
        .unwrap();
    assert!(error_paths(&report).contains(&"/connectionString".to_owned()));

    // A connector that is not there (or in another app) is a 404.
    assert_problem(
        app.post(&with_id(Uuid::now_v7()), &app.owner_key, &edit)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let elsewhere = app.create_app(&app.owner_key, "elsewhere").await;
    let elsewhere_path = format!(
        "{}/validate?connectorId={retail_id}",
        app.connectors_path(elsewhere)
    );
    assert_problem(
        app.post(&elsewhere_path, &app.owner_key, &edit).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn names_are_unique_per_app(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_connector(&connector_spec("retail")).await;
    assert_problem(
        app.post(
            &app.connectors_path(app.app_id),
            &app.owner_key,
            &connector_spec("retail"),
        )
        .await,
        StatusCode::CONFLICT,
        "connector_name_taken",
    )
    .await;
    // Another app may reuse the name.
    let other = app.create_app(&app.owner_key, "second").await;
    let res = app
        .post(
            &app.connectors_path(other),
            &app.owner_key,
            &connector_spec("retail"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[sqlx::test(migrations = false)]
async fn secrets_never_leave_in_clear_and_rest_encrypted(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app.create_connector(&connector_spec("retail")).await;
    let id = id_of(&created);
    let path = app.connector_path(app.app_id, id);

    let mut bodies = vec![created.to_string()];
    bodies.push(app.get(&path, &app.owner_key).await.text().await.unwrap());
    bodies.push(
        app.get(&app.connectors_path(app.app_id), &app.owner_key)
            .await
            .text()
            .await
            .unwrap(),
    );
    let mut replaced = connector_spec("retail");
    replaced["connectionString"] = json!(format!(
        "mongodb://appuser:{PASSWORD}2@h1.example.net:27017,h2.example.net/?authMechanism=SCRAM-SHA-256&authMechanismProperties=SERVICE_REALM:{PASSWORD}"
    ));
    bodies.push(
        app.put(&path, &app.owner_key, &replaced)
            .await
            .text()
            .await
            .unwrap(),
    );
    bodies.push(
        app.patch(
            &path,
            &app.owner_key,
            &json!({"connectionString": format!("mongodb://u:{PASSWORD}@h/")}),
        )
        .await
        .text()
        .await
        .unwrap(),
    );
    // An invalid connection string is refused without echoing it.
    bodies.push(
        app.patch(
            &path,
            &app.owner_key,
            &json!({"connectionString": format!("mongodb://u:{PASSWORD}@@h/")}),
        )
        .await
        .text()
        .await
        .unwrap(),
    );
    bodies.push(
        app.post(
            &format!("{}/validate", app.connectors_path(app.app_id)),
            &app.owner_key,
            &replaced,
        )
        .await
        .text()
        .await
        .unwrap(),
    );
    for body in &bodies {
        assert!(!body.contains(PASSWORD), "secret leaked in {body}");
    }
    assert!(bodies[3].contains("authMechanismProperties=****"));

    // At rest: ciphertext only, under the active key id.
    let (ciphertext, key_id, redacted): (Vec<u8>, String, String) = sqlx::query_as(
        "select connection_ciphertext, connection_key_id, connection_redacted from connectors where connector_id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(key_id, "k1");
    assert!(!String::from_utf8_lossy(&ciphertext).contains(PASSWORD));
    assert!(!redacted.contains(PASSWORD));
    let all_text: (String,) =
        sqlx::query_as("select row_to_json(c)::text from connectors c where connector_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!all_text.0.contains(PASSWORD));
    // And it opens to the latest string with the right associated data.
    let aad = edgebridge_api::crypto::connector_secret_aad(app.org_id, id);
    let plain = test_keyring().decrypt(&ciphertext, &aad).unwrap();
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        format!("mongodb://u:{PASSWORD}@h/")
    );
}

#[sqlx::test(migrations = false)]
async fn filters_keep_their_key_order_and_counters_survive_a_null_ditto_types(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut spec = connector_spec("retail");
    spec["collections"]["users"]["filter"] = json!({"addr": {"zip": "0150", "city": "Oslo"}});
    let created = app.create_connector(&spec).await;
    let path = app.connector_path(app.app_id, id_of(&created));
    let text = app.get(&path, &app.owner_key).await.text().await.unwrap();
    assert!(
        text.contains(r#"{"addr":{"zip":"0150","city":"Oslo"}}"#),
        "{text}"
    );

    let update: Value = app
        .patch(
            &format!("{path}?dryRun=true"),
            &app.owner_key,
            &json!({"collections": {"users": {"filter": {"addr": null}}}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        plan_entry(&update, "users")["reasons"],
        json!(["filterChanged"])
    );

    let update: Value = app
        .patch(
            &path,
            &app.owner_key,
            &json!({"collections": {"orders": {"dittoTypes": null}}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        update["connector"]["collections"]["orders"]["settableCounters"],
        json!(["quantity", "order.qty"])
    );
}

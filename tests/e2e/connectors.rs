//! Connector CRUD: validation, defaults, redaction, encryption at rest, ETags, plans, pagination,
//! pause and resume.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashSet;
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
async fn etag_and_if_match_refuse_lost_updates(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app.create_connector(&connector_spec("retail")).await;
    let path = app.connector_path(app.app_id, id_of(&created));

    let res = app.get(&path, &app.owner_key).await;
    assert_eq!(res.headers()["etag"], "\"1\"");

    let res = app
        .request(reqwest::Method::PATCH, &path, &app.owner_key)
        .header("if-match", "\"1\"")
        .json(&json!({"description": "first"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["etag"], "\"2\"");

    // A second writer still holding version 1 is refused, and nothing changes.
    let res = app
        .request(reqwest::Method::PUT, &path, &app.owner_key)
        .header("if-match", "\"1\"")
        .json(&connector_spec("retail"))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    let now: Value = app.get(&path, &app.owner_key).await.json().await.unwrap();
    assert_eq!(now["description"], "first");
    assert_eq!(now["version"], 2);

    let res = app
        .request(reqwest::Method::DELETE, &path, &app.owner_key)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PRECONDITION_FAILED, "precondition_failed").await;
    let res = app
        .request(reqwest::Method::DELETE, &path, &app.owner_key)
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&path, &app.owner_key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

fn plan_entry<'a>(update: &'a Value, collection: &str) -> &'a Value {
    update["plan"]["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["collection"] == collection)
        .unwrap_or_else(|| panic!("no plan entry for {collection} in {update}"))
}

#[sqlx::test(migrations = false)]
async fn reconfiguration_answers_a_plan_per_collection(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app.create_connector(&connector_spec("retail")).await;
    let path = app.connector_path(app.app_id, id_of(&created));

    let mut spec = connector_spec("retail");
    // Redacted value read back: keeps the stored secret.
    spec["connectionString"] = created["connectionString"].clone();
    spec["collections"] = json!({
        "tasks": {"fields": ["_id"], "initialSync": false, "mode": "ejson", "dqlStrictMode": false},
        "users": {"fields": ["email"], "initialSync": true},
        "stores": {"fields": ["_id"], "initialSync": true},
        "logs": {"fields": ["_id"]}
    });
    let res = app.put(&path, &app.owner_key, &spec).await;
    assert_eq!(res.status(), StatusCode::OK);
    let update: Value = res.json().await.unwrap();
    assert_eq!(update["dryRun"], false);
    assert_eq!(update["plan"]["connection"], "unchanged");
    assert_eq!(plan_entry(&update, "tasks")["action"], "none");
    assert_eq!(
        plan_entry(&update, "tasks")["reasons"],
        json!(["initialSyncToggled"])
    );
    assert_eq!(plan_entry(&update, "users")["action"], "initialSync");
    assert_eq!(
        plan_entry(&update, "users")["reasons"],
        json!(["idMappingChanged", "initialSyncToggled"])
    );
    assert_eq!(plan_entry(&update, "stores")["action"], "initialSync");
    assert_eq!(
        plan_entry(&update, "stores")["reasons"],
        json!(["collectionAdded"])
    );
    assert_eq!(plan_entry(&update, "logs")["action"], "startStreaming");
    assert_eq!(plan_entry(&update, "orders")["action"], "stop");
    assert_eq!(
        plan_entry(&update, "orders")["reasons"],
        json!(["collectionRemoved"])
    );
    assert_eq!(update["connector"]["version"], 2);
    assert_eq!(
        update["connector"]["collections"]
            .as_object()
            .unwrap()
            .len(),
        4
    );

    // Credentials change: reconnect and resume.
    let update: Value = app
        .patch(
            &path,
            &app.owner_key,
            &json!({"connectionString": "mongodb+srv://appuser:rotated@cluster0.example.net/"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(update["plan"]["connection"], "reconnectAndResume");
    assert_eq!(update["plan"]["warnings"], json!([]));
    assert!(
        update["plan"]["collections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["action"] == "none")
    );

    // The same string again changes nothing.
    let update: Value = app
        .patch(
            &path,
            &app.owner_key,
            &json!({"connectionString": "mongodb+srv://appuser:rotated@cluster0.example.net/"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(update["plan"]["connection"], "unchanged");

    // Merge patch null removes a collection.
    let update: Value = app
        .patch(
            &path,
            &app.owner_key,
            &json!({"collections": {"logs": null}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(plan_entry(&update, "logs")["action"], "stop");
    assert!(update["connector"]["collections"].get("logs").is_none());
}

#[sqlx::test(migrations = false)]
async fn dry_run_plans_and_saves_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app.create_connector(&connector_spec("retail")).await;
    let path = app.connector_path(app.app_id, id_of(&created));

    let res = app
        .request(
            reqwest::Method::PATCH,
            &format!("{path}?dryRun=true"),
            &app.owner_key,
        )
        .json(&json!({"collections": {"extra": {"fields": ["_id"], "initialSync": true}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let update: Value = res.json().await.unwrap();
    assert_eq!(update["dryRun"], true);
    assert_eq!(plan_entry(&update, "extra")["action"], "initialSync");
    assert!(update["connector"]["collections"].get("extra").is_some());

    let after: Value = app.get(&path, &app.owner_key).await.json().await.unwrap();
    assert_eq!(after, created, "a dry run must not change the connector");

    // A dry run with an invalid patch still reports violations.
    let res = app
        .request(
            reqwest::Method::PUT,
            &format!("{path}?dryRun=true"),
            &app.owner_key,
        )
        .json(&json!({"name": "retail"}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(error_paths(&problem), ["/database", "/collections"]);
}

#[sqlx::test(migrations = false)]
async fn pagination_walks_every_connector_once(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut created = HashSet::new();
    for i in 0..5 {
        created.insert(id_of(
            &app.create_connector(&own_connector_spec(&format!("c{i}")))
                .await,
        ));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("{}?limit=2", app.connectors_path(app.app_id));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = app.get(&path, &app.owner_key).await.json().await.unwrap();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(id_of(item));
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.iter().copied().collect::<HashSet<Uuid>>(), created);

    let base = app.connectors_path(app.app_id);
    for (query, code) in [
        ("limit=0", "invalid_query_parameter"),
        ("limit=101", "invalid_query_parameter"),
        ("limit=abc", "invalid_query_parameter"),
        ("cursor=not-a-cursor", "invalid_cursor"),
    ] {
        assert_problem(
            app.get(&format!("{base}?{query}"), &app.owner_key).await,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
}

#[sqlx::test(migrations = false)]
async fn pause_and_resume_set_the_desired_state(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app.create_connector(&connector_spec("retail")).await;
    let path = app.connector_path(app.app_id, id_of(&created));

    let paused: Value = app
        .post(&format!("{path}/pause"), &app.owner_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paused["desiredState"], "paused");
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["version"], 2);
    // Idempotent.
    let again: Value = app
        .post(&format!("{path}/pause"), &app.owner_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["version"], 2);

    let resumed: Value = app
        .post(&format!("{path}/resume"), &app.owner_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resumed["desiredState"], "running");
    assert_eq!(resumed["status"], "pending");
    assert_eq!(resumed["version"], 3);

    let missing = app.connector_path(app.app_id, Uuid::now_v7());
    assert_problem(
        app.post(&format!("{missing}/pause"), &app.owner_key, &json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn deleting_an_app_with_connectors_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app.create_connector(&connector_spec("retail")).await;
    let app_path = format!("/v1/apps/{}", app.app_id);
    assert_problem(
        app.delete(&app_path, &app.owner_key).await,
        StatusCode::CONFLICT,
        "app_has_connectors",
    )
    .await;
    let res = app
        .delete(
            &app.connector_path(app.app_id, id_of(&created)),
            &app.owner_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.delete(&app_path, &app.owner_key).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.get(&app_path, &app.owner_key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn deleting_an_app_with_live_scoped_keys_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let doomed = app.create_app(&app.owner_key, "doomed").await;
    let key: Value = app
        .post(
            "/v1/api-keys",
            &app.owner_key,
            &json!({"name": "scoped admin", "role": "admin", "appId": doomed}),
        )
        .await
        .json()
        .await
        .unwrap();
    let developer = app.create_key(&app.owner_key, "developer", None).await;
    let path = format!("/v1/apps/{doomed}");
    // A developer cannot get rid of an admin key by deleting its app.
    assert_problem(
        app.delete(&path, &developer).await,
        StatusCode::CONFLICT,
        "app_has_api_keys",
    )
    .await;
    assert_eq!(
        app.get(&path, key["key"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
    let res = app
        .delete(
            &format!("/v1/api-keys/{}", key["id"].as_str().unwrap()),
            &app.owner_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.delete(&path, &developer).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[sqlx::test(migrations = false)]
async fn conditional_delete_takes_a_list_and_refuses_weak_or_malformed_tags(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created = app.create_connector(&connector_spec("retail")).await;
    let path = app.connector_path(app.app_id, id_of(&created));
    for (tag, status, code) in [
        (
            "W/\"1\"",
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
        ),
        ("1", StatusCode::BAD_REQUEST, "invalid_if_match"),
    ] {
        let res = app
            .request(reqwest::Method::DELETE, &path, &app.owner_key)
            .header("if-match", tag)
            .send()
            .await
            .unwrap();
        assert_problem(res, status, code).await;
    }
    let res = app
        .request(reqwest::Method::DELETE, &path, &app.owner_key)
        .header("if-match", "\"7\", \"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[sqlx::test(migrations = false)]
async fn renaming_onto_a_taken_name_is_refused_also_in_a_dry_run(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.create_connector(&own_connector_spec("first")).await;
    let second = app.create_connector(&own_connector_spec("second")).await;
    let path = app.connector_path(app.app_id, id_of(&second));
    for suffix in ["?dryRun=true", ""] {
        assert_problem(
            app.patch(
                &format!("{path}{suffix}"),
                &app.owner_key,
                &json!({"name": "first"}),
            )
            .await,
            StatusCode::CONFLICT,
            "connector_name_taken",
        )
        .await;
    }
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

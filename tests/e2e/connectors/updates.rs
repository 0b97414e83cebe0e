//! Connector updates: ETags and If-Match, reconfiguration plans, dry runs, renames and
//! conditional deletes.

use super::plan_entry;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

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

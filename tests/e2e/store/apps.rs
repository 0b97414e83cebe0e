//! The store and its app: the compatibility path, roles, tenancy and deletion with the app.

use super::items;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn compatibility_path_roles_and_tenancy(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .client
        .post(app.url(&format!("/{}/api/v4/store/execute", app.app_id)))
        .header("authorization", format!("bearer {}", app.owner_key))
        .json(&json!({"statement": "INSERT INTO cars DOCUMENTS (:car)", "args": {"car": {"_id": "c1", "make": "Volvo"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let out: Value = app
        .post(
            &format!("/{}/api/v4/store/execute", app.app_id),
            &app.owner_key,
            &json!({"statement": "SELECT * FROM cars"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(out["items"], json!([{"_id": "c1", "make": "Volvo"}]));

    let viewer = app.create_key(&app.owner_key, "viewer", None).await;
    assert_eq!(
        app.dql_as(&viewer, "SELECT * FROM cars", json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_problem(
        app.dql_as(&viewer, "DELETE FROM cars WHERE true", json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    let (_, other) = app.create_org("globex").await;
    for path in [
        format!("/v1/apps/{}/store/execute", app.app_id),
        format!("/{}/api/v4/store/execute", app.app_id),
    ] {
        let res = app
            .post(&path, &other, &json!({"statement": "SELECT * FROM cars"}))
            .await;
        assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = app
        .get(&format!("/v1/apps/{}/store/changes", app.app_id), &other)
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    // Writes from the other organization (owner and viewer) answer 404 and change nothing.
    let other_viewer = app.create_key(&other, "viewer", None).await;
    for key in [&other, &other_viewer] {
        for statement in [
            "INSERT INTO cars DOCUMENTS ({_id: 'c1', make: 'Saab'}) ON ID CONFLICT DO UPDATE",
            "INSERT INTO cars DOCUMENTS ({_id: 'c2'})",
            "UPDATE cars SET make = 'Saab' WHERE true",
            "DELETE FROM cars WHERE true",
        ] {
            let res = app.dql_as(key, statement, json!({})).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    // Unchanged.
    assert_eq!(
        items(&app.dql("SELECT * FROM cars", json!({})).await),
        [json!({"_id": "c1", "make": "Volvo"})]
    );
}

#[sqlx::test(migrations = false)]
async fn deleting_an_app_deletes_its_store(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let other = app.create_app(&app.owner_key, "other").await;
    app.dql("INSERT INTO t DOCUMENTS ({_id: 1}), ({_id: 2})", json!({}))
        .await;
    let res = app
        .post(
            &format!("/v1/apps/{other}/store/execute"),
            &app.owner_key,
            &json!({"statement": "INSERT INTO t DOCUMENTS ({_id: 1})"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .delete(&format!("/v1/apps/{}", app.app_id), &app.owner_key)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for table in ["store_documents", "store_changes"] {
        let (gone,): (i64,) =
            sqlx::query_as(&format!("select count(*) from {table} where app_id = $1"))
                .bind(app.app_id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(gone, 0, "{table}");
        let (kept,): (i64,) =
            sqlx::query_as(&format!("select count(*) from {table} where app_id = $1"))
                .bind(other)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(kept, 1, "{table} of the other app");
    }
    // Writes to the deleted app answer 404 and leave nothing behind.
    let res = app
        .dql_as(
            &app.owner_key,
            "INSERT INTO t DOCUMENTS ({_id: 3})",
            json!({}),
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    let (orphans,): (i64,) =
        sqlx::query_as("select count(*) from store_documents where app_id = $1")
            .bind(app.app_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(orphans, 0);
}

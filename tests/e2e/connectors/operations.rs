//! Listing and operating connectors: pagination, pause and resume, and deleting their app.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashSet;
use uuid::Uuid;

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

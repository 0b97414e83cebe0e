//! Bad input and the HTTP edges: every refusal is problem+json with a stable code.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn malformed_requests_get_clear_problems(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |c| c.body_limit_bytes = 64 * 1024).await;
    let path = app.connectors_path(app.app_id);

    let res = app
        .request(Method::POST, &path, &app.owner_key)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_problem(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let res = app
        .request(Method::POST, &path, &app.owner_key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_json").await;

    // A whole document followed by something else is not one JSON document either.
    let res = app
        .request(Method::POST, &path, &app.owner_key)
        .header("content-type", "application/json")
        .body("{\"name\": \"x\"} {}")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_json").await;

    let huge = json!({"name": "x", "description": "d".repeat(100 * 1024)});
    let res = app.post(&path, &app.owner_key, &huge).await;
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    let res = app
        .get("/v1/apps/not-a-uuid/connectors", &app.owner_key)
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_path_parameter").await;

    let res = app.get("/v1/nothing-here", &app.owner_key).await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;

    let res = app
        .request(Method::PUT, "/v1/apps", &app.owner_key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    // A typed body with a wrong member type names its path.
    let problem = assert_problem(
        app.post("/v1/apps", &app.owner_key, &json!({"name": 5}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/name"]);
    let problem = assert_problem(
        app.post(
            "/v1/apps",
            &app.owner_key,
            &json!({"name": "ok", "colour": 1}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
}

#[sqlx::test(migrations = false)]
async fn every_response_carries_a_request_id(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.get("/v1/apps", &app.owner_key).await;
    assert!(res.headers().contains_key("x-request-id"));
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
}

#[sqlx::test(migrations = false)]
async fn health_and_readiness_need_no_credentials(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"][0]["name"], "postgres");
    assert_eq!(body["checks"][0]["status"], "up");

    // With the database gone, readiness says so.
    app.pool.close().await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["checks"][0]["status"], "down");
}

#[sqlx::test(migrations = false)]
async fn apps_crud(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app
        .post(
            "/v1/apps",
            &app.owner_key,
            &json!({"name": "inventory", "description": "stock"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/apps/{}", created["id"].as_str().unwrap())
    );

    assert_problem(
        app.post("/v1/apps", &app.owner_key, &json!({"name": "inventory"}))
            .await,
        StatusCode::CONFLICT,
        "app_name_taken",
    )
    .await;
    let problem = assert_problem(
        app.post(
            "/v1/apps",
            &app.owner_key,
            &json!({"name": "no spaces allowed"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/name"]);

    let patched: Value = app
        .patch(
            &location,
            &app.owner_key,
            &json!({"description": "stock levels"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(patched["name"], "inventory");
    assert_eq!(patched["description"], "stock levels");

    assert_problem(
        app.patch(&location, &app.owner_key, &json!({"name": "retail"}))
            .await,
        StatusCode::CONFLICT,
        "app_name_taken",
    )
    .await;

    assert_eq!(
        app.delete(&location, &app.owner_key).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.get(&location, &app.owner_key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

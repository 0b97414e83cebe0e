//! The failed-authentication limiter (its own 429, valid credentials let through, worker logins
//! counted) and operator routes left unconfigured.

use crate::helpers::*;
use edgebridge_api::auth::jwt::{JwtKeys, new_worker_claims};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

const UNKNOWN_KEY: &str = "ebk_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

/// Asserts the limiter's own answer: code, message, Retry-After.
async fn assert_throttled(res: Response) {
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "retry-after {retry_after}");
    let problem = assert_problem(
        res,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_failed_authentications",
    )
    .await;
    let detail = problem["detail"].as_str().unwrap().to_lowercase();
    assert!(
        detail.contains(&format!(
            "too many failed authentication attempts from this address; wait {retry_after} s"
        )),
        "{detail}"
    );
    assert!(!detail.contains("rate limit"), "{detail}");
}

/// Sends `attempt` until the address is blocked: 401 before, the limiter's 429 at the end.
async fn fail_until_blocked<F, Fut>(attempt: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Response>,
{
    for _ in 0..10 {
        let res = attempt().await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            return assert_throttled(res).await;
        }
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    panic!("failures past the budget are throttled");
}

#[sqlx::test(migrations = false)]
async fn a_blocked_address_still_serves_valid_credentials_and_refuses_bad_ones(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |c| c.auth_failure_limit_per_sec = 3).await;
    let token: Value = app
        .post("/v1/auth/token", &app.owner_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let token = token["accessToken"].as_str().unwrap().to_owned();
    let unused_key = app.create_key(&app.owner_key, "viewer", None).await;
    let forged = JwtKeys::parse_keys(&key_entry("j1", 7))
        .unwrap()
        .issue(&edgebridge_api::auth::jwt::new_claims(
            Uuid::now_v7(),
            app.org_id,
            edgebridge_api::auth::Role::Owner,
            None,
            Duration::from_secs(60),
        ))
        .unwrap();

    fail_until_blocked(|| app.get("/v1/apps", UNKNOWN_KEY)).await;

    // Each bad credential is refused before any lookup (and keeps the block on); each valid one
    // right after it is served.
    for (bad, good) in [
        (UNKNOWN_KEY, app.owner_key.as_str()),
        ("not-a-credential", token.as_str()),
        (forged.as_str(), app.owner_key.as_str()),
    ] {
        assert_throttled(app.get("/v1/apps", bad).await).await;
        assert_eq!(app.get("/v1/apps", good).await.status(), StatusCode::OK);
    }
    // A key this api has not verified lately waits out the block like a guess (documented in
    // auth::failures): only a lookup could tell it from one.
    assert_throttled(app.get("/v1/apps", UNKNOWN_KEY).await).await;
    assert_throttled(app.get("/v1/apps", &unused_key).await).await;
}

#[sqlx::test(migrations = false)]
async fn failed_worker_logins_count_against_the_address(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |c| c.auth_failure_limit_per_sec = 3).await;
    let worker = Uuid::now_v7();
    let heartbeat = format!("/internal/v1/workers/{worker}/heartbeat");
    let body = json!({"draining": false});
    let foreign = JwtKeys::parse_keys(&key_entry("j1", 7))
        .unwrap()
        .issue(&new_worker_claims(worker, Duration::from_secs(60)))
        .unwrap();

    fail_until_blocked(|| app.post(&heartbeat, &foreign, &body)).await;

    // One limiter per address: a tenant's guess from there is refused too, its valid key is not.
    assert_throttled(app.get("/v1/apps", UNKNOWN_KEY).await).await;
    assert_eq!(
        app.get("/v1/apps", &app.owner_key).await.status(),
        StatusCode::OK
    );
    // A worker's valid token passes the block (this worker is not registered: 410, not 429).
    let valid = test_jwt()
        .issue(&new_worker_claims(worker, Duration::from_secs(60)))
        .unwrap();
    assert_throttled(app.post(&heartbeat, &foreign, &body).await).await;
    assert_problem(
        app.post(&heartbeat, &valid, &body).await,
        StatusCode::GONE,
        "worker_expired",
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn operator_routes_without_an_operator_token_say_how_to_enable_them(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let drain = format!("/v1/admin/workers/{}/drain", Uuid::now_v7());
    let requests = [
        app.client.get(app.url("/v1/admin/workers")),
        app.client
            .get(app.url("/v1/admin/workers"))
            .bearer_auth("some-guess"),
        app.client
            .get(app.url("/v1/admin/workers"))
            .bearer_auth(&app.owner_key),
        app.client
            .get(app.url("/v1/admin/workers"))
            .header("authorization", "Basic b3BlcmF0b3I6eA=="),
        app.client.post(app.url(&drain)),
    ];
    for request in requests {
        let problem = assert_problem(
            request.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "credential_not_configured",
        )
        .await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .starts_with("operator routes are disabled: set EDGEBRIDGE_OPERATOR_TOKEN"),
            "{problem}"
        );
    }
}

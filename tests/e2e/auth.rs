//! Authentication, access tokens, roles, app-limited keys, revocation and rate limiting.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrations = false)]
async fn missing_or_bad_credentials_answer_401(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let res = app.client.get(app.url("/v1/apps")).send().await.unwrap();
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"edgebridge\""
    );
    assert_problem(res, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    let last = app.owner_key.chars().last().unwrap();
    let wrong_secret = format!(
        "{}{}",
        &app.owner_key[..app.owner_key.len() - 1],
        if last == 'x' { 'y' } else { 'x' }
    );
    for token in [
        "garbage",
        "ebk_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        wrong_secret.as_str(),
        "eyJhbGciOiJIUzI1NiJ9.e30.x",
    ] {
        assert_problem(
            app.get("/v1/apps", token).await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    let res = app
        .client
        .get(app.url("/v1/apps"))
        .header("authorization", format!("Basic {}", app.owner_key))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

async fn token_for(app: &TestApp, key: &str) -> Value {
    let res = app.post("/v1/auth/token", key, &json!({})).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[sqlx::test(migrations = false)]
async fn api_keys_exchange_for_short_lived_tokens(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let token = token_for(&app, &app.owner_key).await;
    assert_eq!(token["tokenType"], "Bearer");
    assert_eq!(token["expiresIn"], 900);
    let jwt = token["accessToken"].as_str().unwrap();
    let res = app.get("/v1/apps", jwt).await;
    assert_eq!(res.status(), StatusCode::OK);

    // The claims carry audience, issuer, expiry and the key id in `kid`-signed HS256.
    let mut parts = jwt.split('.');
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], "j1");
    assert_eq!(claims["aud"], "edgebridge-api");
    assert_eq!(claims["iss"], "edgebridge");
    assert_eq!(claims["role"], "owner");
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());

    // A token cannot mint another token.
    assert_problem(
        app.post("/v1/auth/token", jwt, &json!({})).await,
        StatusCode::BAD_REQUEST,
        "api_key_required",
    )
    .await;

    // A token whose signature was altered is refused.
    let mut tampered = jwt.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_problem(
        app.get("/v1/apps", &tampered).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    // A token for a real, live key but signed by another deployment's key is refused.
    let owner_key_id: (Uuid,) = sqlx::query_as("select key_id from api_keys where prefix = $1")
        .bind(&app.owner_key[4..16])
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let foreign = edgebridge_api::auth::jwt::JwtKeys::parse_keys(&key_entry("j1", 7)).unwrap();
    let claims = edgebridge_api::auth::jwt::new_claims(
        owner_key_id.0,
        app.org_id,
        edgebridge_api::auth::Role::Owner,
        None,
        std::time::Duration::from_secs(60),
    );
    let forged = foreign.issue(&claims).unwrap();
    assert_problem(
        app.get("/v1/apps", &forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn expired_tokens_and_keys_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let key = app.create_key(&app.owner_key, "developer", None).await;
    let key_id: (Uuid,) = sqlx::query_as("select key_id from api_keys where prefix = $1")
        .bind(&key[4..16])
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut claims = edgebridge_api::auth::jwt::new_claims(
        key_id.0,
        app.org_id,
        edgebridge_api::auth::Role::Developer,
        None,
        std::time::Duration::from_secs(60),
    );
    claims.exp = claims.iat - 120;
    let expired = test_jwt().issue(&claims).unwrap();
    assert_problem(
        app.get("/v1/apps", &expired).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    sqlx::query("update api_keys set expires_at = now() - interval '1 second' where key_id = $1")
        .bind(key_id.0)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_problem(
        app.get("/v1/apps", &key).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    // Expiry must be in the future when creating a key.
    let problem = assert_problem(
        app.post(
            "/v1/api-keys",
            &app.owner_key,
            &json!({"name": "old", "role": "viewer", "expiresAt": "2001-01-01T00:00:00Z"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/expiresAt"]);
}

#[sqlx::test(migrations = false)]
async fn tokens_are_refused_before_their_not_before_time(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let owner_key_id: (Uuid,) = sqlx::query_as("select key_id from api_keys where prefix = $1")
        .bind(&app.owner_key[4..16])
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut claims = edgebridge_api::auth::jwt::new_claims(
        owner_key_id.0,
        app.org_id,
        edgebridge_api::auth::Role::Owner,
        None,
        std::time::Duration::from_secs(3600),
    );
    claims.nbf = Some(claims.iat + 600);
    let early = test_jwt().issue(&claims).unwrap();
    assert_problem(
        app.get("/v1/apps", &early).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    claims.nbf = Some(claims.iat - 1);
    let due = test_jwt().issue(&claims).unwrap();
    assert_eq!(app.get("/v1/apps", &due).await.status(), StatusCode::OK);
}

#[sqlx::test(migrations = false)]
async fn revocation_takes_effect_at_once_for_keys_and_their_tokens(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let created: Value = app
        .post(
            "/v1/api-keys",
            &app.owner_key,
            &json!({"name": "ci", "role": "developer"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ebk_"));
    assert!(created["display"].as_str().unwrap().ends_with("_…"));
    let token = token_for(&app, &key).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.get("/v1/apps", &key).await.status(), StatusCode::OK);
    assert_eq!(app.get("/v1/apps", &token).await.status(), StatusCode::OK);

    // The secret is shown once: listings never carry it.
    let list = app
        .get("/v1/api-keys", &app.owner_key)
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&key));
    assert!(list.contains(created["id"].as_str().unwrap()));

    let res = app
        .delete(
            &format!("/v1/api-keys/{}", created["id"].as_str().unwrap()),
            &app.owner_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let revocation: Value = res.json().await.unwrap();
    assert_eq!(revocation["revokedCount"], 1);
    assert_eq!(revocation["revokedKeyIds"], json!([created["id"]]));
    assert_problem(
        app.get("/v1/apps", &key).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_problem(
        app.get("/v1/apps", &token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    // Revoking twice: the key is gone.
    assert_problem(
        app.delete(
            &format!("/v1/api-keys/{}", created["id"].as_str().unwrap()),
            &app.owner_key,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn roles_limit_what_a_key_may_do(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let viewer = app.create_key(&app.owner_key, "viewer", None).await;
    let developer = app.create_key(&app.owner_key, "developer", None).await;
    let admin = app.create_key(&app.owner_key, "admin", None).await;
    let connectors = app.connectors_path(app.app_id);

    // Viewer: reads only.
    assert_eq!(app.get(&connectors, &viewer).await.status(), StatusCode::OK);
    assert_problem(
        app.post(&connectors, &viewer, &connector_spec("x")).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.post("/v1/apps", &viewer, &json!({"name": "v"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_problem(
        app.get("/v1/api-keys", &viewer).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Developer: apps and connectors, no keys.
    assert_eq!(
        app.post(&connectors, &developer, &connector_spec("x"))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.post("/v1/apps", &developer, &json!({"name": "dev-app"}))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_problem(
        app.post(
            "/v1/api-keys",
            &developer,
            &json!({"name": "k", "role": "viewer"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Admin: keys up to admin, not owner; cannot revoke an owner key.
    assert_eq!(
        app.get("/v1/api-keys", &admin).await.status(),
        StatusCode::OK
    );
    let problem = assert_problem(
        app.post(
            "/v1/api-keys",
            &admin,
            &json!({"name": "k", "role": "owner"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/role"]);
    let owner_key_id: (Uuid,) =
        sqlx::query_as("select key_id from api_keys where role = 'owner' and org_id = $1")
            .bind(app.org_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_problem(
        app.delete(&format!("/v1/api-keys/{}", owner_key_id.0), &admin)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Unknown roles are refused with the field's path.
    let problem = assert_problem(
        app.post(
            "/v1/api-keys",
            &app.owner_key,
            &json!({"name": "k", "role": "superuser"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/role"]);
}

#[sqlx::test(migrations = false)]
async fn app_limited_keys_see_only_their_app(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let other_app = app.create_app(&app.owner_key, "other").await;
    let scoped = app
        .create_key(&app.owner_key, "admin", Some(app.app_id))
        .await;

    let apps: Value = app.get("/v1/apps", &scoped).await.json().await.unwrap();
    let ids: Vec<Uuid> = apps["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [app.app_id]);

    assert_eq!(
        app.get(&app.connectors_path(app.app_id), &scoped)
            .await
            .status(),
        StatusCode::OK
    );
    assert_problem(
        app.get(&app.connectors_path(other_app), &scoped).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/apps/{other_app}"), &scoped).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_problem(
        app.post("/v1/apps", &scoped, &json!({"name": "nope"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Keys it creates stay within its app.
    let created: Value = app
        .post(
            "/v1/api-keys",
            &scoped,
            &json!({"name": "child", "role": "viewer"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["appId"], app.app_id.to_string());
    let problem = assert_problem(
        app.post(
            "/v1/api-keys",
            &scoped,
            &json!({"name": "escape", "role": "viewer", "appId": other_app}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/appId"]);

    // An access token keeps the scope.
    let token: Value = app
        .post("/v1/auth/token", &scoped, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let jwt = token["accessToken"].as_str().unwrap();
    assert_problem(
        app.get(&app.connectors_path(other_app), jwt).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[sqlx::test(migrations = false)]
async fn rate_limit_answers_429_with_retry_after_per_key(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |config| config.rate_limit_per_sec = 3).await;
    let other = app.create_key(&app.owner_key, "viewer", None).await;
    // Setup used some of the owner's budget; drain the rest.
    let mut limited = None;
    for _ in 0..10 {
        let res = app.get("/v1/apps", &app.owner_key).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("the fourth request within a second is limited");
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "retry-after {retry_after}");
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another key has its own budget.
    assert_eq!(app.get("/v1/apps", &other).await.status(), StatusCode::OK);
}

#[sqlx::test(migrations = false)]
async fn keys_never_outlive_the_key_that_created_them(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let expiry = chrono::Utc::now() + chrono::Duration::hours(1);
    let created: Value = app
        .post(
            "/v1/api-keys",
            &app.owner_key,
            &json!({"name": "temp", "role": "admin", "expiresAt": expiry}),
        )
        .await
        .json()
        .await
        .unwrap();
    let temp = created["key"].as_str().unwrap();

    // Left out: the child inherits the creator's expiry.
    let child: Value = app
        .post(
            "/v1/api-keys",
            temp,
            &json!({"name": "child", "role": "viewer"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let child_expiry: chrono::DateTime<chrono::Utc> =
        child["expiresAt"].as_str().unwrap().parse().unwrap();
    assert!((child_expiry - expiry).num_seconds().abs() <= 1, "{child}");

    // Later than the creator's: refused.
    let later = expiry + chrono::Duration::days(1);
    let problem = assert_problem(
        app.post(
            "/v1/api-keys",
            temp,
            &json!({"name": "child", "role": "viewer", "expiresAt": later}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/expiresAt"]);
}

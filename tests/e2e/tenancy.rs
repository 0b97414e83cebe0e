//! Tenancy: another organization's apps, keys and connectors answer 404 on every route and
//! method, and nothing of theirs changes.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn other_organizations_see_404_on_every_route(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // Organization A (the fixture) has an app, a connector and a key.
    let connector = app.create_connector(&connector_spec("retail")).await;
    let a_app = app.app_id;
    let a_conn = id_of(&connector);
    let a_key: Value = app
        .post(
            "/v1/api-keys",
            &app.owner_key,
            &json!({"name": "a", "role": "viewer"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let a_key_id = a_key["id"].as_str().unwrap().to_owned();

    // Organization B, with an owner key (the most powerful caller) and an access token.
    let (_, b_owner) = app.create_org("globex").await;
    let b_token: Value = app
        .post("/v1/auth/token", &b_owner, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let b_token = b_token["accessToken"].as_str().unwrap().to_owned();

    let spec = connector_spec("intruder");
    let conn = format!("/v1/apps/{a_app}/connectors/{a_conn}");
    let table: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/apps/{a_app}"), None),
        (
            Method::PATCH,
            format!("/v1/apps/{a_app}"),
            Some(json!({"name": "mine"})),
        ),
        (Method::DELETE, format!("/v1/apps/{a_app}"), None),
        (Method::GET, format!("/v1/apps/{a_app}/connectors"), None),
        (
            Method::POST,
            format!("/v1/apps/{a_app}/connectors"),
            Some(spec.clone()),
        ),
        (
            Method::POST,
            format!("/v1/apps/{a_app}/connectors/validate"),
            Some(spec.clone()),
        ),
        (Method::GET, conn.clone(), None),
        (Method::PUT, conn.clone(), Some(spec.clone())),
        (
            Method::PATCH,
            conn.clone(),
            Some(json!({"description": "mine"})),
        ),
        (Method::DELETE, conn.clone(), None),
        (Method::POST, format!("{conn}/pause"), None),
        (Method::POST, format!("{conn}/resume"), None),
        (Method::DELETE, format!("/v1/api-keys/{a_key_id}"), None),
    ];
    // Also B's weakest key: a viewer must not learn more (403) than an owner (404).
    let b_viewer = app.create_key(&b_owner, "viewer", None).await;
    for credential in [&b_owner, &b_token, &b_viewer] {
        for (method, path, body) in &table {
            let mut req = app.request(method.clone(), path, credential);
            if let Some(body) = body {
                req = req.json(body);
            }
            let res = req.send().await.unwrap();
            let body = assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
            let text = body.to_string();
            assert!(!text.contains("retail"), "{method} {path} leaked: {text}");
        }
    }

    // Listings of B show nothing of A.
    let apps: Value = app.get("/v1/apps", &b_owner).await.json().await.unwrap();
    assert_eq!(apps["items"], json!([]));
    let keys = app
        .get("/v1/api-keys", &b_owner)
        .await
        .text()
        .await
        .unwrap();
    assert!(!keys.contains(&a_key_id));

    // B cannot bind a key to A's app.
    let problem = assert_problem(
        app.post(
            "/v1/api-keys",
            &b_owner,
            &json!({"name": "x", "role": "viewer", "appId": a_app}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/appId"]);

    // A's data is untouched.
    let after: Value = app.get(&conn, &app.owner_key).await.json().await.unwrap();
    assert_eq!(after, connector);
    assert_eq!(
        app.get(&format!("/v1/apps/{a_app}"), &app.owner_key)
            .await
            .status(),
        StatusCode::OK
    );
    let a_key_still: Value = app
        .get("/v1/api-keys", &app.owner_key)
        .await
        .json()
        .await
        .unwrap();
    assert!(a_key_still.to_string().contains(&a_key_id));
}

#[sqlx::test(migrations = false)]
async fn app_limited_keys_cannot_reach_other_apps_objects_by_id(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let other_app = app.create_app(&app.owner_key, "other").await;
    let res = app
        .post(
            &app.connectors_path(other_app),
            &app.owner_key,
            &connector_spec("theirs"),
        )
        .await;
    let theirs = id_of(&res.json::<Value>().await.unwrap());
    let scoped = app
        .create_key(&app.owner_key, "developer", Some(app.app_id))
        .await;
    let conn = app.connector_path(other_app, theirs);
    // Through the other app's path, and through its own app's path with the other app's id.
    for path in [conn.clone(), app.connector_path(app.app_id, theirs)] {
        for (method, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(json!({"description": "x"}))),
            (Method::DELETE, None),
        ] {
            let mut req = app.request(method.clone(), &path, &scoped);
            if let Some(body) = body {
                req = req.json(&body);
            }
            assert_problem(
                req.send().await.unwrap(),
                StatusCode::NOT_FOUND,
                "not_found",
            )
            .await;
        }
        assert_problem(
            app.post(&format!("{path}/pause"), &scoped, &json!({}))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let untouched: Value = app.get(&conn, &app.owner_key).await.json().await.unwrap();
    assert_eq!(untouched["desiredState"], "running");
}

//! Input a new user (or a hostile tenant) sends first: misspelled query parameters, NUL
//! characters, bodies of the wrong shape, too large or starting with a byte order mark. Each is
//! refused by name before anything is saved, never with a 500.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

/// The detail of a 400 `unknown_query_parameter`, checked to name `name`.
async fn unknown_parameter(res: reqwest::Response, name: &str) -> String {
    let problem = assert_problem(res, StatusCode::BAD_REQUEST, "unknown_query_parameter").await;
    let detail = problem["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains(&format!("`{name}`")), "{detail}");
    assert_eq!(error_paths(&problem), [format!("/{name}")]);
    detail
}

#[sqlx::test(migrations = false)]
async fn unknown_query_parameters_are_refused_by_name_on_every_route(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let key = app.owner_key.clone();
    let created = app.create_connector(&connector_spec("retail")).await;
    let path = app.connector_path(app.app_id, id_of(&created));

    // A misspelled dry run saves nothing and says what was meant.
    for spelling in ["dryrun", "dry_run"] {
        let res = app
            .request(Method::PATCH, &format!("{path}?{spelling}=true"), &key)
            .header("content-type", "application/merge-patch+json")
            .body(json!({"description": "changed"}).to_string())
            .send()
            .await
            .unwrap();
        let detail = unknown_parameter(res, spelling).await;
        assert!(detail.contains("Did you mean `dryRun`?"), "{detail}");
        let res = app
            .request(Method::PUT, &format!("{path}?{spelling}=true"), &key)
            .json(&connector_spec("renamed"))
            .send()
            .await
            .unwrap();
        unknown_parameter(res, spelling).await;
    }
    let now: Value = app.get(&path, &key).await.json().await.unwrap();
    assert_eq!(now["description"], created["description"]);
    assert_eq!(now["name"], "retail");
    assert_eq!(now["version"], created["version"]);
    // The documented spelling still works.
    let res = app
        .request(Method::PATCH, &format!("{path}?dryRun=true"), &key)
        .header("content-type", "application/merge-patch+json")
        .body(json!({"description": "changed"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // A filter that does not exist is not silently ignored; the accepted ones are listed.
    let list = app.connectors_path(app.app_id);
    let detail = unknown_parameter(
        app.get(&format!("{list}?status=failed"), &key).await,
        "status",
    )
    .await;
    assert!(detail.contains("`limit`, `cursor`"), "{detail}");
    assert_eq!(
        app.get(&format!("{list}?limit=5"), &key).await.status(),
        StatusCode::OK
    );

    // Routes that take no query at all, of every method.
    let detail =
        unknown_parameter(app.get(&format!("{path}?verbose=1"), &key).await, "verbose").await;
    assert!(detail.contains("takes no query parameters"), "{detail}");
    unknown_parameter(
        app.post(&format!("{path}/pause?force=true"), &key, &json!({}))
            .await,
        "force",
    )
    .await;
    unknown_parameter(
        app.delete(&format!("{path}?cascade=1"), &key).await,
        "cascade",
    )
    .await;
    assert_eq!(
        app.get(&path, &key).await.status(),
        StatusCode::OK,
        "not deleted"
    );
    unknown_parameter(
        app.post("/v1/apps?x=1", &key, &json!({"name": "other"}))
            .await,
        "x",
    )
    .await;
    unknown_parameter(
        app.client
            .get(app.url("/healthz?probe=1"))
            .send()
            .await
            .unwrap(),
        "probe",
    )
    .await;
    // Percent-encoded names are decoded before they are compared.
    assert_eq!(
        app.get(&format!("{list}?%6Cimit=5"), &key).await.status(),
        StatusCode::OK
    );
}

#[sqlx::test(migrations = false)]
async fn a_nul_character_is_refused_with_its_path_everywhere(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let key = app.owner_key.clone();
    let invalid = |res: reqwest::Response, path: &'static str| async move {
        let problem =
            assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "invalid_character").await;
        assert_eq!(error_paths(&problem), [path], "{problem}");
    };

    invalid(
        app.post(
            "/v1/apps",
            &key,
            &json!({"name": "a", "description": "x\u{0}y"}),
        )
        .await,
        "/description",
    )
    .await;
    let app_path = format!("/v1/apps/{}", app.app_id);
    invalid(
        app.patch(&app_path, &key, &json!({"description": "\u{0}"}))
            .await,
        "/description",
    )
    .await;
    invalid(
        app.post(
            "/v1/api-keys",
            &key,
            &json!({"name": "ci\u{0}", "role": "viewer"}),
        )
        .await,
        "/name",
    )
    .await;
    let mut spec = connector_spec("retail");
    spec["collections"]["users"]["fields"] = json!(["user\u{0}Id"]);
    invalid(
        app.post(&app.connectors_path(app.app_id), &key, &spec)
            .await,
        "/collections/users/fields/0",
    )
    .await;
    let mut spec = connector_spec("retail");
    spec["collections"]["bad\u{0}name"] = json!({"fields": ["_id"]});
    invalid(
        app.post(&app.connectors_path(app.app_id), &key, &spec)
            .await,
        "/collections/bad\u{0}name",
    )
    .await;
    let execute = format!("/v1/apps/{}/store/execute", app.app_id);
    invalid(
        app.post(
            &execute,
            &key,
            &json!({"statement": "SELECT * FROM `a\u{0}b`"}),
        )
        .await,
        "/statement",
    )
    .await;
    invalid(
        app.post(
            &execute,
            &key,
            &json!({"statement": "INSERT INTO c DOCUMENTS (:d)", "args": {"d": {"_id": "1"}}, "origin": "o\u{0}"}),
        )
        .await,
        "/origin",
    )
    .await;
    let compat = format!("/{}/api/v4/store/execute", app.app_id);
    invalid(
        app.post(
            &compat,
            &key,
            &json!({"statement": "INSERT INTO c DOCUMENTS (:d)", "args": {"d": {"_id": "1", "k\u{0}": 1}}}),
        )
        .await,
        "/args/d/k\u{0}",
    )
    .await;

    // In a query parameter and in a path.
    let connector = id_of(&app.create_connector(&connector_spec("retail")).await);
    let path = app.connector_path(app.app_id, connector);
    invalid(app.get(&format!("{path}/events?q=a%00b"), &key).await, "/q").await;
    invalid(
        app.post(
            &format!("{path}/collections/ta%00sks/resync"),
            &key,
            &json!({}),
        )
        .await,
        "/collection",
    )
    .await;

    // Nothing above reached Postgres: the api still answers, and nothing was saved.
    let apps: Value = app.get("/v1/apps", &key).await.json().await.unwrap();
    assert_eq!(apps["items"].as_array().unwrap().len(), 1, "{apps}");
}

#[sqlx::test(migrations = false)]
async fn app_key_and_store_bodies_get_the_connector_spec_wording(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let key = app.owner_key.clone();
    let violation = |res: reqwest::Response| async move {
        let problem =
            assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        let error = &problem["errors"][0];
        (
            error["path"].as_str().unwrap().to_owned(),
            error["message"].as_str().unwrap().to_owned(),
        )
    };

    // A connector body says it this way...
    let mut spec = connector_spec("retail");
    spec["name"] = json!(5);
    let connector = violation(
        app.post(&app.connectors_path(app.app_id), &key, &spec)
            .await,
    )
    .await;
    assert_eq!(
        connector,
        ("/name".into(), "must be a string, not a number".into())
    );
    // ...and so do app, key and store bodies.
    assert_eq!(
        violation(app.post("/v1/apps", &key, &json!({"name": 5})).await).await,
        connector
    );
    assert_eq!(
        violation(
            app.post("/v1/apps", &key, &json!({"description": "d"}))
                .await
        )
        .await,
        ("/name".into(), "is required".into())
    );
    let (path, message) = violation(
        app.post("/v1/apps", &key, &json!({"name": "a", "colour": 1}))
            .await,
    )
    .await;
    assert_eq!(path, "/colour");
    assert_eq!(
        message,
        "unknown field `colour`; expected one of: name, description"
    );
    let (path, message) = violation(
        app.post("/v1/api-keys", &key, &json!({"name": "ci", "role": "boss"}))
            .await,
    )
    .await;
    assert_eq!(path, "/role");
    assert!(
        message.starts_with("must be one of: ") && message.ends_with("(not `boss`)"),
        "{message}"
    );
    let execute = format!("/v1/apps/{}/store/execute", app.app_id);
    assert_eq!(
        violation(
            app.post(
                &execute,
                &key,
                &json!({"statement": "SELECT * FROM c", "dqlStrictMode": "yes"})
            )
            .await
        )
        .await,
        (
            "/dqlStrictMode".into(),
            "must be true or false, not a string".into()
        )
    );
}

#[sqlx::test(migrations = false)]
async fn too_large_bodies_name_the_limit_and_a_byte_order_mark_is_accepted(pool: PgPool) {
    let app = TestApp::spawn_with(pool, |c| c.body_limit_bytes = 64 * 1024).await;
    let key = app.owner_key.clone();

    let huge = json!({"name": "x", "description": "d".repeat(100 * 1024)});
    let problem = assert_problem(
        app.post("/v1/apps", &key, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("65536 bytes") && detail.contains("EDGEBRIDGE_BODY_LIMIT_BYTES"),
        "{detail}"
    );

    // PowerShell and some editors write a UTF-8 byte order mark first: it is skipped.
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(json!({"name": "bom"}).to_string().as_bytes());
    let res = app
        .request(Method::POST, "/v1/apps", &key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["name"], "bom");
}

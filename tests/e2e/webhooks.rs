//! Webhooks end to end: a local receiver (127.0.0.1, port 0) gets a test event signed the
//! Standard Webhooks way (checked here with our own HMAC), answers 500 and then 200, and the
//! delivery log shows both; bad URLs are refused with their field path; another tenant cannot
//! see or use a webhook. `queue` holds what the dispatcher does with enqueued events.

mod queue;
pub mod receiver;

use crate::conformance::send_checked;
use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use edgebridge_api::ApiConfig;
use edgebridge_api::config::WebhookConfig;
use edgebridge_api::mongo::policy::TargetPolicy;
use hmac::{Hmac, Mac};
use receiver::{Received, Receiver};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Webhook settings fast enough for tests: the first retry after 50 ms.
pub fn fast_retries() -> WebhookConfig {
    WebhookConfig {
        retry_base: Duration::from_millis(50),
        ..WebhookConfig::default()
    }
}

/// The receivers live on loopback: the api allows private addresses here, as `--dev` does.
pub fn local(config: &mut ApiConfig) {
    config.preflight.policy = TargetPolicy::AllowPrivate;
    config.webhooks = fast_retries();
}

pub fn webhooks_path(app_id: Uuid) -> String {
    format!("/v1/apps/{app_id}/webhooks")
}

pub fn webhook_path(app_id: Uuid, webhook_id: Uuid) -> String {
    format!("/v1/apps/{app_id}/webhooks/{webhook_id}")
}

pub async fn create_webhook(app: &TestApp, app_id: Uuid, body: &Value) -> Value {
    let res = app.post(&webhooks_path(app_id), &app.owner_key, body).await;
    let status = res.status();
    let created: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "create webhook: {created}");
    created
}

/// One dispatcher pass as the scheduler role makes it, with the test keys.
pub async fn dispatch(app: &TestApp, policy: TargetPolicy, config: &WebhookConfig) -> usize {
    edgebridge_api::webhooks::dispatch_due(&app.pool, Arc::new(test_keyring()), policy, config)
        .await
        .unwrap()
}

/// Checks a request's signature the way a receiver would, computed here independently:
/// base64(HMAC-SHA256(base64-decoded secret after `whsec_`, "{id}.{timestamp}.{body}")).
pub fn verify_signature(secret: &str, request: &Received) {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let (id, timestamp) = (
        request.header("webhook-id"),
        request.header("webhook-timestamp"),
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{}", request.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let signatures = request.header("webhook-signature");
    assert!(
        signatures.split(' ').any(|s| s == expected),
        "{signatures} does not hold {expected}"
    );
    let sent_at: i64 = timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 300);
    assert_eq!(request.header("content-type"), "application/json");
}

async fn json_of(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[sqlx::test(migrations = false)]
async fn a_test_event_is_signed_retried_after_a_500_and_logged(pool: PgPool) {
    let receiver = Receiver::start(&[500, 200], Duration::ZERO).await;
    let app = TestApp::spawn_with(pool, local).await;
    let created = create_webhook(
        &app,
        app.app_id,
        &json!({"url": receiver.url, "description": "on-call"}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 24);
    let path = webhook_path(app.app_id, id_of(&created));

    // The secret is shown once: never in a read or a list.
    let read = json_of(app.get(&path, &app.owner_key).await).await;
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(read["url"], receiver.url.as_str());
    let list = json_of(app.get(&webhooks_path(app.app_id), &app.owner_key).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret[6..]));

    // The test event goes out at once; the receiver answers 500.
    let delivery = json_of(
        app.post(&format!("{path}/test"), &app.owner_key, &json!({}))
            .await,
    )
    .await;
    assert_eq!(delivery["state"], "pending", "{delivery}");
    assert_eq!(delivery["attemptCount"], 1);
    assert_eq!(delivery["lastStatusCode"], 500);
    assert_eq!(delivery["attempts"][0]["statusCode"], 500);
    assert_eq!(
        delivery["attempts"][0]["responseBody"],
        "receiver answered 500"
    );
    assert!(delivery["nextAttemptAt"].is_string());
    let first = receiver.received()[0].clone();
    verify_signature(&secret, &first);
    assert_eq!(first.header("webhook-id"), delivery["messageId"]);
    assert!(first.header("webhook-id").starts_with("msg_"));
    let body: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["webhookId"], created["id"]);
    chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(delivery["payload"], body);

    // The dispatcher retries after the backoff; the receiver answers 200.
    let config = fast_retries();
    receiver
        .wait_for(2, Duration::from_secs(10), || {
            dispatch(&app, TargetPolicy::AllowPrivate, &config)
        })
        .await;
    let second = receiver.received()[1].clone();
    verify_signature(&secret, &second);
    assert_eq!(second.header("webhook-id"), first.header("webhook-id"));
    assert_eq!(second.body, first.body);

    // The log: one delivery, succeeded, both attempts newest first.
    let log = json_of(app.get(&format!("{path}/deliveries"), &app.owner_key).await).await;
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{log}");
    let done = &items[0];
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attemptCount"], 2);
    assert_eq!(done["lastStatusCode"], 200);
    assert!(done["finishedAt"].is_string() && done["nextAttemptAt"].is_null());
    let codes: Vec<&Value> = done["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["statusCode"])
        .collect();
    assert_eq!(codes, [&json!(200), &json!(500)]);
    assert!(done["attempts"][0]["durationMs"].as_i64().unwrap() >= 0);
    let one = json_of(
        app.get(
            &format!("{path}/deliveries/{}", done["id"].as_str().unwrap()),
            &app.owner_key,
        )
        .await,
    )
    .await;
    assert_eq!(&one, done);

    // Nothing is due any more.
    assert_eq!(dispatch(&app, TargetPolicy::AllowPrivate, &config).await, 0);
    assert_eq!(receiver.received().len(), 2);
}

#[sqlx::test(migrations = false)]
async fn webhook_urls_must_be_allowed_and_well_formed(pool: PgPool) {
    // The default policy: public addresses only.
    let app = TestApp::spawn(pool).await;
    let path = webhooks_path(app.app_id);
    for (url, says) in [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://localhost:9/hook", "loopback"),
        ("http://10.0.0.5/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]:9/", "loopback"),
        ("ftp://hooks.example.com/", "https"),
        ("https://user:pw@8.8.8.8/", "user name or password"),
        ("hooks.example.com/x", "absolute URL"),
    ] {
        let res = app.post(&path, &app.owner_key, &json!({"url": url})).await;
        let problem =
            assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert_eq!(error_paths(&problem), ["/url"], "{url}: {problem}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{url}: {message}");
        assert!(!problem.to_string().contains("pw@"));
    }

    // Every problem at once, each with its path; the secret given is not echoed.
    let bad_secret = format!("whsec_{}", STANDARD.encode([7u8; 16]));
    let res = app
        .post(
            &path,
            &app.owner_key,
            &json!({"url": "ftp://x/", "description": "d".repeat(1025),
                    "eventTypes": ["alert.firing", "alert.nope", "alert.firing"], "secret": bad_secret}),
        )
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        error_paths(&problem),
        [
            "/url",
            "/description",
            "/eventTypes/1",
            "/eventTypes/2",
            "/secret"
        ]
    );
    assert!(!problem.to_string().contains(&bad_secret[6..]));
    let res = app
        .post(
            &path,
            &app.owner_key,
            &json!({"url": "https://8.8.8.8/", "eventTypes": []}),
        )
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(error_paths(&problem), ["/eventTypes"]);

    // A public address is accepted (nothing is sent when saving), with the secret given.
    let given = format!("whsec_{}", STANDARD.encode([42u8; 32]));
    let created = create_webhook(
        &app,
        app.app_id,
        &json!({"url": "https://8.8.8.8/hook", "secret": given, "eventTypes": ["alert.firing"]}),
    )
    .await;
    assert_eq!(created["secret"], given.as_str());
    assert_eq!(created["eventTypes"], json!(["alert.firing"]));
    let webhook = webhook_path(app.app_id, id_of(&created));

    // Changing it to a private address is refused as well; the secret is not patchable.
    let res = app
        .patch(
            &webhook,
            &app.owner_key,
            &json!({"url": "http://192.168.0.10/"}),
        )
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(error_paths(&problem), ["/url"]);
    let res = app
        .patch(&webhook, &app.owner_key, &json!({"secret": given}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A patch with the ETag read; `eventTypes: null` subscribes to every type again.
    let res = send_checked(
        app.request(Method::PATCH, &webhook, &app.owner_key)
            .header("if-match", "\"1\"")
            .json(&json!({"enabled": false, "eventTypes": null, "description": "paused"})),
    )
    .await;
    assert_eq!(res.headers()["etag"], "\"2\"");
    let patched = json_of(res).await;
    assert_eq!(patched["enabled"], false);
    assert!(patched["eventTypes"].is_null(), "{patched}");
    assert_eq!(patched["url"], "https://8.8.8.8/hook");
    let stale = send_checked(
        app.request(Method::DELETE, &webhook, &app.owner_key)
            .header("if-match", "\"1\""),
    )
    .await;
    assert_problem(
        stale,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;
    assert_eq!(
        app.delete(&webhook, &app.owner_key).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&webhook, &app.owner_key).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn call(app: &TestApp, method: Method, path: &str, key: &str) -> reqwest::Response {
    let request = app.request(method.clone(), path, key);
    let request = match method {
        Method::POST | Method::PATCH => request.json(&json!({"enabled": true})),
        _ => request,
    };
    send_checked(request).await
}

#[sqlx::test(migrations = false)]
async fn another_tenant_cannot_see_or_use_a_webhook(pool: PgPool) {
    let receiver = Receiver::start(&[200], Duration::ZERO).await;
    let app = TestApp::spawn_with(pool, local).await;
    let created = create_webhook(&app, app.app_id, &json!({"url": receiver.url})).await;
    let webhook_id = id_of(&created);
    let (_, other_key) = app.create_org("globex").await;
    let other_app = app.create_app(&other_key, "globex-app").await;
    let theirs = create_webhook_as(&app, &other_key, other_app, &receiver.url).await;

    for base in [
        webhook_path(app.app_id, webhook_id),
        webhook_path(other_app, webhook_id),
    ] {
        for (method, path) in [
            (Method::GET, base.clone()),
            (Method::PATCH, base.clone()),
            (Method::DELETE, base.clone()),
            (Method::POST, format!("{base}/test")),
            (Method::POST, format!("{base}/rotate-secret")),
            (Method::GET, format!("{base}/deliveries")),
        ] {
            let res = call(&app, method.clone(), &path, &other_key).await;
            assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
        }
    }
    let listed = json_of(app.get(&webhooks_path(other_app), &other_key).await).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["id"], theirs);

    // A viewer of the organization reads it but may not send or change; a key limited to
    // another app does not see it.
    let path = webhook_path(app.app_id, webhook_id);
    let viewer = app.create_key(&app.owner_key, "viewer", None).await;
    assert_eq!(app.get(&path, &viewer).await.status(), StatusCode::OK);
    for (method, path) in [
        (Method::POST, format!("{path}/test")),
        (Method::PATCH, path.clone()),
        (Method::POST, format!("{path}/rotate-secret")),
    ] {
        let res = call(&app, method, &path, &viewer).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let second_app = app.create_app(&app.owner_key, "second").await;
    let scoped = app
        .create_key(&app.owner_key, "developer", Some(second_app))
        .await;
    let res = call(&app, Method::POST, &format!("{path}/test"), &scoped).await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    assert!(receiver.received().is_empty());
}

async fn create_webhook_as(app: &TestApp, key: &str, app_id: Uuid, url: &str) -> Value {
    let res = app
        .post(&webhooks_path(app_id), key, &json!({"url": url}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["id"].clone()
}

//! What happens to enqueued events: a dedupe key is notified once (also across transactions),
//! subscriptions and disabled webhooks are honoured, a slow endpoint keeps to its share of the
//! dispatcher, a delivery gives up after its window and can be retried by hand, and secrets
//! follow key rotation.

use super::receiver::Receiver;
use super::*;
use edgebridge_api::admin::rotate_keys;
use edgebridge_api::crypto::Keyring;
use edgebridge_api::webhooks::enqueue;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// `enqueue` in its own committed transaction, as the alert evaluator calls it.
async fn enqueue_one(app: &TestApp, app_id: Uuid, event: &str, key: &str) -> usize {
    let mut tx = edgebridge_api::db::begin(&app.pool).await.unwrap();
    let n = enqueue(&mut tx, app_id, event, json!({"alertId": key}), key)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    n
}

#[sqlx::test(migrations = false)]
async fn a_repeated_dedupe_key_enqueues_once(pool: PgPool) {
    let app = TestApp::spawn_with(pool, local).await;
    let url = "http://127.0.0.1:9/hook";
    let every = id_of(&create_webhook(&app, app.app_id, &json!({"url": url})).await);
    create_webhook(
        &app,
        app.app_id,
        &json!({"url": url, "eventTypes": ["alert.resolved"]}),
    )
    .await;
    create_webhook(&app, app.app_id, &json!({"url": url, "enabled": false})).await;

    let alert = json!({"alertId": "a-1:firing", "kind": "lag", "state": "firing"});
    let mut tx = edgebridge_api::db::begin(&app.pool).await.unwrap();
    let first = enqueue(
        &mut tx,
        app.app_id,
        "alert.firing",
        alert.clone(),
        "a-1:firing",
    );
    assert_eq!(
        first.await.unwrap(),
        1,
        "only the enabled webhook of every type"
    );
    let again = enqueue(
        &mut tx,
        app.app_id,
        "alert.firing",
        alert.clone(),
        "a-1:firing",
    );
    assert_eq!(again.await.unwrap(), 0);
    tx.commit().await.unwrap();
    // Another transaction (an evaluation after a restart) adds nothing either.
    assert_eq!(
        enqueue_one(&app, app.app_id, "alert.firing", "a-1:firing").await,
        0
    );
    assert_eq!(
        enqueue_one(&app, app.app_id, "alert.resolved", "a-1:resolved").await,
        2
    );

    // A rolled-back transaction leaves nothing behind: the key is still free.
    let mut tx = edgebridge_api::db::begin(&app.pool).await.unwrap();
    let rolled = enqueue(
        &mut tx,
        app.app_id,
        "alert.firing",
        alert.clone(),
        "a-2:firing",
    );
    assert_eq!(rolled.await.unwrap(), 1);
    tx.rollback().await.unwrap();
    assert_eq!(
        enqueue_one(&app, app.app_id, "alert.firing", "a-2:firing").await,
        1
    );

    // The same key in another app is another event.
    let other = app.create_app(&app.owner_key, "other").await;
    create_webhook(&app, other, &json!({"url": url})).await;
    assert_eq!(
        enqueue_one(&app, other, "alert.firing", "a-1:firing").await,
        1
    );

    assert_eq!(count(&app.pool, "webhook_messages").await, 4);
    assert_eq!(count(&app.pool, "webhook_deliveries").await, 5);
    let log: Value = app
        .get(
            &format!("{}/deliveries", webhook_path(app.app_id, every)),
            &app.owner_key,
        )
        .await
        .json()
        .await
        .unwrap();
    let keys: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["payload"]["data"]["alertId"])
        .collect();
    assert_eq!(
        keys,
        [
            &json!("a-2:firing"),
            &json!("a-1:resolved"),
            &json!("a-1:firing")
        ]
    );
    let pending = app
        .get(
            &format!(
                "{}/deliveries?state=pending&limit=1",
                webhook_path(app.app_id, every)
            ),
            &app.owner_key,
        )
        .await;
    let page: Value = pending.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["nextCursor"].is_string(), "{page}");
}

#[sqlx::test(migrations = false)]
async fn a_slow_endpoint_does_not_hold_up_other_apps(pool: PgPool) {
    let slow = Receiver::start(&[200], Duration::from_secs(2)).await;
    let fast = Receiver::start(&[200], Duration::ZERO).await;
    let app = TestApp::spawn_with(pool, local).await;
    let other = app.create_app(&app.owner_key, "other").await;
    create_webhook(&app, app.app_id, &json!({"url": slow.url})).await;
    create_webhook(&app, other, &json!({"url": fast.url})).await;
    for i in 0..4 {
        enqueue_one(&app, app.app_id, "alert.firing", &format!("slow-{i}")).await;
    }

    // The dispatcher as the scheduler role runs it: 4 attempts at once, 2 per app.
    let config = WebhookConfig {
        concurrency: 4,
        per_app: 2,
        poll_interval: Duration::from_millis(20),
        request_timeout: Duration::from_secs(5),
        ..fast_retries()
    };
    let cancel = CancellationToken::new();
    let dispatcher = tokio::spawn(edgebridge_api::webhooks::run(
        app.pool.clone(),
        Arc::new(test_keyring()),
        TargetPolicy::AllowPrivate,
        config,
        cancel.clone(),
    ));
    slow.wait_for(2, Duration::from_secs(5), || async {}).await;

    // While the slow endpoint holds its share, the other app's event goes out at once.
    let started = Instant::now();
    enqueue_one(&app, other, "alert.firing", "fast-1").await;
    fast.wait_for(1, Duration::from_millis(1500), || async {})
        .await;
    assert!(slow.received().len() < 4, "the slow ones are still running");
    assert!(started.elapsed() < Duration::from_millis(1500));

    slow.wait_for(4, Duration::from_secs(20), || async {}).await;
    assert_eq!(
        slow.most_at_once(),
        2,
        "one app never holds more than its share"
    );
    cancel.cancel();
    dispatcher.await.unwrap();
}

#[sqlx::test(migrations = false)]
async fn a_delivery_fails_after_its_retry_window_and_can_be_retried(pool: PgPool) {
    let receiver = Receiver::start(&[503], Duration::ZERO).await;
    let config = WebhookConfig {
        retry_base: Duration::from_millis(20),
        give_up_after: Duration::from_millis(400),
        ..WebhookConfig::default()
    };
    let api_config = config.clone();
    let app = TestApp::spawn_with(pool, move |c| {
        c.preflight.policy = TargetPolicy::AllowPrivate;
        c.webhooks = api_config;
    })
    .await;
    let created = create_webhook(&app, app.app_id, &json!({"url": receiver.url})).await;
    let path = webhook_path(app.app_id, id_of(&created));
    let test: Value = app
        .post(&format!("{path}/test"), &app.owner_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let delivery = format!("{path}/deliveries/{}", test["id"].as_str().unwrap());

    // Retried until its window closes, then failed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let failed = loop {
        dispatch(&app, TargetPolicy::AllowPrivate, &config).await;
        let now: Value = app
            .get(&delivery, &app.owner_key)
            .await
            .json()
            .await
            .unwrap();
        if now["state"] == "failed" {
            break now;
        }
        assert!(Instant::now() < deadline, "still {now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let attempts = failed["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{failed}");
    assert_eq!(failed["attemptCount"], attempts.len());
    assert!(attempts.iter().all(|a| a["statusCode"] == 503));
    assert!(failed["finishedAt"].is_string() && failed["nextAttemptAt"].is_null());
    assert_eq!(dispatch(&app, TargetPolicy::AllowPrivate, &config).await, 0);

    // Retried by hand once the endpoint is fixed: sent now, same message.
    receiver.answer(200);
    let retried: Value = app
        .post(&format!("{delivery}/retry"), &app.owner_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retried["state"], "succeeded", "{retried}");
    assert_eq!(retried["attemptCount"], attempts.len() + 1);
    assert_eq!(retried["attempts"][0]["statusCode"], 200);
    let sent = receiver.received();
    assert_eq!(
        sent.last().unwrap().header("webhook-id"),
        sent[0].header("webhook-id")
    );

    // A pending delivery is retried on its schedule, not by hand.
    receiver.answer(500);
    let pending: Value = app
        .post(&format!("{path}/test"), &app.owner_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .post(
            &format!(
                "{path}/deliveries/{}/retry",
                pending["id"].as_str().unwrap()
            ),
            &app.owner_key,
            &json!({}),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "delivery_pending").await;
}

#[sqlx::test(migrations = false)]
async fn every_attempt_checks_the_address_it_connects_to(pool: PgPool) {
    let receiver = Receiver::start(&[200], Duration::ZERO).await;
    // Saved where private addresses were allowed...
    let app = TestApp::spawn_with(pool, local).await;
    let by_address = create_webhook(&app, app.app_id, &json!({"url": receiver.url})).await;
    let by_name = json!({"url": format!("http://localhost:{}/hook", receiver.port)});
    let by_name = create_webhook(&app, app.app_id, &by_name).await;
    assert_eq!(
        enqueue_one(&app, app.app_id, "alert.firing", "a-1:firing").await,
        2
    );

    // ...and sent by a dispatcher whose policy does not allow them: nothing reaches them, by
    // address or through the name's resolution (the connection uses the checked addresses).
    assert_eq!(
        dispatch(&app, TargetPolicy::PublicOnly, &fast_retries()).await,
        2
    );
    assert!(receiver.received().is_empty());
    for webhook in [&by_address, &by_name] {
        let path = format!("{}/deliveries", webhook_path(app.app_id, id_of(webhook)));
        let log: Value = app.get(&path, &app.owner_key).await.json().await.unwrap();
        let delivery = &log["items"][0];
        assert_eq!(delivery["state"], "pending", "{delivery}");
        assert!(delivery["lastStatusCode"].is_null());
        let error = delivery["attempts"][0]["error"].as_str().unwrap();
        assert!(error.contains("loopback"), "{error}");
    }
}

#[sqlx::test(migrations = false)]
async fn secrets_are_encrypted_and_follow_key_rotation(pool: PgPool) {
    let receiver = Receiver::start(&[200], Duration::ZERO).await;
    let app = TestApp::spawn_with(pool, local).await;
    let given = format!("whsec_{}", STANDARD.encode([42u8; 32]));
    let created = create_webhook(
        &app,
        app.app_id,
        &json!({"url": receiver.url, "secret": given}),
    )
    .await;
    let secret_row = || async {
        sqlx::query_as::<_, (Vec<u8>, String)>(
            "select secret_ciphertext, secret_key_id from webhooks",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let (ciphertext, key_id) = secret_row().await;
    assert_eq!(key_id, "k1");
    assert!(!ciphertext.windows(32).any(|w| w == [42u8; 32]));

    // `keys rotate` re-encrypts it under the new key; a dispatcher with only that key signs.
    let ring = Keyring::parse(&format!("{},{}", key_entry("k2", 2), key_entry("k1", 1))).unwrap();
    let report = rotate_keys(&app.pool, &ring).await.unwrap();
    assert_eq!((report.rotated, report.failed.len()), (1, 0));
    assert_eq!(secret_row().await.1, "k2");
    assert_eq!(
        enqueue_one(&app, app.app_id, "alert.firing", "a-1:firing").await,
        1
    );
    let only_new = Arc::new(Keyring::parse(&key_entry("k2", 2)).unwrap());
    let config = fast_retries();
    let sent = edgebridge_api::webhooks::dispatch_due(
        &app.pool,
        only_new,
        TargetPolicy::AllowPrivate,
        &config,
    );
    assert_eq!(sent.await.unwrap(), 1);
    verify_signature(&given, &receiver.received()[0]);

    // Rotating the secret by hand: a new one, shown once, signs from then on.
    let path = webhook_path(app.app_id, id_of(&created));
    let rotated: Value = app
        .post(&format!("{path}/rotate-secret"), &app.owner_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != given);
    let read: Value = app.get(&path, &app.owner_key).await.json().await.unwrap();
    assert!(read.get("secret").is_none());
    let test: Value = app
        .post(&format!("{path}/test"), &app.owner_key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(test["state"], "succeeded", "{test}");
    verify_signature(new_secret, &receiver.received()[1]);
}

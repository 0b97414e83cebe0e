//! Assignment: workers get their connectors (and only their own), fleet routes need their
//! secrets, registration is checked, a joining worker takes its fair share.

use super::{Fleet, OPERATOR_TOKEN, WORKER_TOKEN, step};
use crate::helpers::{PASSWORD, assert_problem};
use edgebridge_worker::Worker;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn workers_run_their_assigned_connectors_and_users_see_it(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let collections = ["orders", "orders-b", "orders-c", "orders-d"];
    let ids = [
        fleet.connector("a", collections[0]).await,
        fleet.connector("b", collections[1]).await,
        fleet.connector("c", collections[2]).await,
        fleet.connector("d", collections[3]).await,
    ];
    // Before any worker: pending, waiting for one.
    let before = fleet.status(ids[0]).await;
    assert_eq!(before["status"], "pending");
    assert_eq!(before["health"]["state"], "yellow");
    assert_eq!(before["health"]["code"], "awaiting_worker");
    assert_eq!(before["assignedWorker"], Value::Null);
    assert_eq!(before["collectionStatus"]["orders"]["phase"], "pending");

    let mut w1 = fleet.worker("w1", 100).await;
    let mut w2 = fleet.worker("w2", 100).await;
    assert_eq!(fleet.tick().await.moves, 4);
    let s1 = step(&mut w1).await;
    let s2 = step(&mut w2).await;
    assert_eq!(s1.started.len() + s2.started.len(), 4);
    assert_eq!((s1.started.len(), s2.started.len()), (2, 2));
    for (id, collection) in ids.into_iter().zip(collections) {
        let status = fleet.status(id).await;
        assert_eq!(status["status"], "running", "{status}");
        assert_eq!(status["health"]["state"], "green");
        let phase = &status["collectionStatus"][collection]["phase"];
        assert!(phase == "ready" || phase == "streaming", "{status}");
        assert_eq!(status["counters"]["preflightRuns"], 1);
        let name = status["assignedWorker"]["name"].as_str().unwrap();
        assert!(name == "w1" || name == "w2");
        assert!(status["assignedWorker"]["since"].is_string());
        assert!(
            status["assignedWorker"].get("id").is_none(),
            "name only: {status}"
        );
        assert!(!status.to_string().contains(PASSWORD));
    }
    // A second heartbeat with nothing changed starts and stops nothing.
    let again = step(&mut w1).await;
    assert!(again.started.is_empty() && again.stopped.is_empty());
    // The operator sees both workers with their load.
    let res = fleet.operator(Method::GET, "/v1/admin/workers").await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Value = res.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for w in items {
        assert_eq!(w["state"], "live");
        assert_eq!(w["connectors"], 2);
        assert_eq!(
            w["load"], 4,
            "two connectors of one collection weigh 2 each"
        );
        assert_eq!(w["version"], "test");
    }
}

#[sqlx::test(migrations = false)]
async fn a_worker_never_receives_another_workers_connector_config(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let id = fleet.connector("a", "orders").await;
    let w1 = fleet.worker("w1", 100).await;
    let w2 = fleet.worker("w2", 1).await;
    fleet.tick().await;
    // Capacity 1 cannot carry a connector of weight 2: it is w1's.
    assert_eq!(fleet.assigned(id).await, w1.id());
    let epoch = fleet.epoch(id).await;

    let own = w1.client().connector(id, epoch).await.unwrap();
    assert!(
        own.connection_string.contains(PASSWORD),
        "decrypted for its worker"
    );
    assert!(
        !format!("{own:?}").contains(PASSWORD),
        "never in Debug output"
    );
    // The other worker, with its own valid credential, gets nothing.
    let other = w2.client().connector(id, epoch).await;
    assert!(
        matches!(
            other,
            Err(edgebridge_worker::client::ClientError::Fenced(_))
        ),
        "{:?}",
        other.err()
    );
    // Nor the owner at another epoch.
    assert!(w1.client().connector(id, epoch + 1).await.is_err());
    assert!(w1.client().connector(id, epoch - 1).await.is_err());

    // Raw HTTP: the worker token is not a worker JWT, a tenant key is neither, and a worker's
    // JWT is refused on another worker's routes and on tenant routes.
    let w1_id = w1.id().unwrap();
    let path = format!("/internal/v1/workers/{w1_id}/connectors/{id}?epoch={epoch}");
    for key in [WORKER_TOKEN, OPERATOR_TOKEN, fleet.app.owner_key.as_str()] {
        let res = fleet.app.get(&path, key).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let res = fleet
        .app
        .client
        .post(fleet.app.url(&format!(
            "/internal/v1/workers/{}/heartbeat",
            w2.id().unwrap()
        )))
        .bearer_auth(WORKER_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    // A tenant's key does not open the operator's routes, nor does the worker token.
    for key in [fleet.app.owner_key.as_str(), WORKER_TOKEN] {
        let res = fleet.app.get("/v1/admin/workers", key).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // A wrong worker token cannot register.
    let mut bad = fleet.worker_config("w3", 10);
    bad.worker_token = SecretString::from("not-the-worker-token-at-all");
    assert!(matches!(
        Worker::register(bad).await.err(),
        Some(edgebridge_worker::client::ClientError::Unauthorized(_))
    ));
}

#[sqlx::test(migrations = false)]
async fn fleet_routes_are_closed_without_configured_secrets(pool: PgPool) {
    let fleet = Fleet::with(pool, |c| {
        c.fleet.worker_token = None;
        c.fleet.operator_token = None;
    })
    .await;
    let res = fleet
        .app
        .post(
            "/internal/v1/workers/register",
            WORKER_TOKEN,
            &json!({"name": "w", "capacity": 1, "version": "x"}),
        )
        .await;
    let problem = assert_problem(res, StatusCode::UNAUTHORIZED, "credential_not_configured").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("EDGEBRIDGE_WORKER_TOKEN")
    );
    let res = fleet.app.get("/v1/admin/workers", OPERATOR_TOKEN).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "credential_not_configured").await;
}

#[sqlx::test(migrations = false)]
async fn registration_is_validated(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let res = fleet
        .app
        .post(
            "/internal/v1/workers/register",
            WORKER_TOKEN,
            &json!({"name": "bad name!", "capacity": 0, "version": "x"}),
        )
        .await;
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(
        crate::helpers::error_paths(&problem),
        vec!["/name".to_owned(), "/capacity".to_owned()]
    );
}

#[sqlx::test(migrations = false)]
async fn a_joining_worker_takes_at_most_its_fair_share(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    for i in 0..8 {
        fleet
            .connector(&format!("c{i}"), &format!("orders-{i}"))
            .await;
    }
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    step(&mut w1).await;
    let mut w2 = fleet.worker("w2", 100).await;
    let mut moved = 0;
    for _ in 0..5 {
        moved += fleet.tick().await.moves;
        step(&mut w1).await;
        step(&mut w2).await;
    }
    assert!(moved <= 4, "at most the fair share moves: {moved}");
    let (a, b) = (w1.running().len(), w2.running().len());
    assert_eq!(a + b, 8);
    assert!(a.abs_diff(b) <= 2, "balanced within tolerance: {a} / {b}");
}

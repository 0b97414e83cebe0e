//! A connector as a new user handles it: what GET answered goes back with PUT, a connector is
//! saved paused and started later, one edge collection has one connector, and a secret that
//! cannot be opened says so and how to fix it.

use crate::fleet::{Fleet, step};
use crate::helpers::*;
use edgebridge_api::crypto::Keyring;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn what_get_answered_can_be_put_back(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let key = app.owner_key.clone();
    let created = app.create_connector(&connector_spec("retail")).await;
    let path = app.connector_path(app.app_id, id_of(&created));
    let read: Value = app.get(&path, &key).await.json().await.unwrap();
    for member in [
        "health",
        "assignedWorker",
        "collectionStatus",
        "counters",
        "lastError",
        "status",
        "statusDetail",
        "desiredState",
        "id",
        "appId",
        "version",
        "createdAt",
        "updatedAt",
    ] {
        assert!(read.get(member).is_some(), "GET answers `{member}`: {read}");
    }

    // Exactly what GET answered, unchanged: accepted, nothing to do.
    let res = app.put(&path, &key, &read).await;
    let status = res.status();
    let unchanged: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{unchanged}");
    assert_eq!(unchanged["connector"]["collections"], read["collections"]);

    // Get, modify, put.
    let mut modified: Value = app.get(&path, &key).await.json().await.unwrap();
    modified["description"] = json!("edited after a GET");
    modified["collections"]["users"]["initialSync"] = json!(true);
    let res = app.put(&path, &key, &modified).await;
    assert_eq!(res.status(), StatusCode::OK);
    let after: Value = app.get(&path, &key).await.json().await.unwrap();
    assert_eq!(after["description"], "edited after a GET");
    assert_eq!(after["collections"]["users"]["initialSync"], true);
    // The redacted connection string sent back kept the stored secret.
    assert_eq!(after["connectionString"], read["connectionString"]);

    // A desired state other than the current one is not silently ignored: pause is its own
    // operation.
    let mut pausing = after.clone();
    pausing["desiredState"] = json!("paused");
    let problem = assert_problem(
        app.put(&path, &key, &pausing).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/desiredState"]);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("/pause"),
        "{problem}"
    );
    assert_problem(
        app.patch(&path, &key, &json!({"desiredState": "paused"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    // A misspelled member still is.
    let mut typo = after.clone();
    typo["databse"] = json!("x");
    let problem = assert_problem(
        app.put(&path, &key, &typo).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/databse"]);
}

#[sqlx::test(migrations = false)]
async fn a_connector_created_paused_is_saved_but_not_run_until_resumed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let key = app.owner_key.clone();
    let mut spec = connector_spec("retail");
    spec["desiredState"] = json!("paused");
    let created = app.create_connector(&spec).await;
    assert_eq!(created["desiredState"], "paused");
    assert_eq!(created["status"], "paused");
    assert_eq!(created["health"]["code"], "paused");
    let id = id_of(&created);
    let path = app.connector_path(app.app_id, id);

    // The scheduler places only running connectors: this one stays off every worker.
    let (desired, status): (String, String) =
        sqlx::query_as("select desired_state, status from connectors where connector_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((desired.as_str(), status.as_str()), ("paused", "paused"));

    let resumed: Value = app
        .post(&format!("{path}/resume"), &key, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(resumed["desiredState"], "running");
    assert_eq!(resumed["status"], "pending");

    // Anything but the two states is refused by name.
    let mut spec = connector_spec("other");
    spec["collections"] = json!({"elsewhere": {"fields": ["_id"]}});
    spec["desiredState"] = json!("stopped");
    let problem = assert_problem(
        app.post(&app.connectors_path(app.app_id), &key, &spec)
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error_paths(&problem), ["/desiredState"]);
}

#[sqlx::test(migrations = false)]
async fn a_paused_connector_is_never_assigned(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let spec = json!({
        "name": "later",
        "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@cluster0.example.net/"),
        "database": "retail-demo",
        "collections": {"orders": {"fields": ["_id"]}},
        "desiredState": "paused",
    });
    let id = id_of(&fleet.app.create_connector(&spec).await);
    let mut worker = fleet.worker("w1", 100).await;
    assert_eq!(fleet.tick().await.moves, 0);
    let report = step(&mut worker).await;
    assert!(report.started.is_empty());
    assert_eq!(fleet.assigned(id).await, None);
    assert_eq!(fleet.status(id).await["status"], "paused");
}

/// A spec mapping only `collections`.
fn spec_on(name: &str, collections: &[&str]) -> Value {
    let mut spec = connector_spec(name);
    spec["collections"] = collections
        .iter()
        .map(|c| (c.to_string(), json!({"fields": ["_id"]})))
        .collect::<serde_json::Map<_, _>>()
        .into();
    spec
}

#[sqlx::test(migrations = false)]
async fn one_edge_collection_has_one_connector_per_app(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let key = app.owner_key.clone();
    let list = app.connectors_path(app.app_id);
    let first = app
        .create_connector(&spec_on("first", &["orders", "users"]))
        .await;

    // On create.
    let problem = assert_problem(
        app.post(&list, &key, &spec_on("second", &["stores", "orders"]))
            .await,
        StatusCode::CONFLICT,
        "edge_collection_taken",
    )
    .await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("`orders`") && detail.contains("`first`"),
        "{detail}"
    );
    assert!(detail.contains(first["id"].as_str().unwrap()), "{detail}");
    // Validate reports it at the collection's path.
    let report: Value = app
        .post(
            &format!("{list}/validate"),
            &key,
            &spec_on("second", &["stores", "orders"]),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"][0]["path"], "/collections/orders");

    // Nothing of the refused connector was saved; other collections are free.
    let second = app.create_connector(&spec_on("second", &["stores"])).await;
    let second_path = app.connector_path(app.app_id, id_of(&second));

    // On PUT and PATCH adding a collection, also in a dry run.
    for suffix in ["?dryRun=true", ""] {
        let res = app
            .put(
                &format!("{second_path}{suffix}"),
                &key,
                &spec_on("second", &["stores", "users"]),
            )
            .await;
        let problem = assert_problem(res, StatusCode::CONFLICT, "edge_collection_taken").await;
        assert!(problem["detail"].as_str().unwrap().contains("`users`"));
        assert_problem(
            app.patch(
                &format!("{second_path}{suffix}"),
                &key,
                &json!({"collections": {"orders": {"fields": ["_id"]}}}),
            )
            .await,
            StatusCode::CONFLICT,
            "edge_collection_taken",
        )
        .await;
    }
    // Once the first lets go of a collection (or is deleted), the other may map it.
    let first_path = app.connector_path(app.app_id, id_of(&first));
    let res = app
        .patch(&first_path, &key, &json!({"collections": {"users": null}}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .patch(
            &second_path,
            &key,
            &json!({"collections": {"users": {"fields": ["_id"]}}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.delete(&first_path, &key).await.status(),
        StatusCode::NO_CONTENT
    );
    app.create_connector(&spec_on("third", &["orders"])).await;

    // Another app has its own edge collections.
    let other_app = app.create_app(&key, "inventory").await;
    let res = app
        .post(
            &app.connectors_path(other_app),
            &key,
            &spec_on("x", &["stores"]),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[sqlx::test(migrations = false)]
async fn two_connectors_created_at_once_cannot_both_take_a_collection(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let list = app.connectors_path(app.app_id);
    for round in 0..5 {
        let mut requests = tokio::task::JoinSet::new();
        for i in 0..4 {
            let spec = spec_on(&format!("r{round}-{i}"), &[&format!("shared{round}")]);
            let request = app.request(Method::POST, &list, &app.owner_key).json(&spec);
            requests.spawn(async move { request.send().await.unwrap().status() });
        }
        let statuses = requests.join_all().await;
        let created = statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        assert_eq!(created, 1, "round {round}: {statuses:?}");
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
            "{statuses:?}"
        );
    }
}

#[sqlx::test(migrations = false)]
async fn a_secret_that_cannot_be_opened_says_replace_it(pool: PgPool) {
    // Saved under one key...
    let before = Fleet::new(pool.clone()).await;
    let key = before.app.owner_key.clone();
    let app_id = before.app.app_id;
    let id = before.connector("a", "orders").await;
    let path = before.app.connector_path(app_id, id);
    drop(before);

    // ...and read by an api restarted with another one (e.g. `--dev` keys lost).
    let after = Fleet::with(pool, |c| {
        c.keyring = Keyring::parse(&key_entry("k9", 9)).unwrap();
    })
    .await;
    let read: Value = after.app.get(&path, &key).await.json().await.unwrap();
    assert_eq!(
        read["health"]["code"], "connection_string_unavailable",
        "{read}"
    );
    assert_eq!(read["health"]["state"], "red");
    assert_eq!(read["status"], "failed");
    assert_eq!(
        read["statusDetail"]["code"],
        "connection_string_unavailable"
    );
    assert!(
        read["statusDetail"]["remediation"]
            .as_str()
            .unwrap()
            .contains("PUT or PATCH"),
        "{read}"
    );

    // The worker is told the same, never a 500, and reports it as the connector's last error.
    let mut worker = after.worker("w1", 100).await;
    after.tick().await;
    step(&mut worker).await;
    let read: Value = after.app.get(&path, &key).await.json().await.unwrap();
    assert_eq!(
        read["lastError"]["code"], "connection_string_unavailable",
        "{read}"
    );
    assert!(
        read["lastError"]["remediation"]
            .as_str()
            .unwrap()
            .contains("PUT or PATCH")
    );
    assert!(!read.to_string().contains(" 500"), "{read}");

    // Replacing the connection string fixes it.
    let res = after
        .app
        .patch(
            &path,
            &key,
            &json!({"connectionString": format!("mongodb+srv://appuser:{PASSWORD}@cluster0.example.net/")}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    step(&mut worker).await;
    let read: Value = after.app.get(&path, &key).await.json().await.unwrap();
    assert_eq!(read["status"], "running", "{read}");
    assert_eq!(read["statusDetail"], Value::Null);
    // The error it recovered from stays visible for a while, as any recent error does.
    assert_eq!(read["health"]["state"], "yellow");
    assert!(
        read["health"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Running; recovered from"),
        "{read}"
    );
}

//! The per-document trace (a write-back and its recognised echo, a MongoDB change with the
//! fields it changed), debug mode, and events filtered by collection and document.

use super::{DB, get_json, streaming_catalog, until_connector};
use crate::fleet::{Fleet, Port};
use crate::helpers::assert_problem;
use bson::{Bson, doc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::{Duration, Instant};

async fn execute(fleet: &Fleet, statement: &str) {
    let res = fleet
        .app
        .post(
            &format!("/v1/apps/{}/store/execute", fleet.app.app_id),
            &fleet.app.owner_key,
            &json!({"statement": statement}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{statement}");
}

/// Polls the trace of `document` until `check` holds for its steps (20 s), stepping `worker`.
async fn until_trace(
    fleet: &Fleet,
    worker: &mut edgebridge_worker::Worker,
    path: &str,
    document: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stepped = Instant::now();
    loop {
        let trace = get_json(
            fleet,
            &format!("{path}/trace?collection=products&documentId={document}"),
        )
        .await;
        let steps = trace["steps"].as_array().unwrap().clone();
        if check(&steps) {
            return steps;
        }
        assert!(
            Instant::now() < deadline,
            "the trace of {document}: {trace:#}"
        );
        if stepped.elapsed() > Duration::from_secs(2) {
            crate::fleet::step(worker).await;
            stepped = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn step<'a>(steps: &'a [Value], name: &str) -> Option<&'a Value> {
    steps.iter().find(|s| s["step"] == name)
}

#[sqlx::test(migrations = false)]
async fn a_trace_shows_a_write_back_and_its_recognised_echo_and_debug_mode_reports_each_step(
    pool: PgPool,
) {
    let fleet = Fleet::on(pool, Port::Wire).await;
    let (id, mut w) = streaming_catalog(&fleet, 2).await;
    let path = fleet.app.connector_path(fleet.app.app_id, id);
    let key = fleet.app.owner_key.clone();

    // Debug mode: bounded, validated, and in the events.
    let refused = fleet
        .app
        .post(&format!("{path}/debug"), &key, &json!({"minutes": 0}))
        .await;
    let problem = assert_problem(refused, StatusCode::BAD_REQUEST, "invalid_debug_minutes").await;
    assert_eq!(crate::helpers::error_paths(&problem), vec!["/minutes"]);
    let on = fleet
        .app
        .post(&format!("{path}/debug"), &key, &json!({"minutes": 5}))
        .await;
    assert_eq!(on.status(), StatusCode::OK);
    let on: Value = on.json().await.unwrap();
    assert!(on["debugUntil"].is_string(), "{on}");
    // The worker learns it with its next report's answer.
    fleet
        .sim
        .insert(DB, "products", doc! {"_id": "p3", "price": 3_i64})
        .unwrap();
    until_connector(&fleet, &mut w, id, "p3 applied", |s| {
        s["totals"]["applied"] == 1
    })
    .await;

    // A device edits p1 on the edge: it goes to MongoDB, and its echo comes back recognised.
    execute(&fleet, "UPDATE products SET price = 99 WHERE _id = 'p1'").await;
    let steps = until_trace(&fleet, &mut w, &path, "p1", |s| {
        step(s, "write_back").is_some() && step(s, "echo").is_some()
    })
    .await;
    let written = step(&steps, "write_back").unwrap();
    assert_eq!(written["direction"], "edge_to_mongo", "{steps:#?}");
    assert!(written["detail"]["session"].is_string(), "{written}");
    let echo = step(&steps, "echo").unwrap();
    assert_eq!(echo["direction"], "mongo_to_edge");
    assert_eq!(
        echo["detail"]["txnNumber"], written["detail"]["txnNumber"],
        "the echo is the write-back's own transaction: {steps:#?}"
    );
    assert!(echo["detail"]["resumeToken"].is_string());
    assert_eq!(
        fleet
            .sim
            .find(DB, "products", &Bson::String("p1".into()))
            .unwrap()
            .get_i64("price")
            .unwrap(),
        99
    );

    // A MongoDB update of p2: the change, with the fields it changed.
    fleet
        .sim
        .update(
            DB,
            "products",
            &Bson::String("p2".into()),
            doc! {"price": 20_i64},
        )
        .unwrap();
    let steps = until_trace(&fleet, &mut w, &path, "p2", |s| {
        step(s, "mongo_change").is_some_and(|c| c["detail"]["operation"] == "update")
    })
    .await;
    let change = steps
        .iter()
        .find(|c| c["step"] == "mongo_change" && c["detail"]["operation"] == "update")
        .unwrap();
    assert_eq!(
        change["detail"]["fieldsChanged"],
        json!(["price"]),
        "{change}"
    );
    assert!(change["detail"]["clusterTime"]["t"].as_u64().unwrap() > 1_700_000_000);

    // Debug events name their document: filtered by it, only p1's.
    let deadline = Instant::now() + Duration::from_secs(20);
    let debug = loop {
        let page = get_json(
            &fleet,
            &format!("{path}/events?level=debug&collection=products&documentId=p1&limit=100"),
        )
        .await;
        let items = page["items"].as_array().unwrap().clone();
        if items.iter().any(|e| e["code"] == "debug_write_back") {
            break items;
        }
        assert!(Instant::now() < deadline, "no debug event for p1: {page:#}");
        crate::fleet::step(&mut w).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        debug.iter().all(|e| e["documentId"] == "\"p1\""),
        "{debug:#?}"
    );
    assert!(debug.iter().all(|e| e["collection"] == "products"));
    assert!(debug.iter().any(|e| e["level"] == "debug"));
    // Without `level=debug` they stay out of the way.
    let plain = get_json(&fleet, &format!("{path}/events?documentId=p1")).await;
    assert!(
        plain["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["level"] != "debug"),
        "{plain:#}"
    );

    // Users' actions are lifecycle events.
    let off = fleet.app.delete(&format!("{path}/debug"), &key).await;
    assert_eq!(off.status(), StatusCode::OK);
    assert!(
        fleet
            .app
            .post(&format!("{path}/pause"), &key, &json!({}))
            .await
            .status()
            .is_success()
    );
    assert!(
        fleet
            .app
            .post(&format!("{path}/resume"), &key, &json!({}))
            .await
            .status()
            .is_success()
    );
    let events = get_json(&fleet, &format!("{path}/events?limit=100")).await;
    let codes: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    for code in ["debug_started", "debug_stopped", "paused", "resumed"] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }

    // Bad parameters and another tenant.
    let missing = fleet
        .app
        .get(&format!("{path}/trace?collection=products"), &key)
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    let (_, other_key) = fleet.app.create_org("other-tenant").await;
    let foreign = fleet
        .app
        .get(
            &format!("{path}/trace?collection=products&documentId=p1"),
            &other_key,
        )
        .await;
    assert_eq!(foreign.status(), StatusCode::NOT_FOUND);
}

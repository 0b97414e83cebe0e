//! Status and events: filtering, search, paging, rate limits, bounds and tenant isolation.

use super::{Fleet, step};
use crate::helpers::assert_problem;
use edgebridge_domain::fleet::{ConnectorReport, EventLevel, LifecycleState, ReportedEvent};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeMap;

#[sqlx::test(migrations = false)]
async fn events_are_filtered_searched_paged_rate_limited_and_bounded(pool: PgPool) {
    let fleet = Fleet::with(pool, |c| {
        c.fleet.events.per_minute = 30;
        c.fleet.events.keep_per_connector = 25;
    })
    .await;
    let id = fleet.connector("a", "orders").await;
    let path = fleet.app.connector_path(fleet.app.app_id, id);
    let key = fleet.app.owner_key.clone();
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    step(&mut w1).await;
    let epoch = fleet.epoch(id).await;
    let event = |i: usize| ReportedEvent {
        level: if i.is_multiple_of(3) {
            EventLevel::Warn
        } else {
            EventLevel::Info
        },
        code: format!("code_{i}"),
        message: format!("message number {i} 100%"),
        context: json!({"i": i}),
        at: chrono::Utc::now(),
        collection: None,
        document_id: None,
    };
    let report = |seq: u64, events: Vec<ReportedEvent>| ConnectorReport {
        epoch,
        seq,
        next_report_within_ms: 60_000,
        state: LifecycleState::Running,
        collections: BTreeMap::new(),
        counters: BTreeMap::new(),
        last_error: None,
        events,
        deltas: BTreeMap::new(),
        traces: Vec::new(),
        traces_dropped: 0,
        oplog: None,
        events_dropped: 0,
    };
    // The start stored a few events already (connector_started, metadata collections
    // created); 40 more exceed 30 per minute.
    let before: Value = fleet
        .app
        .get(&format!("{path}/events?limit=100"), &key)
        .await
        .json()
        .await
        .unwrap();
    let already = before["items"].as_array().unwrap().len();
    assert!((1..10).contains(&already), "{before}");
    let room = 30 - already;
    w1.client()
        .report(id, &report(1000, (0..40).map(event).collect()))
        .await
        .unwrap();
    let page: Value = fleet
        .app
        .get(&format!("{path}/events?limit=10"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["dropped"], 40 - room, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 10);
    assert_eq!(
        page["items"][0]["code"],
        format!("code_{}", room - 1),
        "newest first"
    );
    // Paging walks back through the kept events: 30 stored, 25 kept.
    let mut seen = 10;
    let mut cursor = page["nextCursor"].as_str().unwrap().to_owned();
    loop {
        let next: Value = fleet
            .app
            .get(&format!("{path}/events?limit=10&after={cursor}"), &key)
            .await
            .json()
            .await
            .unwrap();
        seen += next["items"].as_array().unwrap().len();
        match next["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 25);
    // Severity filter and literal search.
    let warn: Value = fleet
        .app
        .get(&format!("{path}/events?level=warn&limit=100"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        warn["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["level"] == "warn")
    );
    let found: Value = fleet
        .app
        .get(&format!("{path}/events?q=NUMBER%2012%20"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["items"][0]["code"], "code_12");
    let none: Value = fleet
        .app
        .get(&format!("{path}/events?q=_"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        none["items"].as_array().unwrap().len(),
        25,
        "codes contain '_'"
    );
    // `%` is literal too: as a wildcard "1%0" would match "number 10 100%".
    let pct: Value = fleet
        .app
        .get(&format!("{path}/events?q=1%250"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pct["items"], json!([]), "{pct}");
    // A retried report (same seq) is taken once: no event stored twice.
    let dropped_before = page["dropped"].as_i64().unwrap();
    w1.client()
        .report(id, &report(1000, vec![event(99)]))
        .await
        .unwrap();
    let after: Value = fleet
        .app
        .get(&format!("{path}/events?q=code_99"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["items"], json!([]), "seq 1000 was taken already");
    assert_eq!(after["dropped"], dropped_before);
    // Bad parameters answer 400 with the parameter.
    for (query, param) in [
        ("level=loud", "/level"),
        ("after=nonsense", "/after"),
        ("limit=0", "/limit"),
    ] {
        let res = fleet.app.get(&format!("{path}/events?{query}"), &key).await;
        let problem = assert_problem(
            res,
            StatusCode::BAD_REQUEST,
            if param == "/after" {
                "invalid_cursor"
            } else {
                "invalid_query_parameter"
            },
        )
        .await;
        assert_eq!(problem["errors"][0]["path"], param, "{problem}");
    }
    // A report over the per-report bound is refused whole.
    let res = w1
        .client()
        .report(id, &report(1001, (0..101).map(event).collect()))
        .await;
    assert!(matches!(
        res,
        Err(edgebridge_worker::client::ClientError::Refused(_))
    ));
}

#[sqlx::test(migrations = false)]
async fn status_and_events_are_tenant_isolated(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let id = fleet.connector("a", "tasks").await;
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    step(&mut w1).await;
    let path = fleet.app.connector_path(fleet.app.app_id, id);
    let (_, stranger) = fleet.app.create_org("globex").await;
    for suffix in ["", "/events"] {
        let res = fleet.app.get(&format!("{path}{suffix}"), &stranger).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{suffix}");
    }
    let res = fleet
        .app
        .post(&format!("{path}/restart"), &stranger, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // A key scoped to another app of the same organization sees nothing either.
    let other_app = fleet.app.create_app(&fleet.app.owner_key, "other").await;
    let scoped = fleet
        .app
        .create_key(&fleet.app.owner_key, "owner", Some(other_app))
        .await;
    let res = fleet.app.get(&format!("{path}/events"), &scoped).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Through the other app's path with the connector's id: still nothing.
    let res = fleet
        .app
        .get(
            &format!("/v1/apps/{other_app}/connectors/{id}/events"),
            &fleet.app.owner_key,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

//! Alerts: a rule's condition holds (pending), holds long enough (firing), clears (resolved);
//! each transition is an event and a webhook notification signed the Standard Webhooks way,
//! retried after a 500, sent once however many cycles run.

use super::{ApiStall, DB, get_json, streaming_catalog_via, until_connector};
use crate::fleet::{Fleet, Port};
use crate::helpers::{assert_problem, error_paths};
use crate::webhooks::{
    create_webhook, dispatch, fast_retries, receiver::Receiver, verify_signature,
};
use bson::doc;
use edgebridge_api::config::FleetConfig;
use edgebridge_api::mongo::policy::TargetPolicy;
use edgebridge_api::monitoring::alerts::evaluate::cycle;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::time::Duration;

fn body(request: &crate::webhooks::receiver::Received) -> Value {
    serde_json::from_str(&request.body).unwrap()
}

#[sqlx::test(migrations = false)]
async fn an_alert_goes_pending_firing_resolved_and_notifies_a_signed_webhook_once_each(
    pool: PgPool,
) {
    let fleet = Fleet::on_with(pool, Port::Wire, |config| {
        config.webhooks = fast_retries();
    })
    .await;
    let proxy = ApiStall::start(&fleet).await;
    let (id, mut w) = streaming_catalog_via(&fleet, 2, Some(&proxy.url)).await;
    let app_id = fleet.app.app_id;
    let key = fleet.app.owner_key.clone();
    let receiver = Receiver::start(&[500, 200], Duration::ZERO).await;
    let hook = create_webhook(&fleet.app, app_id, &json!({"url": receiver.url})).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let retries = fast_retries();
    let send = || dispatch(&fleet.app, TargetPolicy::AllowPrivate, &retries);

    // The app's rule: lag above 1 s for 1 s. Rules are checked.
    let rules = format!("/v1/apps/{app_id}/alert-rules");
    let rule = json!({"kind": "lag", "threshold": 1, "forSecs": 1});
    let created = fleet.app.post(&rules, &key, &rule).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let again = fleet.app.post(&rules, &key, &rule).await;
    assert_problem(again, StatusCode::CONFLICT, "alert_rule_exists").await;
    let bad = fleet
        .app
        .post(
            &rules,
            &key,
            &json!({"kind": "connector_failed", "threshold": 3, "windowSecs": 5, "forSecs": -1}),
        )
        .await;
    let problem = assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let mut paths = error_paths(&problem);
    paths.sort();
    assert_eq!(paths, vec!["/forSecs", "/threshold", "/windowSecs"]);
    let listed = get_json(&fleet, &rules).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["builtIn"].as_array().unwrap().len(), 7);

    let config = FleetConfig::default();
    let quiet = cycle(&fleet.app.pool, &config).await.unwrap();
    assert!(quiet.ran);
    assert_eq!((quiet.pending, quiet.fired, quiet.resolved), (0, 0, 0));

    // The api stalls on applies: the connector lags.
    proxy.stall(true);
    fleet
        .sim
        .insert(DB, "products", doc! {"_id": "p3"})
        .unwrap();
    until_connector(&fleet, &mut w, id, "a lag over 1 s", |s| {
        s["lag"]["mongoToEdgeMs"]
            .as_u64()
            .is_some_and(|l| l >= 1_500)
    })
    .await;
    let first = cycle(&fleet.app.pool, &config).await.unwrap();
    assert_eq!(first.pending, 1, "{first:?}");
    let alerts_path = format!("{}/alerts", fleet.app.connector_path(app_id, id));
    let active = get_json(&fleet, &alerts_path).await;
    assert_eq!(active["items"][0]["state"], "pending", "{active:#}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let second = cycle(&fleet.app.pool, &config).await.unwrap();
    assert_eq!(second.fired, 1, "{second:?}");
    let firing = get_json(&fleet, &alerts_path).await;
    let alert = &firing["items"][0];
    assert_eq!(alert["state"], "firing", "{firing:#}");
    assert_eq!(alert["kind"], "lag");
    assert!(alert["value"].as_f64().unwrap() >= 1.0);
    // Another cycle while it fires notifies nothing more.
    let third = cycle(&fleet.app.pool, &config).await.unwrap();
    assert_eq!((third.pending, third.fired, third.resolved), (0, 0, 0));

    // pending, then firing: the first attempt gets a 500 and is retried.
    receiver.wait_for(3, Duration::from_secs(10), send).await;
    let got = receiver.received();
    for request in &got {
        verify_signature(&secret, request);
    }
    let types: Vec<Value> = got.iter().map(|r| body(r)["type"].clone()).collect();
    assert_eq!(
        types.iter().filter(|t| *t == "alert.pending").count(),
        1 + 1,
        "{types:?}"
    );
    assert!(types.contains(&json!("alert.firing")), "{types:?}");
    let pending: Vec<&str> = got
        .iter()
        .filter(|r| body(r)["type"] == "alert.pending")
        .map(|r| r.header("webhook-id"))
        .collect();
    assert_eq!(pending[0], pending[1], "a retry keeps its message id");
    let fired = got
        .iter()
        .find(|r| body(r)["type"] == "alert.firing")
        .map(body)
        .unwrap();
    assert_eq!(fired["data"]["connectorId"], id.to_string());
    assert_eq!(fired["data"]["kind"], "lag");
    assert_eq!(fired["data"]["state"], "firing");
    let hook_path = crate::webhooks::webhook_path(app_id, crate::helpers::id_of(&hook));
    let log = get_json(&fleet, &format!("{hook_path}/deliveries")).await;
    let codes: Vec<Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["attempts"].as_array().unwrap().iter())
        .map(|a| a["statusCode"].clone())
        .collect();
    assert!(
        codes.contains(&json!(500)) && codes.contains(&json!(200)),
        "{log:#}"
    );

    // The stall ends: the lag goes, and the alert resolves (notified once).
    proxy.stall(false);
    until_connector(&fleet, &mut w, id, "caught up", |s| {
        s["lag"]["mongoToEdgeMs"] == 0
    })
    .await;
    let resolved = cycle(&fleet.app.pool, &config).await.unwrap();
    assert_eq!(resolved.resolved, 1, "{resolved:?}");
    cycle(&fleet.app.pool, &config).await.unwrap();
    receiver.wait_for(4, Duration::from_secs(10), send).await;
    send().await;
    let got = receiver.received();
    assert_eq!(got.len(), 4, "one notification per transition");
    assert_eq!(body(&got[3])["type"], "alert.resolved");
    verify_signature(&secret, &got[3]);
    assert!(
        get_json(&fleet, &alerts_path).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let history = get_json(&fleet, &format!("{alerts_path}?state=all")).await;
    let done = &history["items"][0];
    assert_eq!(done["state"], "resolved", "{history:#}");
    assert!(done["firedAt"].is_string() && done["resolvedAt"].is_string());
    let events = get_json(
        &fleet,
        &format!("{}/events?limit=100", fleet.app.connector_path(app_id, id)),
    )
    .await;
    let codes: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    for code in ["alert_pending", "alert_firing", "alert_resolved"] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
}

#[sqlx::test(migrations = false)]
async fn one_evaluator_at_a_time_and_connector_rules_override_the_apps(pool: PgPool) {
    let fleet = Fleet::on(pool, Port::InProcess).await;
    let id = fleet.connector("a", "orders").await;
    let app_id = fleet.app.app_id;
    let key = fleet.app.owner_key.clone();
    let rules = format!("/v1/apps/{app_id}/alert-rules");
    let app_rule = json!({"kind": "lag", "threshold": 60});
    assert_eq!(
        fleet.app.post(&rules, &key, &app_rule).await.status(),
        StatusCode::CREATED
    );
    let own = json!({"kind": "lag", "threshold": 5, "connectorId": id});
    let res = fleet.app.post(&rules, &key, &own).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let own: Value = res.json().await.unwrap();
    let unknown = json!({"kind": "lag", "connectorId": uuid::Uuid::now_v7()});
    let res = fleet.app.post(&rules, &key, &unknown).await;
    let problem = assert_problem(res, StatusCode::BAD_REQUEST, "unknown_connector").await;
    assert_eq!(error_paths(&problem), vec!["/connectorId"]);
    let path = format!("{rules}/{}", own["id"].as_str().unwrap());
    let changed = fleet
        .app
        .patch(&path, &key, &json!({"threshold": null, "enabled": false}))
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["enabled"], false);
    assert!(changed["threshold"].is_null());

    // A running connector lagging 30 s: over the built-in 5 s? no rule says so; the app's 60 s
    // rule holds it back, the connector's own rule (enabled again, 5 s) fires.
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    crate::fleet::step(&mut w1).await;
    // Its worker stops reporting (the stats stay as set here); it is not overdue yet.
    w1.crash();
    sqlx::query(
        "insert into connector_collection_stats (connector_id, collection, lag_in_ms)
         values ($1, 'orders', 30000)
         on conflict (connector_id, collection) do update set lag_in_ms = 30000, updated_at = now()",
    )
    .bind(id)
    .execute(&fleet.app.pool)
    .await
    .unwrap();
    let config = FleetConfig::default();
    assert_eq!(cycle(&fleet.app.pool, &config).await.unwrap().fired, 0);
    let res = fleet
        .app
        .patch(&path, &key, &json!({"threshold": 5, "enabled": true}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // While another replica evaluates (holding the lock), a cycle does nothing.
    let mut other = edgebridge_api::db::begin(&fleet.app.pool).await.unwrap();
    sqlx::query("select pg_advisory_xact_lock($1)")
        .bind(0x6562_616c_6572_7473_i64)
        .execute(&mut *other)
        .await
        .unwrap();
    assert!(!cycle(&fleet.app.pool, &config).await.unwrap().ran);
    other.rollback().await.unwrap();
    let fired = cycle(&fleet.app.pool, &config).await.unwrap();
    assert!(fired.ran);
    assert_eq!(fired.fired, 1, "{fired:?}");
    // Paused: its alerts resolve.
    let connector = fleet.app.connector_path(app_id, id);
    assert!(
        fleet
            .app
            .post(&format!("{connector}/pause"), &key, &json!({}))
            .await
            .status()
            .is_success()
    );
    assert_eq!(cycle(&fleet.app.pool, &config).await.unwrap().resolved, 1);
    assert_eq!(
        fleet.app.delete(&path, &key).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        fleet.app.get(&path, &key).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[sqlx::test(migrations = false)]
async fn a_resume_point_is_at_risk_only_once_the_oplog_rolls_over_and_then_fires(pool: PgPool) {
    let fleet = Fleet::on(pool, Port::Wire).await;
    // The connector's user may read local.oplog.rs; the worker checks the cluster every 200 ms.
    fleet.sim.set_user(
        edgebridge_mongo_sim::SimUser::read_write_admin("appuser", crate::helpers::PASSWORD, DB)
            .reading_oplog(),
    );
    let (id, mut w) = super::streaming_catalog_with(&fleet, 2, |config| {
        config.supervisor.health_interval = Duration::from_millis(200);
    })
    .await;
    // A new cluster's oplog is not full: nothing leaves it, no resume point is at risk.
    let filling = until_connector(&fleet, &mut w, id, "a known oplog window", |s| {
        s["resumePoint"]["known"] == true
    })
    .await;
    let point = &filling["resumePoint"];
    assert!(point["secondsLeft"].is_null(), "{point}");
    assert!(
        point["reason"].as_str().unwrap().contains("rolled over"),
        "{point}"
    );
    let quiet = cycle(&fleet.app.pool, &FleetConfig::default())
        .await
        .unwrap();
    assert_eq!(quiet.fired, 0, "{quiet:?}");
    // A small oplog that fills: its start moves, so old entries leave it.
    fleet.sim.set_oplog_capacity(10);
    for i in 0..30 {
        fleet
            .sim
            .insert(DB, "products", bson::doc! {"_id": format!("r{i}")})
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let known = until_connector(&fleet, &mut w, id, "a rolling oplog", |s| {
        s["resumePoint"]["secondsLeft"].is_i64()
    })
    .await;
    let point = &known["resumePoint"];
    assert!(point["oplogWindowSecs"].as_i64().unwrap() >= 0, "{point}");
    // The simulator's oplog reaches back seconds only: far below the built-in hour.
    let config = FleetConfig::default();
    let report = cycle(&fleet.app.pool, &config).await.unwrap();
    assert!(report.fired >= 1, "{report:?}");
    let alerts = get_json(
        &fleet,
        &format!("{}/alerts", fleet.app.connector_path(fleet.app.app_id, id)),
    )
    .await;
    let risk = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "resume_point_at_risk")
        .unwrap_or_else(|| panic!("{alerts:#}"));
    assert_eq!(risk["state"], "firing");
    assert!(
        risk["message"].as_str().unwrap().contains("oplog"),
        "{risk}"
    );
}

#[sqlx::test(migrations = false)]
async fn without_the_oplog_privilege_the_resume_point_is_unknown_and_says_why(pool: PgPool) {
    let fleet = Fleet::on(pool, Port::Wire).await;
    let (id, mut w) = super::streaming_catalog_with(&fleet, 1, |config| {
        config.supervisor.health_interval = Duration::from_millis(200);
    })
    .await;
    let unknown = until_connector(&fleet, &mut w, id, "an unknown resume point", |s| {
        s["resumePoint"]["measuredAt"].is_string()
    })
    .await;
    let point = &unknown["resumePoint"];
    assert_eq!(point["known"], false, "{point}");
    assert!(
        point["reason"].as_str().unwrap().contains("local.oplog.rs"),
        "{point}"
    );
    let report = cycle(&fleet.app.pool, &FleetConfig::default())
        .await
        .unwrap();
    assert_eq!(report.fired, 0, "{report:?}");
}

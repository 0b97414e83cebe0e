//! Control: pause, resume, restart and spec changes reaching the worker; a failing connector
//! and its retry.

use super::{Fleet, step};
use crate::helpers::assert_problem;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn pause_resume_and_restart_reach_the_worker_within_a_heartbeat(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let id = fleet.connector("a", "orders").await;
    let path = fleet.app.connector_path(fleet.app.app_id, id);
    let key = fleet.app.owner_key.clone();
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    step(&mut w1).await;
    assert_eq!(fleet.status(id).await["status"], "running");

    // Pause: the next heartbeat stops it, before any scheduler tick.
    let res = fleet
        .app
        .post(&format!("{path}/pause"), &key, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let s = step(&mut w1).await;
    assert_eq!(s.stopped, vec![id]);
    assert!(w1.running().is_empty());
    // The pause took a new epoch: the stopping run's last report was refused, not taken.
    let (reported, current): (Option<i64>, i64) = sqlx::query_as(
        "select reported_epoch, assignment_epoch from connectors where connector_id = $1",
    )
    .bind(id)
    .fetch_one(&fleet.app.pool)
    .await
    .unwrap();
    assert_eq!(reported, Some(current - 1));
    let paused = fleet.status(id).await;
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["health"]["state"], "green");

    // Resume: a tick assigns it again, the next heartbeat starts it.
    fleet
        .app
        .post(&format!("{path}/resume"), &key, &json!({}))
        .await;
    fleet.tick().await;
    fleet.tick().await;
    let s = step(&mut w1).await;
    assert_eq!(s.started.len(), 1);
    assert_eq!(fleet.status(id).await["status"], "running");

    // Restart: a new epoch on the same worker; the old run is stopped and a new one started.
    let before = fleet.epoch(id).await;
    let res = fleet
        .app
        .post(&format!("{path}/restart"), &key, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let restarted: Value = res.json().await.unwrap();
    assert_eq!(restarted["status"], "pending");
    assert_eq!(fleet.epoch(id).await, before + 1);
    let s = step(&mut w1).await;
    assert_eq!(s.stopped, vec![id]);
    assert_eq!(s.started.len(), 1);
    assert_eq!(s.started[0].epoch, before + 1);
    let status = fleet.status(id).await;
    assert_eq!(status["status"], "running");
    assert_eq!(status["assignedWorker"]["name"], "w1");

    // A paused connector has nothing to restart; viewers may not restart.
    fleet
        .app
        .post(&format!("{path}/pause"), &key, &json!({}))
        .await;
    let res = fleet
        .app
        .post(&format!("{path}/restart"), &key, &json!({}))
        .await;
    assert_problem(res, StatusCode::CONFLICT, "connector_paused").await;
    let viewer = fleet.app.create_key(&key, "viewer", None).await;
    let res = fleet
        .app
        .post(&format!("{path}/restart"), &viewer, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[sqlx::test(migrations = false)]
async fn a_failing_connector_shows_why_with_events_and_resume_retries_it(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let id = fleet.connector("t", "tasks").await;
    let path = fleet.app.connector_path(fleet.app.app_id, id);
    let key = fleet.app.owner_key.clone();
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    step(&mut w1).await;
    let failed = fleet.status(id).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["health"]["state"], "red");
    assert_eq!(
        failed["statusDetail"]["code"],
        "pre_and_post_images_disabled"
    );
    assert!(
        failed["statusDetail"]["remediation"]
            .as_str()
            .unwrap()
            .len()
            > 10
    );
    assert_eq!(failed["collectionStatus"]["tasks"]["phase"], "failed");
    assert_eq!(
        failed["collectionStatus"]["tasks"]["code"],
        "pre_and_post_images_disabled"
    );
    assert_eq!(failed["lastError"]["code"], "pre_and_post_images_disabled");

    let events: Value = fleet
        .app
        .get(&format!("{path}/events?level=error"), &key)
        .await
        .json()
        .await
        .unwrap();
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["level"], "error");
    assert_eq!(items[0]["code"], "pre_and_post_images_disabled");
    assert_eq!(items[0]["context"]["collection"], "tasks");

    // Fixed outside Edgebridge; resume retries at once (a new epoch) and it runs.
    fleet
        .sim
        .set_pre_and_post_images("retail-demo", "tasks", true);
    let res = fleet
        .app
        .post(&format!("{path}/resume"), &key, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let s = step(&mut w1).await;
    assert_eq!((s.stopped.len(), s.started.len()), (1, 1));
    let running = fleet.status(id).await;
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(
        running["health"]["state"], "yellow",
        "a recent error stays visible"
    );
    assert_eq!(running["lastError"]["code"], "pre_and_post_images_disabled");
    // The started event is there too, newest first.
    let all: Value = fleet
        .app
        .get(&format!("{path}/events"), &key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"][0]["code"], "connector_started");
}

#[sqlx::test(migrations = false)]
async fn a_changed_spec_restarts_the_run_and_a_late_report_shows(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let id = fleet.connector("a", "orders").await;
    let path = fleet.app.connector_path(fleet.app.app_id, id);
    let key = fleet.app.owner_key.clone();
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    step(&mut w1).await;
    let epoch = fleet.epoch(id).await;
    // A description changes nothing the run sees: same epoch, nothing restarts.
    let res = fleet
        .app
        .patch(&path, &key, &json!({"description": "renamed"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(fleet.epoch(id).await, epoch);
    let s = step(&mut w1).await;
    assert!(s.started.is_empty() && s.stopped.is_empty());
    // A collection added does: a new epoch, the worker restarts it with the new spec.
    let res = fleet
        .app
        .patch(
            &path,
            &key,
            &json!({"collections": {"tasks": {"fields": ["_id"]}}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(fleet.epoch(id).await, epoch + 1);
    let s = step(&mut w1).await;
    assert_eq!((s.stopped.len(), s.started.len()), (1, 1));
    let status = fleet.status(id).await;
    // `tasks` has no images: it is shown failed while `orders` runs.
    assert_eq!(status["status"], "running", "{status}");
    assert_eq!(status["collectionStatus"]["tasks"]["phase"], "failed");
    assert_eq!(
        status["collectionStatus"]["tasks"]["code"],
        "pre_and_post_images_disabled"
    );
    assert_eq!(status["health"]["state"], "yellow", "{status}");
    assert_eq!(status["health"]["code"], "pre_and_post_images_disabled");
    assert!(
        status["health"]["reason"]
            .as_str()
            .unwrap()
            .contains("except collection `tasks`"),
        "{status}"
    );
    // Fix it, restart, then let the run go silent while its worker heartbeats.
    fleet
        .sim
        .set_pre_and_post_images("retail-demo", "tasks", true);
    fleet
        .app
        .post(&format!("{path}/restart"), &key, &json!({}))
        .await;
    step(&mut w1).await;
    assert_eq!(fleet.status(id).await["status"], "running");
    let overdue_by = |secs: i64| {
        let pool = fleet.app.pool.clone();
        async move {
            sqlx::query(
                "update connectors set report_due_at = now() - make_interval(secs => $2)
                 where connector_id = $1",
            )
            .bind(id)
            .bind(secs as f64)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    // Its promised report is late: still running, health yellow.
    overdue_by(5).await;
    let quiet = fleet.status(id).await;
    assert_eq!(quiet["status"], "running", "{quiet}");
    assert_eq!(quiet["health"]["state"], "yellow", "{quiet}");
    assert_eq!(quiet["health"]["code"], "report_overdue");
    // Late by more than a lease: no longer shown as running.
    overdue_by(60).await;
    let silent = fleet.status(id).await;
    assert_eq!(silent["status"], "pending", "{silent}");
    assert_eq!(silent["health"]["state"], "red");
    assert_eq!(silent["health"]["code"], "connector_unresponsive");
}

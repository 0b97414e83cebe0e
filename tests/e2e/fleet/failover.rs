//! Failover: a killed, zombie, drained, shut down, restarted or cut-off worker and where its
//! connectors go.

use super::{Fleet, step};
use crate::helpers::assert_problem;
use edgebridge_api::scheduler::Tuning;
use edgebridge_domain::fleet::{
    ConnectorReport, EventLevel, LifecycleState, ReportedEvent, WorkerState,
};
use edgebridge_worker::Worker;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

#[sqlx::test(migrations = false)]
async fn a_killed_worker_loses_its_connectors_within_the_lease_and_one_tick(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let ids = [
        fleet.connector("a", "orders").await,
        fleet.connector("b", "orders-b").await,
    ];
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    step(&mut w1).await;
    let w1_id = w1.id().unwrap();
    for id in ids {
        assert_eq!(fleet.status(id).await["status"], "running");
    }
    w1.crash();
    // Within the lease nothing moves (a slow heartbeat is not a death).
    fleet.tick().await;
    for id in ids {
        assert_eq!(fleet.assigned(id).await, Some(w1_id));
    }
    let mut w2 = fleet.worker("w2", 100).await;
    // The lease runs out: until the next tick users see it, never a stale `running`.
    fleet.silence(w1_id).await;
    let silent = fleet.status(ids[0]).await;
    assert_eq!(silent["status"], "pending", "{silent}");
    assert_eq!(silent["health"]["state"], "red");
    assert_eq!(silent["health"]["code"], "worker_unresponsive");
    assert!(silent["health"]["reason"].as_str().unwrap().contains("w1"));
    // One tick: dead, and its connectors are on w2 with a new epoch.
    let report = fleet.tick().await;
    assert_eq!(report.dead, vec![w1_id]);
    for id in ids {
        assert_eq!(fleet.assigned(id).await, w2.id());
        assert_eq!(fleet.epoch(id).await, 2);
    }
    step(&mut w2).await;
    for id in ids {
        let status = fleet.status(id).await;
        assert_eq!(status["status"], "running");
        assert_eq!(status["assignedWorker"]["name"], "w2");
    }
}

#[sqlx::test(migrations = false)]
async fn a_zombie_worker_cannot_overwrite_its_successors_reports(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let id = fleet.connector("a", "orders").await;
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    step(&mut w1).await;
    let old_epoch = fleet.epoch(id).await;
    // w1 stalls (a long GC pause, a partition): it neither heartbeats nor dies.
    let mut w2 = fleet.worker("w2", 100).await;
    fleet.silence(w1.id().unwrap()).await;
    fleet.tick().await;
    assert_eq!(fleet.assigned(id).await, w2.id());
    step(&mut w2).await;
    let successor = fleet.status(id).await;
    assert_eq!(successor["assignedWorker"]["name"], "w2");
    assert_eq!(successor["status"], "running");

    // w1 wakes up and reports what it believes: refused, nothing written.
    let zombie = ConnectorReport {
        epoch: old_epoch,
        seq: 100,
        next_report_within_ms: 60_000,
        state: LifecycleState::Failed,
        collections: BTreeMap::new(),
        counters: BTreeMap::from([("preflightRuns".to_owned(), 99)]),
        last_error: None,
        events: vec![ReportedEvent {
            level: EventLevel::Error,
            code: "zombie".into(),
            message: "from the past".into(),
            context: json!({}),
            at: chrono::Utc::now(),
            collection: None,
            document_id: None,
        }],
        deltas: BTreeMap::new(),
        traces: Vec::new(),
        traces_dropped: 0,
        oplog: None,
        events_dropped: 0,
    };
    let refused = w1.client().report(id, &zombie).await;
    assert!(
        matches!(
            refused,
            Err(edgebridge_worker::client::ClientError::Fenced(_))
        ),
        "{:?}",
        refused.err()
    );
    // Even at the current epoch, a report must come from the current owner.
    let mut at_current = zombie.clone();
    at_current.epoch = fleet.epoch(id).await;
    let refused = w1.client().report(id, &at_current).await;
    assert!(
        matches!(
            refused,
            Err(edgebridge_worker::client::ClientError::Fenced(_))
        ),
        "{:?}",
        refused.err()
    );
    let after = fleet.status(id).await;
    assert_eq!(after["status"], "running");
    assert_eq!(after["counters"]["preflightRuns"], 1);
    let events: Value = fleet
        .app
        .get(
            &format!(
                "{}/events?q=zombie",
                fleet.app.connector_path(fleet.app.app_id, id)
            ),
            &fleet.app.owner_key,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"], json!([]));
    // Its next heartbeat tells it it expired: it stops everything and registers anew.
    let back = w1.step().await.unwrap();
    assert!(back.re_registered);
    assert_eq!(back.stopped, vec![id]);
    assert!(w1.running().is_empty());
    assert_eq!(fleet.status(id).await["assignedWorker"]["name"], "w2");
}

#[sqlx::test(migrations = false)]
async fn a_drained_worker_hands_everything_over_and_gets_nothing_back(pool: PgPool) {
    let mut fleet = Fleet::new(pool).await;
    fleet.scheduler.tuning = Tuning {
        max_moves: 2,
        ..Tuning::default()
    };
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            fleet
                .connector(&format!("c{i}"), &format!("orders-{i}"))
                .await,
        );
    }
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    step(&mut w1).await;
    assert_eq!(w1.running().len(), 5);
    let mut w2 = fleet.worker("w2", 100).await;
    let w1_id = w1.id().unwrap();
    let res = fleet
        .operator(Method::POST, &format!("/v1/admin/workers/{w1_id}/drain"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let drained: Value = res.json().await.unwrap();
    assert_eq!(drained["state"], "draining");
    // A few per tick, until none is left on w1.
    let mut ticks = 0;
    while !w1.running().is_empty() {
        let report = fleet.tick().await;
        assert!(report.moves <= 2, "{report:?}");
        step(&mut w1).await;
        step(&mut w2).await;
        ticks += 1;
        assert!(ticks <= 5, "drain did not finish");
    }
    assert_eq!(ticks, 3, "5 connectors at 2 moves per tick");
    assert_eq!(w2.running().len(), 5);
    for _ in 0..3 {
        fleet.tick().await;
        let s = step(&mut w1).await;
        assert!(
            s.started.is_empty(),
            "nothing comes back to a draining worker"
        );
        assert_eq!(s.state, Some(WorkerState::Draining));
    }
    for id in &ids {
        assert_eq!(fleet.status(*id).await["assignedWorker"]["name"], "w2");
    }
    // Unknown and dead workers answer clearly.
    let res = fleet
        .operator(
            Method::POST,
            &format!("/v1/admin/workers/{}/drain", Uuid::now_v7()),
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "not_found").await;
    fleet.silence(w1_id).await;
    fleet.tick().await;
    let res = fleet
        .operator(Method::POST, &format!("/v1/admin/workers/{w1_id}/drain"))
        .await;
    assert_problem(res, StatusCode::CONFLICT, "worker_not_active").await;
    let dead: Value = fleet
        .operator(Method::GET, "/v1/admin/workers?state=dead")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dead["items"][0]["name"], "w1");
}

#[sqlx::test(migrations = false)]
async fn a_worker_shutting_down_releases_its_connectors_at_once(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let ids = [
        fleet.connector("a", "orders").await,
        fleet.connector("b", "orders-b").await,
    ];
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    step(&mut w1).await;
    let w1_id = w1.id().unwrap();
    let mut w2 = fleet.worker("w2", 100).await;
    w1.shutdown().await;
    let (state,): (String,) = sqlx::query_as("select state from workers where worker_id = $1")
        .bind(w1_id)
        .fetch_one(&fleet.app.pool)
        .await
        .unwrap();
    assert_eq!(state, "gone");
    for id in ids {
        assert_eq!(
            fleet.assigned(id).await,
            None,
            "released without waiting for the lease"
        );
    }
    // No lease to wait for: the next tick places them.
    let report = fleet.tick().await;
    assert!(report.dead.is_empty());
    step(&mut w2).await;
    assert_eq!(w2.running().len(), 2);
    for id in ids {
        assert_eq!(fleet.status(id).await["status"], "running");
    }
}

#[sqlx::test(migrations = false)]
async fn a_worker_restarted_under_its_name_replaces_the_quiet_one_and_fences_it(pool: PgPool) {
    let fleet = Fleet::new(pool).await;
    let id = fleet.connector("a", "orders").await;
    let mut old = fleet.worker("pod-0", 100).await;
    fleet.tick().await;
    step(&mut old).await;
    let old_epoch = fleet.epoch(id).await;
    // While the first one heartbeats, its name is taken.
    let taken = Worker::register(fleet.worker_config("pod-0", 100)).await;
    assert!(
        matches!(taken, Err(edgebridge_worker::client::ClientError::Unavailable(ref m)) if m.contains("worker_name_in_use")),
        "{:?}",
        taken.err()
    );
    // It crashed without a word: the restarted process takes over before the lease runs out.
    fleet.silence(old.id().unwrap()).await;
    let mut new = fleet.worker("pod-0", 100).await;
    assert_ne!(old.id(), new.id());
    assert_eq!(fleet.assigned(id).await, None);
    assert_eq!(fleet.epoch(id).await, old_epoch + 1);
    fleet.tick().await;
    step(&mut new).await;
    assert_eq!(new.running().len(), 1);
    assert_eq!(fleet.status(id).await["status"], "running");
    // If the old process was alive after all, it is fenced out and cannot take the name back.
    let s = old.step().await;
    assert!(s.is_err(), "the name belongs to the new process");
    assert!(old.running().is_empty());
    assert_eq!(fleet.status(id).await["status"], "running");
    assert_eq!(new.running().len(), 1);
}

/// The worker's own guard: cut off from the api, its supervisors stop by themselves before the
/// lease it last renewed runs out (so the scheduler never gives away a connector still
/// running), and say nothing more to the api.
#[sqlx::test(migrations = false)]
async fn a_cut_off_worker_stops_its_connectors_before_its_lease_ends(pool: PgPool) {
    let lease = Duration::from_millis(1500);
    let fleet = Fleet::with(pool, |c| {
        c.fleet.lease_ttl = lease;
        c.fleet.heartbeat_interval = Duration::from_millis(300);
    })
    .await;
    let id = fleet.connector("a", "orders").await;
    let mut w1 = fleet.worker("w1", 100).await;
    fleet.tick().await;
    let renewed = std::time::Instant::now();
    step(&mut w1).await;
    assert_eq!(w1.running().len(), 1);
    // No more heartbeats from here (a partition): the supervisor must end on its own.
    while !w1.running().is_empty() {
        assert!(
            renewed.elapsed() < lease,
            "still running {:?} after the last renewal",
            renewed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        renewed.elapsed() >= lease - Duration::from_millis(300) - Duration::from_millis(100),
        "stopped too early: {:?}",
        renewed.elapsed()
    );
    // Not another word: the last report is still its `running`.
    let (state,): (Option<String>,) =
        sqlx::query_as("select reported_state from connectors where connector_id = $1")
            .bind(id)
            .fetch_one(&fleet.app.pool)
            .await
            .unwrap();
    assert_eq!(state.as_deref(), Some("running"));
}

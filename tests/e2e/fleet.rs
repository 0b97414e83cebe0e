//! The fleet end to end, step by step: the real api over HTTP, the scheduler's tick and real
//! workers (`edgebridge_worker::Worker`, driven one `step` at a time) whose supervisors check a
//! simulated MongoDB cluster. No sleeps: a worker's death is its heartbeat aged in SQL, and
//! `settle` waits for supervisors' first reports.

use crate::helpers::{PASSWORD, TestApp, assert_problem, id_of};
use edgebridge_api::config::MongoAccess;
use edgebridge_api::mongo::preflight::PreflightOptions;
use edgebridge_api::scheduler::{self, SchedulerConfig, Tuning};
use edgebridge_domain::fleet::{
    ConnectorReport, EventLevel, LifecycleState, ReportedEvent, WorkerState,
};
use edgebridge_mongo_sim::{CollectionOptions, SimUser, Simulator};
use edgebridge_worker::supervisor::SupervisorSettings;
use edgebridge_worker::{Worker, WorkerConfig};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub const WORKER_TOKEN: &str = "worker-token-for-tests-0123456789";
pub const OPERATOR_TOKEN: &str = "operator-token-for-tests-0123456789";
const HOST: &str = "cluster0.example.net";

pub struct Fleet {
    pub app: TestApp,
    pub sim: Simulator,
    pub scheduler: SchedulerConfig,
}

/// A cluster at `HOST` with `orders` ready to sync and `tasks` without pre- and post-images.
fn cluster() -> Simulator {
    let sim = Simulator::new(11);
    sim.add_host(HOST, &["52.10.20.30".parse().unwrap()]);
    sim.add_user(SimUser::read_write_admin(
        "appuser",
        PASSWORD,
        "retail-demo",
    ));
    sim.create_collection("retail-demo", "orders", CollectionOptions::ready());
    sim.create_collection("retail-demo", "tasks", CollectionOptions::default());
    sim
}

impl Fleet {
    pub async fn new(pool: PgPool) -> Self {
        Self::with(pool, |_| {}).await
    }

    pub async fn with(
        pool: PgPool,
        configure: impl FnOnce(&mut edgebridge_api::ApiConfig),
    ) -> Self {
        let sim = cluster();
        let connector = sim.connector();
        let app = TestApp::spawn_with(pool, move |config| {
            config.mongo = MongoAccess(Arc::new(connector));
            config.fleet.worker_token = Some(SecretString::from(WORKER_TOKEN));
            config.fleet.operator_token = Some(SecretString::from(OPERATOR_TOKEN));
            configure(config);
        })
        .await;
        Fleet {
            app,
            sim,
            scheduler: SchedulerConfig::default(),
        }
    }

    pub fn worker_config(&self, name: &str, capacity: u32) -> WorkerConfig {
        WorkerConfig {
            api_url: self.app.address.clone(),
            worker_token: SecretString::from(WORKER_TOKEN),
            name: name.to_owned(),
            capacity,
            version: "test".into(),
            heartbeat_interval: None,
            request_timeout: Duration::from_secs(10),
            mongo: Arc::new(self.sim.connector()),
            preflight: PreflightOptions::default(),
            // Nothing periodic: the tests say when things happen.
            supervisor: SupervisorSettings {
                health_interval: Duration::from_secs(3600),
                failed_pings: 3,
                retry_min: Duration::from_secs(3600),
                retry_max: Duration::from_secs(3600),
                ..Default::default()
            },
        }
    }

    pub async fn worker(&self, name: &str, capacity: u32) -> Worker {
        Worker::register(self.worker_config(name, capacity))
            .await
            .expect("the worker registers")
    }

    pub async fn tick(&self) -> scheduler::TickReport {
        scheduler::tick(&self.app.pool, &self.scheduler)
            .await
            .unwrap()
    }

    /// A connector on `orders` (ready: its checks pass), `tasks` (images off: they fail), or
    /// another collection, created ready: several connectors of one app each need their own
    /// (an edge collection has one connector).
    pub async fn connector(&self, name: &str, collection: &str) -> Uuid {
        if collection != "orders" && collection != "tasks" {
            self.sim
                .create_collection("retail-demo", collection, CollectionOptions::ready());
        }
        let spec = json!({
            "name": name,
            "connectionString": format!("mongodb+srv://appuser:{PASSWORD}@{HOST}/"),
            "database": "retail-demo",
            "collections": {collection: {"fields": ["_id"]}},
        });
        id_of(&self.app.create_connector(&spec).await)
    }

    pub async fn status(&self, id: Uuid) -> Value {
        let res = self
            .app
            .get(
                &self.app.connector_path(self.app.app_id, id),
                &self.app.owner_key,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    pub async fn epoch(&self, id: Uuid) -> i64 {
        let (epoch,): (i64,) =
            sqlx::query_as("select assignment_epoch from connectors where connector_id = $1")
                .bind(id)
                .fetch_one(&self.app.pool)
                .await
                .unwrap();
        epoch
    }

    pub async fn assigned(&self, id: Uuid) -> Option<Uuid> {
        let (w,): (Option<Uuid>,) =
            sqlx::query_as("select assigned_worker_id from connectors where connector_id = $1")
                .bind(id)
                .fetch_one(&self.app.pool)
                .await
                .unwrap();
        w
    }

    /// Makes a worker's last heartbeat older than the lease TTL.
    pub async fn silence(&self, worker: Uuid) {
        self.app.silence_workers(Some(worker)).await;
    }

    pub async fn operator(&self, method: Method, path: &str) -> reqwest::Response {
        self.app
            .request(method, path, OPERATOR_TOKEN)
            .send()
            .await
            .unwrap()
    }
}

pub async fn step(worker: &mut Worker) -> edgebridge_worker::StepReport {
    let report = worker.step().await.expect("heartbeat");
    worker.settle().await;
    report
}

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
        }],
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

/// The real binaries on loopback: `api`, `scheduler` and two `worker`s (the driver, pointed at
/// a closed local port, so each supervisor reports `cluster_unreachable`: what matters here is
/// who reports). SIGKILL one worker: its connectors are reported by the other within the lease
/// and a tick. SIGTERM the other: it drains and deregisters, releasing them at once.
#[sqlx::test(migrations = false)]
async fn killing_a_worker_process_moves_its_connectors_to_the_other(
    _: sqlx::postgres::PgPoolOptions,
    connect: sqlx::postgres::PgConnectOptions,
) {
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    let url = crate::helpers::database_url(&connect);
    let pool = PgPool::connect_with(connect).await.unwrap();
    edgebridge_api::migrate(&pool).await.unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let binary = |role: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgebridge"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .env("EDGEBRIDGE_LOG_FORMAT", "json")
            .env("EDGEBRIDGE_LEASE_TTL_SECS", "2")
            .env("EDGEBRIDGE_HEARTBEAT_INTERVAL_MS", "300")
            .env("EDGEBRIDGE_WORKER_TOKEN", WORKER_TOKEN)
            .arg(role)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let mut api = binary("api")
        .env("EDGEBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "EDGEBRIDGE_ENCRYPTION_KEYS",
            crate::helpers::key_entry("k1", 1),
        )
        .env("EDGEBRIDGE_JWT_KEYS", crate::helpers::key_entry("j1", 9))
        .env("EDGEBRIDGE_OPERATOR_TOKEN", OPERATOR_TOKEN)
        .env("EDGEBRIDGE_RATE_LIMIT", "0")
        .spawn()
        .unwrap();
    let mut scheduler = binary("scheduler")
        .env("EDGEBRIDGE_SCHEDULER_TICK_MS", "100")
        .spawn()
        .unwrap();
    let worker = |name: &str| -> Child {
        binary("worker")
            .env("EDGEBRIDGE_API_URL", &base)
            .env("EDGEBRIDGE_WORKER_NAME", name)
            .env("EDGEBRIDGE_TARGET_POLICY", "allow-private")
            .env("EDGEBRIDGE_MONGODB_CONNECT_TIMEOUT_SECS", "1")
            .spawn()
            .unwrap()
    };

    let (_, _, key) = edgebridge_api::api_keys::create_organization(&pool, "acme")
        .await
        .unwrap();
    let key = secrecy::ExposeSecret::expose_secret(&key).to_owned();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let app: Value = loop {
        match client
            .post(format!("{base}/v1/apps"))
            .bearer_auth(&key)
            .json(&json!({"name": "retail"}))
            .send()
            .await
        {
            Ok(res) => break res.json().await.unwrap(),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the api did not come up: {e}"),
        }
    };
    let connectors = format!("{base}/v1/apps/{}/connectors", app["id"].as_str().unwrap());
    let mut ids = Vec::new();
    for i in 0..4 {
        let res = client
            .post(&connectors)
            .bearer_auth(&key)
            .json(&json!({
                "name": format!("c{i}"),
                "connectionString": format!("mongodb://appuser:{PASSWORD}@127.0.0.1:1/"),
                "database": "retail-demo",
                // One collection each: an edge collection has one connector per app.
                "collections": {format!("orders-{i}"): {"fields": ["_id"]}},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        ids.push(id_of(&res.json().await.unwrap()));
    }
    let mut wa = worker("wa");
    let mut wb = worker("wb");

    // Who reports each connector at its current epoch (and that it is not `pending`).
    let reporters = || async {
        let mut by = BTreeMap::new();
        for id in &ids {
            let status: Value = client
                .get(format!("{connectors}/{id}"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if status["status"] == "failed" {
                assert_eq!(
                    status["statusDetail"]["code"], "cluster_unreachable",
                    "{status}"
                );
                *by.entry(
                    status["assignedWorker"]["name"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
                .or_insert(0) += 1;
            }
        }
        by
    };
    let wait_for = |want: BTreeMap<String, usize>, what: &'static str| {
        let reporters = &reporters;
        async move {
            let started = Instant::now();
            loop {
                let now = reporters().await;
                if now == want {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "{what}: {now:?} after 30 s"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // Both workers run some: 2 and 2 (the scheduler spreads by free capacity).
    wait_for(
        BTreeMap::from([("wa".to_owned(), 2), ("wb".to_owned(), 2)]),
        "spread over both workers",
    )
    .await;
    wa.kill().unwrap();
    wa.wait().unwrap();
    let moved = wait_for(
        BTreeMap::from([("wb".to_owned(), 4)]),
        "everything on the surviving worker",
    )
    .await;
    // Lease 2 s + a tick + a heartbeat + a failed connect (1 s), with slack for a busy machine.
    assert!(moved < Duration::from_secs(15), "{moved:?}");
    let workers: Value = client
        .get(format!("{base}/v1/admin/workers"))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state_of = |name: &str| {
        workers["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .map(|w| w["state"].clone())
    };
    assert_eq!(state_of("wa"), Some(json!("dead")), "{workers}");
    assert_eq!(state_of("wb"), Some(json!("live")));

    // SIGTERM: the worker drains and deregisters; its connectors are released at once.
    let pid = wb.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let exit = wb.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let (gone,): (String,) = sqlx::query_as("select state from workers where name = 'wb'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(gone, "gone");
    let (assigned,): (i64,) =
        sqlx::query_as("select count(*) from connectors where assigned_worker_id is not null")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(assigned, 0);
    for child in [&mut scheduler, &mut api] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
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
    assert_eq!(status["status"], "failed", "tasks has no images: {status}");
    assert_eq!(status["collectionStatus"]["tasks"]["phase"], "failed");
    assert_eq!(status["collectionStatus"]["orders"]["phase"], "pending");
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

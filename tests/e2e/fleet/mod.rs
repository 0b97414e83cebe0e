//! The fleet end to end, step by step: the real api over HTTP, the scheduler's tick and real
//! workers (`edgebridge_worker::Worker`, driven one `step` at a time) whose supervisors check a
//! simulated MongoDB cluster. No sleeps: a worker's death is its heartbeat aged in SQL, and
//! `settle` waits for supervisors' first reports.

mod assignment;
mod control;
mod events;
mod failover;
mod processes;

use crate::helpers::{PASSWORD, TestApp, id_of};
use edgebridge_api::config::MongoAccess;
use edgebridge_api::mongo::preflight::PreflightOptions;
use edgebridge_api::scheduler::{self, SchedulerConfig};
use edgebridge_mongo_sim::{CollectionOptions, SimUser, Simulator};
use edgebridge_worker::supervisor::SupervisorSettings;
use edgebridge_worker::{Worker, WorkerConfig};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
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

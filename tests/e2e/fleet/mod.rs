//! The fleet end to end, step by step: the real api over HTTP, the scheduler's tick and real
//! workers (`edgebridge_worker::Worker`, driven one `step` at a time) whose supervisors check a
//! simulated MongoDB cluster. No sleeps: a worker's death is its heartbeat aged in SQL, and
//! `settle` waits for supervisors' first reports.
//!
//! The cluster is reached through one of two [`Port`]s: the simulator's in-process port, or the
//! shipped driver adapter (the official `mongodb` driver) against the simulator's wire front.
//! Both serve the same [`Simulator`], so a test's own `fleet.sim` calls (another application's
//! writes, injected faults) act on what either port sees; [`both_ports!`] runs one test body
//! over each.

mod assignment;
mod control;
mod events;
mod failover;
mod processes;

use crate::helpers::{PASSWORD, TestApp, id_of};
use edgebridge_api::config::MongoAccess;
use edgebridge_api::mongo::driver::DriverConnector;
use edgebridge_api::mongo::policy::TargetPolicy;
use edgebridge_api::mongo::port::{ConnectOptions, MongoConnector, StreamStart, WriteOp};
use edgebridge_api::mongo::preflight::PreflightOptions;
use edgebridge_api::scheduler::{self, SchedulerConfig};
use edgebridge_domain::MongoUri;
use edgebridge_mongo_sim::wire::{WireOptions, WireServer};
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

/// How the api and the workers reach the simulated cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// The simulator's in-process port, at `cluster0.example.net` (its simulated DNS).
    InProcess,
    /// The shipped driver adapter over TCP to the simulator's wire front on 127.0.0.1, which
    /// the outbound policy allows only as `AllowPrivate` (as `--dev` sets it).
    Wire,
}

/// Runs one test body over both ports: `async fn name(pool: PgPool, port: Port) { .. }` becomes
/// the module `name` with the tests `in_process` and `on_the_wire` (each a `#[sqlx::test]` on a
/// fresh database), so a filter on the name selects both.
macro_rules! both_ports {
    (
        $(#[$attr:meta])*
        async fn $name:ident($pool:ident: $pool_ty:ty, $port:ident: $port_ty:ty $(,)?) $body:block
    ) => {
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($pool: $pool_ty, $port: $port_ty) $body

            #[sqlx::test(migrations = false)]
            async fn in_process(pool: sqlx::PgPool) {
                body(pool, $crate::fleet::Port::InProcess).await
            }

            #[sqlx::test(migrations = false)]
            async fn on_the_wire(pool: sqlx::PgPool) {
                body(pool, $crate::fleet::Port::Wire).await
            }
        }
    };
}
pub(crate) use both_ports;

pub struct Fleet {
    pub app: TestApp,
    pub sim: Simulator,
    pub scheduler: SchedulerConfig,
    pub port: Port,
    /// The wire front serving `sim` (on [`Port::Wire`]): it closes when the fleet is dropped.
    wire: Option<WireServer>,
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
        Self::on_with(pool, Port::InProcess, configure).await
    }

    /// The fleet reaching the cluster through `port`.
    pub async fn on(pool: PgPool, port: Port) -> Self {
        Self::on_with(pool, port, |_| {}).await
    }

    pub async fn on_with(
        pool: PgPool,
        port: Port,
        configure: impl FnOnce(&mut edgebridge_api::ApiConfig),
    ) -> Self {
        let sim = cluster();
        let wire = match port {
            Port::InProcess => None,
            Port::Wire => Some(
                WireServer::start(sim.clone(), WireOptions::default())
                    .await
                    .expect("the wire front starts"),
            ),
        };
        let mongo = mongo_connector(port, &sim);
        let app = TestApp::spawn_with(pool, move |config| {
            config.mongo = MongoAccess(mongo);
            allow_loopback(port, &mut config.preflight);
            config.fleet.worker_token = Some(SecretString::from(WORKER_TOKEN));
            config.fleet.operator_token = Some(SecretString::from(OPERATOR_TOKEN));
            configure(config);
        })
        .await;
        Fleet {
            app,
            sim,
            scheduler: SchedulerConfig::default(),
            port,
            wire,
        }
    }

    /// A connection string for `user` reaching the cluster through the fleet's port.
    pub fn connection_string(&self, user: &str, password: &str) -> String {
        match &self.wire {
            None => format!("mongodb+srv://{user}:{password}@{HOST}/"),
            Some(server) => server.uri_with_credentials(user, password),
        }
    }

    /// The connection string of `appuser`, the cluster's read-write user.
    pub fn uri(&self) -> String {
        self.connection_string("appuser", PASSWORD)
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
            mongo: mongo_connector(self.port, &self.sim),
            preflight: {
                let mut preflight = PreflightOptions::default();
                allow_loopback(self.port, &mut preflight);
                preflight
            },
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
            "connectionString": self.uri(),
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

    /// Asserts that no injected fault is still waiting, so a test's fault did fire: the
    /// simulator is asked through its in-process port (both ports serve the same state), whose
    /// ping would meet a dropped connection, scan of `products` a dropped scan, stream events a
    /// dropped stream (up to `stream_events` of them), and commit a stepdown. Writes go to
    /// `probe` only, a collection no connector syncs.
    pub async fn assert_faults_spent(&self, stream_events: u32) {
        const DB: &str = "retail-demo";
        let uri = MongoUri::parse(&format!("mongodb+srv://appuser:{PASSWORD}@{HOST}/")).unwrap();
        let port = self
            .sim
            .connector()
            .connect(&uri, &ConnectOptions::default())
            .await
            .unwrap();
        port.ping().await.expect("no dropped connection left");
        port.scan(DB, "products", None, 100_000)
            .await
            .expect("no dropped scan left");
        let mut stream = port.watch(DB, "probe", StreamStart::Now).await.unwrap();
        for n in 0..=stream_events {
            self.sim.insert(DB, "probe", bson::doc! {"n": n}).unwrap();
            let event = stream.next().await.expect("no dropped stream left");
            assert!(event.is_some(), "the probe's insert {n} streams");
        }
        let mut session = port.start_session().await.unwrap();
        let insert = WriteOp::Insert {
            collection: "probe".into(),
            document: bson::doc! {"committed": true},
        };
        session
            .commit(DB, &[insert])
            .await
            .map_err(|e| e.error)
            .expect("no stepdown left");
    }

    pub async fn operator(&self, method: Method, path: &str) -> reqwest::Response {
        self.app
            .request(method, path, OPERATOR_TOKEN)
            .send()
            .await
            .unwrap()
    }
}

/// What the api and the workers connect with: the simulator's own connector, or the shipped
/// driver adapter.
fn mongo_connector(port: Port, sim: &Simulator) -> Arc<dyn MongoConnector> {
    match port {
        Port::InProcess => Arc::new(sim.connector()),
        Port::Wire => Arc::new(DriverConnector),
    }
}

/// On the wire the cluster is at 127.0.0.1: allowed (connection tests and workers alike) as a
/// self-hosted deployment allows it (`--dev`, `EDGEBRIDGE_TARGET_POLICY=allow-private`).
fn allow_loopback(port: Port, preflight: &mut PreflightOptions) {
    if port == Port::Wire {
        preflight.policy = TargetPolicy::AllowPrivate;
        preflight.connect.policy = TargetPolicy::AllowPrivate;
    }
}

pub async fn step(worker: &mut Worker) -> edgebridge_worker::StepReport {
    let report = worker.step().await.expect("heartbeat");
    worker.settle().await;
    report
}

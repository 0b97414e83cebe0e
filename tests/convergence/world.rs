//! One seed's world: its cluster, app, connector and worker, and both sides' documents as
//! the checks compare them.

use crate::cluster::Cluster;
use crate::helpers::TestApp;
use crate::{COLL, DB, WORKER_TOKEN};
use bson::{Bson, Document};
use edgebridge_api::scheduler::{self, SchedulerConfig};
use edgebridge_mongo_sim::Simulator;
use edgebridge_worker::supervisor::SupervisorSettings;
use edgebridge_worker::{Worker, WorkerConfig};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// One seed's world: its cluster, app, connector and current worker.
pub(crate) struct World<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) scheduler: &'a SchedulerConfig,
    pub(crate) sim: Simulator,
    /// How the connector reaches `sim` (in process, or through the wire front).
    pub(crate) cluster: Cluster,
    pub(crate) app_id: Uuid,
    pub(crate) connector: Uuid,
    pub(crate) worker: Option<Worker>,
    pub(crate) workers: u32,
    pub(crate) last_pump: Instant,
}

/// A seed that ends early (failed) takes its worker down with it: its supervisors must not
/// go on writing (through the wire, a later seed's server could get the same port).
impl Drop for World<'_> {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.crash();
        }
    }
}

impl World<'_> {
    pub(crate) fn worker_config(&self, name: String) -> WorkerConfig {
        let mut supervisor = SupervisorSettings {
            health_interval: Duration::from_millis(500),
            failed_pings: 3,
            retry_min: Duration::from_millis(20),
            retry_max: Duration::from_millis(200),
            report_interval: Duration::from_millis(100),
            ..Default::default()
        };
        supervisor.pipeline.scan_batch = 5;
        supervisor.pipeline.idle_pause = Duration::from_millis(5);
        supervisor.pipeline.idle_checkpoint = Duration::from_millis(50);
        supervisor.pipeline.stream_linger = Duration::from_millis(5);
        supervisor.pipeline.feed_wait_secs = 1;
        supervisor.pipeline.write_back_batch = 7;
        WorkerConfig {
            api_url: self.app.address.clone(),
            worker_token: SecretString::from(WORKER_TOKEN),
            name,
            capacity: 10,
            version: "convergence".into(),
            heartbeat_interval: None,
            request_timeout: Duration::from_secs(10),
            mongo: self.cluster.mongo.clone(),
            preflight: self.cluster.preflight.clone(),
            supervisor,
        }
    }

    pub(crate) async fn start_worker(&mut self) -> Result<(), String> {
        self.workers += 1;
        let name = format!(
            "{}-w{}",
            &self.connector.simple().to_string()[..8],
            self.workers
        );
        let worker = Worker::register(self.worker_config(name))
            .await
            .map_err(|e| format!("a worker could not register: {e}"))?;
        self.worker = Some(worker);
        self.pump(true).await
    }

    /// The scheduler's tick and the worker's heartbeat, every 50 ms (or now).
    pub(crate) async fn pump(&mut self, now: bool) -> Result<(), String> {
        if !now && self.last_pump.elapsed() < Duration::from_millis(50) {
            return Ok(());
        }
        self.last_pump = Instant::now();
        // A failed tick or heartbeat is tried again at the next pump, as the scheduler's and the
        // worker's own loops do; it is reported, not fatal.
        if let Err(e) = scheduler::tick(&self.app.pool, self.scheduler).await {
            eprintln!("warning: scheduler tick failed (retried at the next pump): {e}");
        }
        if let Some(worker) = self.worker.as_mut()
            && let Err(e) = worker.step().await
        {
            eprintln!("warning: worker step failed (retried at the next pump): {e}");
        }
        Ok(())
    }

    /// The worker dies without a word; its lease is made to run out (as time would); a new
    /// worker takes the connector at a new epoch.
    pub(crate) async fn kill_worker(&mut self) -> Result<(), String> {
        if let Some(worker) = self.worker.take() {
            let id = worker.id();
            worker.crash();
            if id.is_some() {
                self.app.silence_workers(id).await;
            }
        }
        Ok(())
    }

    pub(crate) async fn crash_worker(&mut self) -> Result<(), String> {
        self.kill_worker().await?;
        self.start_worker().await
    }

    pub(crate) async fn restart_connector(&mut self) -> Result<(), String> {
        let res = self
            .app
            .post(
                &format!(
                    "{}/restart",
                    self.app.connector_path(self.app_id, self.connector)
                ),
                &self.app.owner_key,
                &json!({}),
            )
            .await;
        if res.status() != StatusCode::ACCEPTED {
            return Err(format!("restart answered {}", res.status()));
        }
        self.pump(true).await
    }

    pub(crate) async fn dql(&self, statement: &str, args: Value) -> Result<Value, StatusCode> {
        let res = self
            .app
            .post(
                &format!("/v1/apps/{}/store/execute", self.app_id),
                &self.app.owner_key,
                &json!({"statement": statement, "args": args}),
            )
            .await;
        let status = res.status();
        if status != StatusCode::OK {
            return Err(status);
        }
        res.json().await.map_err(|_| status)
    }

    /// A read of the edge store. A server error is retried twice and reported on stderr
    /// (with the problem document), so one that recurs fails the seed with its detail.
    pub(crate) async fn read(&self, statement: &str, args: Value) -> Result<Value, String> {
        let mut attempt = 0;
        loop {
            let res = self
                .app
                .post(
                    &format!("/v1/apps/{}/store/execute", self.app_id),
                    &self.app.owner_key,
                    &json!({"statement": statement, "args": args}),
                )
                .await;
            let status = res.status();
            if status == StatusCode::OK {
                return res.json().await.map_err(|e| e.to_string());
            }
            let body = res.text().await.unwrap_or_default();
            attempt += 1;
            if !status.is_server_error() || attempt > 2 {
                return Err(format!("edge read answered {status}: {body}"));
            }
            eprintln!("warning: edge read answered {status} (retrying): {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(crate) async fn edge_docs(&self) -> Result<BTreeMap<String, Value>, String> {
        let body = self
            .read(&format!("SELECT * FROM {COLL}"), json!({}))
            .await?;
        Ok(body["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|d| {
                (
                    d["_id"].as_str().unwrap_or_default().to_owned(),
                    normalize(&d),
                )
            })
            .collect())
    }

    pub(crate) async fn edge_doc(&self, id: &str) -> Result<Option<Value>, String> {
        let body = self
            .read(
                &format!("SELECT * FROM {COLL} WHERE _id = :id"),
                json!({"id": id}),
            )
            .await?;
        Ok(body["items"]
            .as_array()
            .and_then(|a| a.first())
            .map(normalize))
    }

    pub(crate) fn mongo_docs(&self) -> BTreeMap<String, Value> {
        self.sim
            .documents(DB, COLL)
            .into_iter()
            .map(|d| {
                let id = d.get_str("_id").unwrap_or_default().to_owned();
                (id, mongo_json(&d))
            })
            .collect()
    }

    pub(crate) fn mongo_doc(&self, id: &str) -> Option<Value> {
        self.sim
            .find(DB, COLL, &Bson::String(id.to_owned()))
            .map(|d| mongo_json(&d))
    }

    /// Writes the connector made: MongoDB changes from its sessions and edge changes in its
    /// name (its writes and its queued documents).
    pub(crate) async fn connector_writes(&self) -> Result<u64, String> {
        let mongo = self.sim.session_writes(DB, COLL);
        let (edge,): (i64,) = sqlx::query_as(
            "select count(*) from store_changes where app_id = $1 and actor like 'connector:%'",
        )
        .bind(self.app_id)
        .fetch_one(&self.app.pool)
        .await
        .map_err(|e| e.to_string())?;
        Ok(mongo + u64::try_from(edge).unwrap_or(0))
    }

    /// Waits until both sides agree, three times in a row; how long that took.
    pub(crate) async fn quiesce(&mut self) -> Result<Duration, String> {
        let limit = self.cluster.quiescence;
        let started = Instant::now();
        let deadline = started + limit;
        let mut agreed = 0;
        loop {
            self.pump(true).await?;
            let (mongo, edge) = (self.mongo_docs(), self.edge_docs().await?);
            if mongo == edge {
                agreed += 1;
                if agreed >= 3 {
                    return Ok(started.elapsed());
                }
            } else {
                agreed = 0;
            }
            if Instant::now() > deadline {
                let status = self.status().await?;
                if std::env::var_os("EDGEBRIDGE_SIM_TRACE").is_some() {
                    let rows: Vec<ChangeRow> = sqlx::query_as(
                        "select doc_key, origin, actor, value from store_changes where app_id = $1 order by change_id",
                    )
                    .bind(self.app_id)
                    .fetch_all(&self.app.pool)
                    .await
                    .map_err(|e| e.to_string())?;
                    for (key, origin, actor, value) in rows {
                        let value = value.map(|v| String::from_utf8_lossy(&v).into_owned());
                        eprintln!("edge change {key} origin={origin:?} actor={actor} {value:?}");
                    }
                    for op in self.sim.operations() {
                        eprintln!("mongo op {op}");
                    }
                }
                return Err(format!(
                    "the sides did not converge in {limit:?}:\n MongoDB {}\n edge    {}\n status {status}",
                    json!(mongo),
                    json!(edge)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn status(&self) -> Result<Value, String> {
        let res = self
            .app
            .get(
                &self.app.connector_path(self.app_id, self.connector),
                &self.app.owner_key,
            )
            .await;
        res.json().await.map_err(|e| e.to_string())
    }
}

/// A document as JSON with every number a float (`3` and `3.0` are one number on the two
/// sides).
fn normalize(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().unwrap_or(f64::NAN)),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn mongo_json(doc: &Document) -> Value {
    normalize(&Bson::Document(doc.clone()).into_relaxed_extjson())
}

/// A row of the edge store's change log: key, origin, actor, value.
type ChangeRow = (String, Option<String>, String, Option<Vec<u8>>);

//! The sync engine's throughput both ways and its lag, on the simulator with the real api and
//! the real Postgres edge store (`cargo bench --bench sync`; DATABASE_URL names the server).
//! One worker runs one connector with one collection; figures are printed one per line as
//! `name: value unit`.
//!
//! * initial sync: `SYNC_DOCS` (default 50,000) documents copied, documents/s;
//! * streaming: `SYNC_EVENTS` (default 20,000) updates written to MongoDB at once, events/s
//!   until the last is in the edge store;
//! * lag: inserts at `SYNC_RATE` (default 2,000)/s for `SYNC_SECS` (default 5) s, from the
//!   MongoDB write to the edge store's commit (`created_at`), p50 and p99;
//! * write-back: `SYNC_WRITES` (default 20,000) new edge documents inserted by devices (batches
//!   of 500 through the DQL API), edge -> MongoDB writes/s until the last is in MongoDB.
//!
//! The whole workload runs once per port, one after the other in this process, each on a fresh
//! simulator, database and api: first with the worker calling the simulator in process (these
//! figures keep their names), then through the driver adapter (the official `mongodb` crate)
//! over TCP to the simulator's wire front at each round-trip time of `SYNC_WIRE_RTT_MS`
//! (default `0,10`; empty for none), printed as `wire_10ms.<name>`. The wire runs copy, stream
//! and write back `SYNC_WIRE_DIVISOR` (default 1: as many; more to shorten a run) times fewer documents; per-document times
//! (`*_per_document`, `*_per_event`, `*_per_write`) compare across the sizes. Each port runs
//! with the per-document trace on, then off (`SYNC_TRACE`, default `on,off`; off runs print
//! `notrace.<name>`): what recording and reporting every document's steps costs. A table puts
//! the runs side by side at the end.

mod common;

use bson::{Bson, doc};
use common::port::{Cluster, Port};
use common::sync_runs::{
    DEVICE_BATCH, Figures, Load, ms, per_unit_us, percentile, print_side_by_side, print_trace_cost,
    trace_settings, wire_round_trips,
};
use common::{Bench, env_or};
use edgebridge_api::config::MongoAccess;
use edgebridge_api::scheduler::{self, SchedulerConfig};
use edgebridge_mongo_sim::{CollectionOptions, SimUser, Simulator};
use edgebridge_worker::supervisor::SupervisorSettings;
use edgebridge_worker::{Worker, WorkerConfig};
use secrecy::SecretString;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TOKEN: &str = "bench-worker-token-0123456789";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Documents the running copy has applied, from its checkpoint (written in the transaction of
/// the edge writes), or `None` before the copy began (its start point is saved before anything
/// is scanned): one row to read, so polling it takes nothing from what is measured.
async fn copied(pool: &sqlx::PgPool) -> Option<i64> {
    let row: Option<(i64,)> =
        sqlx::query_as("select copied from connector_checkpoints where collection = 'items'")
            .fetch_optional(pool)
            .await
            .unwrap();
    row.map(|(n,)| n)
}

/// The edge document `key` as stored (one primary-key lookup).
async fn edge_doc(pool: &sqlx::PgPool, app_id: Uuid, key: &str) -> Option<serde_json::Value> {
    let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
        "select value from store_documents where app_id = $1 and collection = 'items' and doc_key = $2",
    )
    .bind(app_id)
    .bind(key)
    .fetch_optional(pool)
    .await
    .unwrap();
    row.and_then(|(v,)| v)
        .and_then(|v| serde_json::from_slice(&v).ok())
}

async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < limit,
            "{what} did not finish in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

/// One run's world: the api over its database, the simulator, and how figures are named.
struct Run<'a> {
    bench: &'a Bench,
    sim: &'a Simulator,
    app_id: Uuid,
    prefix: String,
}

impl Run<'_> {
    fn print(&self, name: &str, value: impl std::fmt::Display, unit: &str) {
        println!("{}{name}: {value} {unit}", self.prefix);
    }

    /// Creates the connector; the clock runs from its saved start point to the last copied
    /// document (assignment, heartbeat and checks are not the copy's time).
    async fn initial_sync(
        &self,
        cluster: &Cluster,
        load: &Load,
        out: &mut Figures,
    ) -> anyhow::Result<()> {
        let created = Instant::now();
        let res = self
            .bench
            .client
            .post(format!("{}/v1/apps/{}/connectors", self.bench.base, self.app_id))
            .bearer_auth(&self.bench.key)
            .json(&json!({
                "name": "items",
                "connectionString": cluster.connection_string,
                "database": "shop",
                "collections": {"items": {"fields": ["_id"], "initialSync": true, "dqlStrictMode": false}},
            }))
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "create: {}", res.status());
        let pool = &self.bench.pool;
        wait_until("the copy to begin", Duration::from_secs(60), async || {
            copied(pool).await.is_some()
        })
        .await;
        let copy_started = Instant::now();
        let docs = load.docs;
        wait_until("the initial sync", Duration::from_secs(600), async || {
            copied(pool).await.is_some_and(|n| n >= docs)
        })
        .await;
        out.docs = docs;
        out.copy = copy_started.elapsed();
        self.print(
            "initial_sync_setup",
            format!("{:.0}", ms(created.elapsed() - out.copy)),
            "ms",
        );
        self.print("initial_sync_documents", docs, "documents");
        self.print(
            "initial_sync_rate",
            format!("{:.0}", docs as f64 / out.copy.as_secs_f64()),
            "documents/s",
        );
        self.print(
            "initial_sync_per_document",
            format!("{:.1}", per_unit_us(out.copy, docs)),
            "µs",
        );
        Ok(())
    }

    /// A burst of updates written at once; the last one's arrival ends it.
    async fn streaming(&self, load: &Load, out: &mut Figures) -> anyhow::Result<()> {
        let (docs, events) = (load.docs, load.events);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let burst = Instant::now();
        for i in 0..events {
            self.sim.update(
                "shop",
                "items",
                &Bson::Int64(i % docs),
                doc! {"stock": -1_i64 - i},
            )?;
        }
        let written = burst.elapsed();
        let want = -events;
        let last_key = serde_json::to_string(&json!((events - 1) % docs))?;
        let pool = &self.bench.pool;
        wait_until("the streamed burst", Duration::from_secs(600), async || {
            edge_doc(pool, self.app_id, &last_key)
                .await
                .is_some_and(|v| v["stock"] == want)
        })
        .await;
        out.events = events;
        out.stream = burst.elapsed();
        self.print("streaming_events", events, "events");
        self.print("streaming_write_time", format!("{:.0}", ms(written)), "ms");
        self.print(
            "streaming_rate",
            format!("{:.0}", events as f64 / out.stream.as_secs_f64()),
            "events/s",
        );
        self.print(
            "streaming_per_event",
            format!("{:.1}", per_unit_us(out.stream, events)),
            "µs",
        );
        Ok(())
    }

    /// New documents at a steady rate, each stamped when written to MongoDB.
    async fn lag(&self, load: &Load, out: &mut Figures) -> anyhow::Result<()> {
        let first = load.docs + 1_000_000;
        let mut sent: HashMap<i64, i64> = HashMap::new();
        let total = load.rate * load.secs;
        let started = Instant::now();
        for n in 0..total {
            let next_id = first + n as i64;
            let due = started + Duration::from_secs_f64(n as f64 / load.rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            self.sim
                .insert("shop", "items", doc! {"_id": next_id, "sku": "lag"})?;
            sent.insert(next_id, now_ms());
        }
        // The stream applies in order: the last insert's arrival means all arrived.
        let last_key = (first + total as i64 - 1).to_string();
        let pool = &self.bench.pool;
        wait_until(
            "the steady-rate inserts",
            Duration::from_secs(120),
            async || edge_doc(pool, self.app_id, &last_key).await.is_some(),
        )
        .await;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "select doc_key, (extract(epoch from created_at) * 1000)::bigint from store_documents
             where collection = 'items' and value is not null and doc_key::bigint >= $1",
        )
        .bind(first)
        .fetch_all(pool)
        .await?;
        let mut lags: Vec<f64> = rows
            .iter()
            .filter_map(|(k, at)| {
                let id: i64 = k.parse().ok()?;
                Some((at - sent.get(&id)?) as f64)
            })
            .collect();
        lags.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        self.print("lag_rate", load.rate, "events/s");
        self.print("lag_p50", format!("{:.0}", percentile(&lags, 50.0)), "ms");
        self.print("lag_p99", format!("{:.0}", percentile(&lags, 99.0)), "ms");
        self.print(
            "lag_max",
            format!("{:.0}", lags.last().copied().unwrap_or(f64::NAN)),
            "ms",
        );
        out.lags = lags;
        Ok(())
    }

    /// Devices insert documents; each is written to MongoDB in the connector's transactions.
    /// The clock runs from the first insert until MongoDB holds them all.
    async fn write_back(&self, load: &Load, out: &mut Figures) -> anyhow::Result<()> {
        let before = self.sim.count("shop", "items") as i64;
        let placeholders: Vec<String> = (0..DEVICE_BATCH).map(|i| format!("(:d{i})")).collect();
        let statement = format!("INSERT INTO items DOCUMENTS {}", placeholders.join(", "));
        let url = format!("{}/v1/apps/{}/store/execute", self.bench.base, self.app_id);
        let started = Instant::now();
        let mut n = 0i64;
        while n < load.writes {
            let mut args = serde_json::Map::new();
            for j in 0..DEVICE_BATCH {
                args.insert(
                    format!("d{j}"),
                    json!({"_id": format!("dev-{}", n + j), "sku": "device", "qty": j, "tags": ["x"]}),
                );
            }
            let res = self
                .bench
                .client
                .post(&url)
                .bearer_auth(&self.bench.key)
                .json(&json!({"statement": statement, "args": args}))
                .send()
                .await?;
            anyhow::ensure!(res.status().is_success(), "device insert: {}", res.status());
            n += DEVICE_BATCH;
        }
        let inserted = started.elapsed();
        let want = before + n;
        wait_until("the write-back", Duration::from_secs(600), async || {
            self.sim.count("shop", "items") as i64 >= want
        })
        .await;
        out.writes = n;
        out.write_back = started.elapsed();
        self.print("write_back_documents", n, "documents");
        self.print(
            "write_back_insert_time",
            format!("{:.0}", ms(inserted)),
            "ms",
        );
        self.print(
            "write_back_rate",
            format!("{:.0}", n as f64 / out.write_back.as_secs_f64()),
            "writes/s",
        );
        self.print(
            "write_back_per_write",
            format!("{:.1}", per_unit_us(out.write_back, n)),
            "µs",
        );
        Ok(())
    }
}

/// The worker, as the binary configures it (with the bench's knobs).
fn worker_config(bench: &Bench, cluster: &Cluster, trace: bool) -> WorkerConfig {
    let mut supervisor = SupervisorSettings {
        health_interval: Duration::from_secs(3600),
        report_interval: Duration::from_millis(500),
        trace,
        ..Default::default()
    };
    supervisor.pipeline.idle_pause = Duration::from_millis(5);
    supervisor.pipeline.scan_batch = env_or("SYNC_SCAN_BATCH", supervisor.pipeline.scan_batch);
    supervisor.pipeline.stream_batch =
        env_or("SYNC_STREAM_BATCH", supervisor.pipeline.stream_batch);
    supervisor.pipeline.apply_in_flight =
        env_or("SYNC_IN_FLIGHT", supervisor.pipeline.apply_in_flight);
    WorkerConfig {
        api_url: bench.base.clone(),
        worker_token: SecretString::from(TOKEN),
        name: "bench".into(),
        capacity: 1000,
        version: "bench".into(),
        heartbeat_interval: None,
        request_timeout: Duration::from_secs(30),
        mongo: cluster.mongo.clone(),
        preflight: cluster.preflight.clone(),
        supervisor,
    }
}

/// The whole workload through `port`, on a fresh simulator, database and api.
fn run(port: Port, trace: bool, load: &Load) -> anyhow::Result<Figures> {
    println!(
        "# {}, traces {} (documents {}, events {}, device writes {})",
        port.label(),
        if trace { "on" } else { "off" },
        load.docs,
        load.events,
        load.writes
    );
    let sim = Simulator::new(3);
    sim.add_user(SimUser::read_write_admin("app", "pw", "shop"));
    sim.create_collection("shop", "items", CollectionOptions::ready());
    sim.set_oplog_capacity(10_000_000);
    for i in 0..load.docs {
        sim.insert(
            "shop",
            "items",
            doc! {"_id": i, "sku": format!("sku-{i:07}"), "price": (i % 997) as f64 * 1.25,
            "stock": i % 50, "tags": ["a", "b"], "dims": {"w": 10, "h": 20}},
        )?;
    }
    let api_mongo = port.api_connector(&sim);
    let bench = Bench::start_with(|c| {
        c.mongo = MongoAccess(api_mongo);
        c.preflight = port.preflight();
        c.fleet.worker_token = Some(SecretString::from(TOKEN));
        c.store_limits.max_documents_per_app = i64::MAX / 2;
    })?;
    let result = bench.server.block_on(async {
        let cluster = port.attach(&sim, "app", "pw").await?;
        let shutdown = CancellationToken::new();
        tokio::spawn(Worker::run(
            worker_config(&bench, &cluster, trace),
            shutdown.clone(),
        ));
        tokio::spawn(scheduler::run(
            bench.pool.clone(),
            SchedulerConfig {
                tick: Duration::from_millis(100),
                ..Default::default()
            },
            shutdown.clone(),
        ));
        let run = Run {
            bench: &bench,
            sim: &sim,
            app_id: bench.app_id.parse()?,
            prefix: if trace {
                port.prefix()
            } else {
                format!("notrace.{}", port.prefix())
            },
        };
        let mut figures = Figures::default();
        run.initial_sync(&cluster, load, &mut figures).await?;
        run.streaming(load, &mut figures).await?;
        run.lag(load, &mut figures).await?;
        run.write_back(load, &mut figures).await?;
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // The wire front closes once the worker has stopped.
        drop(cluster);
        anyhow::Ok(figures)
    });
    bench.stop();
    result
}

fn main() -> anyhow::Result<()> {
    common::allocator::tune();
    let load = Load::from_env();
    let wire_load = load.divided(env_or("SYNC_WIRE_DIVISOR", 1));
    let mut ports = vec![(Port::InProcess, &load)];
    for round_trip in wire_round_trips()? {
        ports.push((Port::Wire { round_trip }, &wire_load));
    }
    let mut runs = Vec::new();
    for (port, load) in ports {
        for trace in trace_settings()? {
            let label = format!("{}{}", port.label(), if trace { "" } else { " notrace" });
            runs.push((label, run(port, trace, load)?));
        }
    }
    print_side_by_side(&runs);
    print_trace_cost(&runs);
    Ok(())
}

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

mod common;

use bson::{Bson, doc};
use common::{Bench, env_or};
use edgebridge_api::config::MongoAccess;
use edgebridge_api::mongo::preflight::PreflightOptions;
use edgebridge_api::scheduler::{self, SchedulerConfig};
use edgebridge_mongo_sim::{CollectionOptions, SimUser, Simulator};
use edgebridge_worker::supervisor::SupervisorSettings;
use edgebridge_worker::{Worker, WorkerConfig};
use secrecy::SecretString;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() -> anyhow::Result<()> {
    let docs: i64 = env_or("SYNC_DOCS", 50_000);
    let events: i64 = env_or("SYNC_EVENTS", 20_000);
    let rate: u64 = env_or("SYNC_RATE", 2_000);
    let secs: u64 = env_or("SYNC_SECS", 5);
    let writes: i64 = env_or("SYNC_WRITES", 20_000);

    let sim = Simulator::new(3);
    sim.add_host("cluster0.example.net", &["52.10.20.30".parse()?]);
    sim.add_user(SimUser::read_write_admin("app", "pw", "shop"));
    sim.create_collection("shop", "items", CollectionOptions::ready());
    sim.set_oplog_capacity(10_000_000);
    for i in 0..docs {
        sim.insert(
            "shop",
            "items",
            doc! {"_id": i, "sku": format!("sku-{i:07}"), "price": (i % 997) as f64 * 1.25,
            "stock": i % 50, "tags": ["a", "b"], "dims": {"w": 10, "h": 20}},
        )?;
    }
    let connector = sim.connector();
    let bench = Bench::start_with(|c| {
        c.mongo = MongoAccess(Arc::new(connector));
        c.fleet.worker_token = Some(SecretString::from(TOKEN));
        c.store_limits.max_documents_per_app = i64::MAX / 2;
    })?;
    let result = bench.server.block_on(async {
        let mut supervisor = SupervisorSettings {
            health_interval: Duration::from_secs(3600),
            report_interval: Duration::from_millis(500),
            ..Default::default()
        };
        supervisor.pipeline.idle_pause = Duration::from_millis(5);
        supervisor.pipeline.scan_batch = env_or("SYNC_SCAN_BATCH", supervisor.pipeline.scan_batch);
        supervisor.pipeline.stream_batch = env_or("SYNC_STREAM_BATCH", supervisor.pipeline.stream_batch);
        supervisor.pipeline.apply_in_flight = env_or("SYNC_IN_FLIGHT", supervisor.pipeline.apply_in_flight);
        let config = WorkerConfig {
            api_url: bench.base.clone(),
            worker_token: SecretString::from(TOKEN),
            name: "bench".into(),
            capacity: 1000,
            version: "bench".into(),
            heartbeat_interval: None,
            request_timeout: Duration::from_secs(30),
            mongo: Arc::new(sim.connector()),
            preflight: PreflightOptions::default(),
            supervisor,
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(Worker::run(config, shutdown.clone()));
        tokio::spawn(scheduler::run(
            bench.pool.clone(),
            SchedulerConfig {
                tick: Duration::from_millis(100),
                ..Default::default()
            },
            shutdown.clone(),
        ));
        let created = Instant::now();
        let res = bench
            .client
            .post(format!("{}/v1/apps/{}/connectors", bench.base, bench.app_id))
            .bearer_auth(&bench.key)
            .json(&json!({
                "name": "items",
                "connectionString": "mongodb+srv://app:pw@cluster0.example.net/",
                "database": "shop",
                "collections": {"items": {"fields": ["_id"], "initialSync": true, "dqlStrictMode": false}},
            }))
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "create: {}", res.status());
        let pool = bench.pool.clone();
        // The copy's saved start point (before its first scan) marks its start: assignment,
        // heartbeat and checks are not the copy's time.
        wait_until("the copy to begin", Duration::from_secs(60), async || {
            copied(&pool).await.is_some()
        })
        .await;
        let copy_started = Instant::now();
        wait_until("the initial sync", Duration::from_secs(600), async || {
            copied(&pool).await.is_some_and(|n| n >= docs)
        })
        .await;
        let copy = copy_started.elapsed();
        println!("initial_sync_setup: {:.0} ms", (created.elapsed() - copy).as_secs_f64() * 1000.0);
        println!("initial_sync_documents: {docs} documents");
        println!("initial_sync_rate: {:.0} documents/s", docs as f64 / copy.as_secs_f64());

        // Streaming: a burst of updates; the last one's arrival ends it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let burst = Instant::now();
        for i in 0..events {
            sim.update("shop", "items", &Bson::Int64(i % docs), doc! {"stock": -1_i64 - i})?;
        }
        let written = burst.elapsed();
        let want = -events;
        let last_key = serde_json::to_string(&json!((events - 1) % docs))?;
        let app_id: Uuid = bench.app_id.parse()?;
        wait_until("the streamed burst", Duration::from_secs(600), async || {
            edge_doc(&pool, app_id, &last_key)
                .await
                .is_some_and(|v| v["stock"] == want)
        })
        .await;
        let streamed = burst.elapsed();
        println!("streaming_events: {events} events");
        println!("streaming_write_time: {:.0} ms", written.as_secs_f64() * 1000.0);
        println!("streaming_rate: {:.0} events/s", events as f64 / streamed.as_secs_f64());

        // Lag at a steady rate: new documents, each stamped when written to MongoDB.
        let mut sent: HashMap<i64, i64> = HashMap::new();
        let total = rate * secs;
        let started = Instant::now();
        for n in 0..total {
            let next_id = docs + 1_000_000 + n as i64;
            let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            sim.insert("shop", "items", doc! {"_id": next_id, "sku": "lag"})?;
            sent.insert(next_id, now_ms());
        }
        // The stream applies in order: the last insert's arrival means all arrived.
        let last_key = (docs + 1_000_000 + total as i64 - 1).to_string();
        wait_until("the steady-rate inserts", Duration::from_secs(120), async || {
            edge_doc(&pool, app_id, &last_key).await.is_some()
        })
        .await;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "select doc_key, (extract(epoch from created_at) * 1000)::bigint from store_documents
             where collection = 'items' and value is not null and doc_key::bigint >= $1",
        )
        .bind(docs + 1_000_000)
        .fetch_all(&pool)
        .await?;
        let mut lags: Vec<f64> = rows
            .iter()
            .filter_map(|(k, at)| {
                let id: i64 = k.parse().ok()?;
                Some((at - sent.get(&id)?) as f64)
            })
            .collect();
        lags.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        println!("lag_rate: {rate} events/s");
        println!("lag_p50: {:.0} ms", percentile(&lags, 50.0));
        println!("lag_p99: {:.0} ms", percentile(&lags, 99.0));
        println!("lag_max: {:.0} ms", lags.last().copied().unwrap_or(f64::NAN));

        // Write-back: devices insert documents; each is written to MongoDB in the connector's
        // transactions. The clock runs from the first insert until MongoDB holds them all.
        let before = sim.count("shop", "items") as i64;
        let placeholders: Vec<String> = (0..500).map(|i| format!("(:d{i})")).collect();
        let statement = format!("INSERT INTO items DOCUMENTS {}", placeholders.join(", "));
        let url = format!("{}/v1/apps/{}/store/execute", bench.base, bench.app_id);
        let started = Instant::now();
        let mut n = 0i64;
        while n < writes {
            let mut args = serde_json::Map::new();
            for j in 0..500 {
                args.insert(
                    format!("d{j}"),
                    json!({"_id": format!("dev-{}", n + j), "sku": "device", "qty": j, "tags": ["x"]}),
                );
            }
            let res = bench
                .client
                .post(&url)
                .bearer_auth(&bench.key)
                .json(&json!({"statement": statement, "args": args}))
                .send()
                .await?;
            anyhow::ensure!(res.status().is_success(), "device insert: {}", res.status());
            n += 500;
        }
        let inserted = started.elapsed();
        let want = before + n;
        wait_until("the write-back", Duration::from_secs(600), async || {
            sim.count("shop", "items") as i64 >= want
        })
        .await;
        let written_back = started.elapsed();
        println!("write_back_documents: {n} documents");
        println!("write_back_insert_time: {:.0} ms", inserted.as_secs_f64() * 1000.0);
        println!("write_back_rate: {:.0} writes/s", n as f64 / written_back.as_secs_f64());
        shutdown.cancel();
        tokio::time::sleep(Duration::from_millis(500)).await;
        anyhow::Ok(())
    });
    bench.stop();
    result
}

//! Benchmark: `GET /v1/apps/{app}/connectors/{id}` through the full stack (HTTP, API-key auth with
//! its Postgres lookup, the connector read, JSON), against the real Postgres.
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p edgebridge --bench get_connector`
//! Options (env): BENCH_RATE (default 1000 req/s), BENCH_SECS (default 10), BENCH_CONCURRENCY
//! (closed-loop phase, default 16).

mod common;

use common::{Bench, closed_loop, env_or, open_loop, report};
use serde_json::{Value, json};
use std::time::Duration;

fn main() -> anyhow::Result<()> {
    let rate: u64 = env_or("BENCH_RATE", 1000);
    let secs: u64 = env_or("BENCH_SECS", 10);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 16);
    let bench = Bench::start()?;
    let (client, key) = (bench.client.clone(), bench.key.clone());
    let url = bench.client_rt.block_on(async {
        let connector: Value = client
            .post(format!(
                "{}/v1/apps/{}/connectors",
                bench.base, bench.app_id
            ))
            .bearer_auth(&key)
            .json(&json!({
                "name": "retail",
                "connectionString": "mongodb+srv://user:pass@cluster0.example.net/",
                "database": "retail-demo",
                "collections": {
                    "tasks": {"fields": ["_id"], "initialSync": true},
                    "orders": {"fields": ["orderId", "storeId"], "filter": {"deleted": false},
                               "settableCounters": ["quantity"], "dqlStrictMode": false}
                }
            }))
            .send()
            .await?
            .json()
            .await?;
        anyhow::Ok(format!(
            "{}/v1/apps/{}/connectors/{}",
            bench.base,
            bench.app_id,
            connector["id"].as_str().unwrap_or_default()
        ))
    })?;
    let get = move |_| {
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        async move {
            match client.get(&url).bearer_auth(&key).send().await {
                Ok(res) if res.status().is_success() => res.bytes().await.is_ok(),
                _ => false,
            }
        }
    };
    let healthz = {
        let (client, url) = (bench.client.clone(), format!("{}/healthz", bench.base));
        move |_| {
            let (client, url) = (client.clone(), url.clone());
            async move {
                match client.get(&url).send().await {
                    Ok(res) if res.status().is_success() => res.bytes().await.is_ok(),
                    _ => false,
                }
            }
        }
    };
    println!(
        "GET one connector through the full stack (HTTP + API-key auth + Postgres), {secs} s per phase"
    );
    bench.client_rt.block_on(async {
        let _ = closed_loop(4, Duration::from_secs(2), get.clone()).await; // warm-up
        let (lat, err, el) = closed_loop(4, Duration::from_secs(secs), get.clone()).await;
        report("closed loop, 4 in flight", lat, err, el, 1);
        let (lat, err, el) = closed_loop(concurrency, Duration::from_secs(secs), get.clone()).await;
        report(
            &format!("closed loop, {concurrency} in flight"),
            lat,
            err,
            el,
            1,
        );
        let (sched, sent, err, el) = open_loop(rate, Duration::from_secs(secs), get).await;
        report(
            &format!("open loop {rate}/s (scheduled)"),
            sched,
            err,
            el,
            1,
        );
        report(&format!("open loop {rate}/s (sent)"), sent, err, el, 1);
        // The floor: /healthz (HTTP only, no auth, no database) at the same rate.
        let (sched, sent, err, el) = open_loop(rate, Duration::from_secs(secs), healthz).await;
        report(&format!("/healthz {rate}/s (scheduled)"), sched, err, el, 1);
        report(&format!("/healthz {rate}/s (sent)"), sent, err, el, 1);
    });
    bench.stop();
    Ok(())
}

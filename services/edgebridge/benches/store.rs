//! Benchmark: the edge store through HTTP (auth, DQL parse, CRDT merge, Postgres, change feed
//! rows): single-document inserts/s, batched inserts (documents/s), and point reads by `_id`,
//! next to the same point select sent straight to Postgres (the floor a read through HTTP is
//! compared with, measured in the same run).
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p edgebridge --bench store`
//! Options (env): BENCH_SECS (default 10), BENCH_CONCURRENCY (default 32), BENCH_BATCH (documents
//! per batched INSERT, default 500), BENCH_BATCH_CONCURRENCY (batched statements in flight,
//! default 4), BENCH_RATE (point-read open loop, default 1000 req/s).

mod common;

use common::{Bench, closed_loop, env_or, open_loop, report};
use serde_json::{Value, json};
use std::time::Duration;

fn doc(id: String) -> Value {
    json!({"_id": id, "title": "buy milk", "done": false, "priority": 3, "tags": ["home", "errand"],
           "address": {"city": "Oslo", "zip": "0150"}})
}

fn main() -> anyhow::Result<()> {
    let secs: u64 = env_or("BENCH_SECS", 10);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 32);
    let batch: usize = env_or("BENCH_BATCH", 500);
    let batch_concurrency: usize = env_or("BENCH_BATCH_CONCURRENCY", 4);
    let rate: u64 = env_or("BENCH_RATE", 1000);
    let bench = Bench::start()?;
    let pool = bench.pool.clone();
    let url = format!("{}/v1/apps/{}/store/execute", bench.base, bench.app_id);
    let batch_url = url.clone();
    let (client, key) = (bench.client.clone(), bench.key.clone());
    let post = move |body: Value| {
        let (client, url, key) = (client.clone(), url.clone(), key.clone());
        async move {
            match client.post(&url).bearer_auth(&key).json(&body).send().await {
                Ok(res) if res.status().is_success() => res.bytes().await.is_ok(),
                _ => false,
            }
        }
    };
    println!(
        "Edge store through HTTP (auth + DQL + CRDT + Postgres + change feed), {secs} s per phase"
    );
    bench.client_rt.block_on(async {
        let single = {
            let post = post.clone();
            move |i: u64| {
                post(json!({"statement": "INSERT INTO tasks DOCUMENTS (:d)", "args": {"d": doc(format!("t{i}"))}}))
            }
        };
        let _ = closed_loop(concurrency, Duration::from_secs(2), {
            let post = post.clone();
            move |i: u64| post(json!({"statement": "INSERT INTO warm DOCUMENTS (:d)", "args": {"d": doc(format!("w{i}"))}}))
        })
        .await;
        let (lat, err, el) = closed_loop(concurrency, Duration::from_secs(secs), single).await;
        let inserted = lat.len() as u64;
        report(&format!("single inserts, {concurrency} in flight"), lat, err, el, 1);

        let placeholders: Vec<String> = (0..batch).map(|i| format!("(:d{i})")).collect();
        let statement = format!("INSERT INTO batched DOCUMENTS {}", placeholders.join(", "));
        // The batch body is written as text: building 500 JSON values per request in the load
        // generator, on the same two cores as the server, would cost the server CPU.
        let template = serde_json::to_string(&doc("ID".into())).unwrap_or_default();
        let batched = {
            let (client, url, key) = (bench.client.clone(), batch_url.clone(), bench.key.clone());
            move |i: u64| {
                let mut body = String::with_capacity(batch * (template.len() + 16) + statement.len() + 32);
                body.push_str(&format!("{{\"statement\":{},\"args\":{{", serde_json::to_string(&statement).unwrap_or_default()));
                for j in 0..batch {
                    if j > 0 {
                        body.push(',');
                    }
                    body.push_str(&format!("\"d{j}\":"));
                    body.push_str(&template.replacen("\"ID\"", &format!("\"b{i}-{j}\""), 1));
                }
                body.push_str("}}");
                let (client, url, key) = (client.clone(), url.clone(), key.clone());
                async move {
                    match client
                        .post(&url)
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                    {
                        Ok(res) if res.status().is_success() => res.bytes().await.is_ok(),
                        _ => false,
                    }
                }
            }
        };
        let (lat, err, el) = closed_loop(batch_concurrency, Duration::from_secs(secs), batched).await;
        report(
            &format!("batched inserts ({batch}/stmt, {batch_concurrency} in flight), docs"),
            lat,
            err,
            el,
            batch as u64,
        );

        // Let the bulk load's background work (checkpoint, autovacuum) settle before reads.
        let _ = sqlx::query("checkpoint").execute(&pool).await;
        let _ = sqlx::query("vacuum analyze store_documents").execute(&pool).await;
        let read = {
            let post = post.clone();
            move |i: u64| {
                let id = format!("t{}", (i * 7919) % inserted.max(1));
                post(json!({"statement": "SELECT * FROM tasks WHERE _id = :id", "args": {"id": id}}))
            }
        };
        let (lat, err, el) = closed_loop(concurrency, Duration::from_secs(secs), read.clone()).await;
        report(&format!("point reads, {concurrency} in flight"), lat, err, el, 1);
        // The floor under them, measured the same way on the same machine and data: the same
        // point select sent straight to Postgres (prepared, as pgbench -S does), no HTTP.
        let raw = {
            let (pool, app_id) = (pool.clone(), bench.app_id.clone());
            move |i: u64| {
                let (pool, app_id) = (pool.clone(), app_id.clone());
                async move {
                    let key = format!("\"t{}\"", (i * 7919) % inserted.max(1));
                    sqlx::query_as::<_, (String, Option<Vec<u8>>)>(
                        "select doc_key, value from store_documents
                         where app_id = $1::uuid and collection = 'tasks' and doc_key = $2",
                    )
                    .bind(app_id)
                    .bind(key)
                    .fetch_optional(&pool)
                    .await
                    .is_ok_and(|row| row.is_some())
                }
            }
        };
        let (lat, err, el) = closed_loop(concurrency, Duration::from_secs(secs), raw).await;
        report(&format!("raw Postgres point selects, {concurrency} in flight"), lat, err, el, 1);
        let (sched, sent, err, el) = open_loop(rate, Duration::from_secs(secs), read).await;
        report(&format!("point reads {rate}/s (scheduled)"), sched, err, el, 1);
        report(&format!("point reads {rate}/s (sent)"), sent, err, el, 1);
    });
    bench.stop();
    Ok(())
}

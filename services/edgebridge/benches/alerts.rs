//! Alert evaluation over many connectors: one cycle (every running connector's measures against
//! its rules in one statement, then the transitions with their events and webhook messages in
//! the same transaction), against the real Postgres.
//!
//! Run: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p edgebridge --bench alerts`
//! Options (env): `ALERTS_CONNECTORS` (default 10,000), `ALERTS_COLLECTIONS` per connector
//! (default 2), `ALERTS_BREACHING` percent of connectors whose lag breaks the rule (default 10),
//! `ALERTS_CYCLES` steady cycles timed (default 10).
//!
//! Prints `name: value unit` lines: the first cycle (every breaching connector's alert goes
//! pending: a row, an event and a webhook message each), the second (they fire), then steady
//! cycles with nothing to change (p50 and max), and the resolving cycle.

mod common;

use common::{Bench, env_or};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let connectors: i64 = env_or("ALERTS_CONNECTORS", 10_000);
    let collections: i64 = env_or("ALERTS_COLLECTIONS", 2);
    let breaching: i64 = env_or("ALERTS_BREACHING", 10);
    let cycles: usize = env_or("ALERTS_CYCLES", 10);
    let bench = Bench::start_with(|c| c.fleet.alert_interval = Duration::ZERO)?;
    let (client, key) = (bench.client.clone(), bench.key.clone());
    let names: Vec<String> = (0..collections).map(|i| format!("c{i}")).collect();
    let mapping: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| (n.clone(), json!({"fields": ["_id"]})))
        .collect();
    let first: Value = bench.client_rt.block_on(async {
        client
            .post(format!(
                "{}/v1/apps/{}/connectors",
                bench.base, bench.app_id
            ))
            .bearer_auth(&key)
            .json(&json!({
                "name": "template",
                "connectionString": "mongodb+srv://user:pass@cluster0.example.net/",
                "database": "retail-demo",
                "collections": mapping,
            }))
            .send()
            .await?
            .json()
            .await
    })?;
    let template = first["id"].as_str().unwrap_or_default().to_owned();
    let pool = bench.pool.clone();
    let setup = Instant::now();
    bench.server.block_on(async {
        let template: uuid::Uuid = template.parse()?;
        // Copies of the connector, running and reporting, each with its collections' stats
        // and a quarter hour of one-minute metrics.
        sqlx::query(
            "insert into connectors
             select (jsonb_populate_record(null::connectors, to_jsonb(c) || jsonb_build_object(
                 'connector_id', gen_random_uuid(), 'name', 'bench-' || i)::jsonb)).*
             from connectors c, generate_series(1, $2 - 1) i where c.connector_id = $1",
        )
        .bind(template)
        .bind(connectors)
        .execute(&pool)
        .await?;
        sqlx::query(
            "update connectors set desired_state = 'running', status = 'running',
                 reported_at = now(), report_due_at = now() + interval '1 hour',
                 collection_status = (select jsonb_object_agg(n, jsonb_build_object(
                     'phase', 'streaming', 'silentMs', 200)) from unnest($1::text[]) n)",
        )
        .bind(&names)
        .execute(&pool)
        .await?;
        // `breaching` % lag 10 minutes behind; the rest are caught up.
        sqlx::query(
            "insert into connector_collection_stats (connector_id, collection, applied, lag_in_ms,
                 last_event_at, last_synced_at, pending_out, lag_out_ms)
             select c.connector_id, n, 1000,
                    case when abs(hashtext(c.connector_id::text)) % 100 < $2 then 600000 else 0 end,
                    now(), now(), 0, 0
             from connectors c, unnest($1::text[]) n",
        )
        .bind(&names)
        .bind(breaching)
        .execute(&pool)
        .await?;
        sqlx::query(
            "insert into connector_metrics (connector_id, step_secs, bucket, applied, errors)
             select c.connector_id, 60, date_bin('1 minute', now(), timestamptz 'epoch') - make_interval(mins => m), 600, 0
             from connectors c, generate_series(0, 14) m",
        )
        .execute(&pool)
        .await?;
        sqlx::query("analyze").execute(&pool).await?;
        anyhow::Ok(())
    })?;
    println!(
        "# {connectors} connectors x {collections} collections, {breaching}% lagging (set up in {:.1} s)",
        setup.elapsed().as_secs_f64()
    );
    let config = edgebridge_api::config::FleetConfig::default();
    let cycle = || {
        bench.server.block_on(async {
            let started = Instant::now();
            let report =
                edgebridge_api::monitoring::alerts::evaluate::cycle(&pool, &config).await?;
            anyhow::Ok((started.elapsed(), report))
        })
    };
    if std::env::var_os("ALERTS_EXPLAIN").is_some() {
        let sql = edgebridge_api::monitoring::alerts::evaluate::measure_sql(&config);
        let plan: Vec<(String,)> = bench.server.block_on(
            sqlx::query_as(&format!("explain (analyze, buffers) {sql}"))
                .bind(config.lease_ttl.as_secs_f64())
                .fetch_all(&pool),
        )?;
        for (line,) in plan {
            println!("# {line}");
        }
    }
    let (pending, r) = cycle()?;
    println!("# first cycle: {r:?}");
    println!("alerts_cycle_pending_{connectors}: {:.1} ms", ms(pending));
    // The built-in lag rule holds 5 minutes; the bench's connectors have lagged that long.
    bench.server.block_on(
        sqlx::query("update alerts set started_at = started_at - interval '10 minutes'")
            .execute(&pool),
    )?;
    let (fire, r) = cycle()?;
    println!("# second cycle: {r:?}");
    println!("alerts_cycle_firing_{connectors}: {:.1} ms", ms(fire));
    let mut steady = Vec::with_capacity(cycles);
    for _ in 0..cycles {
        let (took, r) = cycle()?;
        anyhow::ensure!(
            r.pending + r.fired + r.resolved == 0,
            "a steady cycle changed {r:?}"
        );
        steady.push(took);
    }
    steady.sort();
    println!(
        "alerts_cycle_steady_{connectors}_p50: {:.1} ms",
        ms(steady[steady.len() / 2])
    );
    println!(
        "alerts_cycle_steady_{connectors}_max: {:.1} ms",
        ms(*steady.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "alerts_cycle_steady_{connectors}_per_connector: {:.1} µs",
        ms(steady[steady.len() / 2]) * 1000.0 / connectors as f64
    );
    bench.server.block_on(
        sqlx::query("update connector_collection_stats set lag_in_ms = 0").execute(&pool),
    )?;
    let (resolve, r) = cycle()?;
    println!("# resolving cycle: {r:?}");
    println!("alerts_cycle_resolving_{connectors}: {:.1} ms", ms(resolve));
    bench.stop();
    Ok(())
}

//! What the per-document trace costs a pipeline per change: the worker's check and step as the
//! change stream calls them (`if active { step(...) }`), with the trace off, on at a sampling
//! budget (the routine case under load: past 200 steps a second a step costs the check only),
//! and on with every step recorded (the ring, taken as a report takes it every 5,000 steps).
//! No I/O: the api's side is one insert of at most 400 rows per report (every 2 s).
//!
//! Run: `cargo bench -p edgebridge --bench trace` (`TRACE_CALLS`, default 2,000,000).

mod common;

use common::env_or;
use edgebridge_domain::fleet::TraceDirection;
use edgebridge_worker::diagnostics::{Diagnostics, TRACE_RING};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

fn run(name: &str, d: &Diagnostics, calls: u64) -> f64 {
    let started = Instant::now();
    for i in 0..calls {
        let id = json!(format!("sku-{}", i % 10_000));
        if d.active() {
            d.step(
                "items",
                &id,
                TraceDirection::MongoToEdge,
                "mongo_change",
                || {
                    json!({
                        "operation": "update",
                        "clusterTime": {"t": 1_764_900_000u32, "i": i},
                        "resumeToken": "8200000000000186A0000000",
                        "edgeWrite": "upsert",
                        "fieldsChanged": ["price"],
                    })
                },
            );
        }
        if i % TRACE_RING as u64 == 0 {
            black_box(d.take_steps(TRACE_RING));
        }
        black_box(&id);
    }
    let ns = started.elapsed().as_nanos() as f64 / calls as f64;
    println!("{name}: {ns:.0} ns");
    ns
}

fn main() {
    let calls: u64 = env_or("TRACE_CALLS", 2_000_000);
    // The change's id is built in every variant (the pipeline has it anyway): the baseline.
    let off = run("trace_off_per_change", &Diagnostics::new(false, 200), calls);
    let sampled = run(
        "trace_sampled_per_change",
        &Diagnostics::new(true, 200),
        calls,
    );
    let all = run(
        "trace_recorded_per_change",
        &Diagnostics::new(true, u32::MAX),
        calls,
    );
    println!("trace_sampled_extra_per_change: {:.0} ns", sampled - off);
    println!("trace_recorded_extra_per_change: {:.0} ns", all - off);
}

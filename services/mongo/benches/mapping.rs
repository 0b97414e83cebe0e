//! BSON -> edge JSON and back, per mode, on a realistic ~1.5 KB order document, next to plain
//! `serde_json` encoding of the same edge document (the baseline ratio).
//!
//! `cargo bench -p edgebridge-mongo --bench mapping` (`BENCH_SECS` per case, default 3).

use std::hint::black_box;
use std::str::FromStr;
use std::time::{Duration, Instant};

use bson::oid::ObjectId;
use bson::{Bson, DateTime, Decimal128, Document, Timestamp, doc};
use edgebridge_domain::spec::SyncMode;
use edgebridge_mongo::mapping::{IdFields, MappingConfig, to_edge, to_mongo};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn order() -> Document {
    let oid = |n: u8| ObjectId::from_bytes([0x64, 0xb7, 0xf0, 0xc2, 1, 2, 3, 4, 5, 6, 7, n]);
    let at = |ms: i64| DateTime::from_millis(1_714_557_600_000 + ms);
    let money = |s: &str| Decimal128::from_str(s).unwrap();
    let items: Vec<Bson> = (0..6)
        .map(|i| {
            Bson::Document(doc! {
                "sku": format!("SKU-{:05}", 1000 + i),
                "name": format!("Organic whole milk 1L, pack of {}", i + 1),
                "qty": i + 1,
                "unitPrice": money("2.49"),
                "discount": 0.05 * f64::from(i),
                "productId": oid(10 + i as u8),
                "tags": ["dairy", "organic", "chilled"],
            })
        })
        .collect();
    doc! {
        "_id": oid(1),
        "orderId": 1_234_567_i64,
        "storeId": "store-0042",
        "customer": {
            "customerId": oid(2),
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "loyaltyTier": "gold",
            "address": {"street": "12 Analytical Engine Way", "city": "London", "postcode": "N1 9GU", "country": "GB"},
        },
        "items": items,
        "subtotal": money("87.15"),
        "tax": money("17.43"),
        "total": money("104.58"),
        "currency": "GBP",
        "status": "fulfilled",
        "paid": true,
        "placedAt": at(0),
        "updatedAt": at(3_600_000),
        "fulfilledAt": at(7_200_000),
        "revision": 7,
        "lastSyncedTs": Timestamp { time: 1_714_557_600, increment: 3 },
        "quantity": 21,
        "notes": "Leave at the back door; ring twice. Customer asked for paper bags, no plastic.",
        "deleted": false,
    }
}

/// Runs `f` for the configured time; answers operations per second.
fn measure(mut f: impl FnMut()) -> f64 {
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(300) {
        f();
    }
    let started = Instant::now();
    let mut n: u64 = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        for _ in 0..256 {
            f();
        }
        n += 256;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let doc = order();
    let bson_bytes = bson::serialize_to_vec(&doc).unwrap().len();
    println!(
        "document: {bson_bytes} bytes of BSON, {} top-level fields",
        doc.len()
    );
    let row = |name: &str, per_sec: f64, bytes: usize, baseline: Option<f64>| {
        let ratio = baseline.map_or(String::new(), |b| format!("{:>8.2}x", b / per_sec));
        println!(
            "{name:<44} {:>12.0} docs/s {:>9.1} MB/s {ratio}",
            per_sec,
            per_sec * bytes as f64 / 1e6
        );
    };
    println!(
        "{:<44} {:>19} {:>14} {:>9}",
        "case", "throughput", "", "vs serde"
    );
    for (mode, label) in [(SyncMode::Json, "native"), (SyncMode::Ejson, "ejson")] {
        let config = MappingConfig {
            id: IdFields::Composite(vec!["orderId".into(), "storeId".into()]),
            mode,
            counters: vec![vec!["quantity".into()]],
        };
        let edge = to_edge(&doc, &config).unwrap();
        let json = serde_json::Value::Object(edge.body.clone());
        let json_bytes = serde_json::to_vec(&json).unwrap().len();
        let serde = measure(|| {
            black_box(serde_json::to_vec(black_box(&json)).unwrap());
        });
        println!("-- {label} mode: edge document {json_bytes} bytes of JSON");
        row(
            &format!("{label}: serde_json::to_vec(edge doc) [baseline]"),
            serde,
            json_bytes,
            None,
        );
        let forward = measure(|| {
            black_box(to_edge(black_box(&doc), &config).unwrap());
        });
        row(
            &format!("{label}: MongoDB -> edge (to_edge)"),
            forward,
            bson_bytes,
            Some(serde),
        );
        let types = edge.types.clone();
        let back = measure(|| {
            black_box(to_mongo(black_box(&edge.body), types.as_ref(), &config).unwrap());
        });
        row(
            &format!("{label}: edge -> MongoDB (to_mongo)"),
            back,
            bson_bytes,
            Some(serde),
        );
    }
    println!(
        "(MB/s counts the BSON size for the mapping rows and the JSON size for the baseline; the ratio is how many times longer than serde_json encoding one mapping takes)"
    );
}
